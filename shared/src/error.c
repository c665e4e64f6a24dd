/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <string.h>

#include "shield/error.h"

int shield_error_set(struct shield_error *err, int code, const char *fmt, ...)
{
	if (code > 0)
		code = -code;
	if (code == 0)
		code = -EINVAL;
	if (err) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int shield_error_prefix(struct shield_error *err, const char *fmt, ...)
{
	char prefix[SHIELD_ERROR_MSG_MAX];
	char old[SHIELD_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old);
	return err->code ? err->code : -EINVAL;
}

void shield_error_clear(struct shield_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
