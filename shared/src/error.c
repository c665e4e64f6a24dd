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
	size_t pl, ol;
	va_list ap;

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* Explicit lengths: the joined text is cut to fit, never overflows. */
	pl = strlen(prefix);
	ol = strlen(old);
	if (ol > sizeof(err->msg) - 1 - pl)
		ol = sizeof(err->msg) - 1 - pl;
	memcpy(err->msg, prefix, pl);
	memcpy(err->msg + pl, old, ol);
	err->msg[pl + ol] = '\0';
	return err->code ? err->code : -EINVAL;
}

void shield_error_clear(struct shield_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
