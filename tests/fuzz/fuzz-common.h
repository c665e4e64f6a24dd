/* SPDX-License-Identifier: Apache-2.0 */
/* Invariant checks shared by the fuzz targets; a violation aborts. */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shield/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Error details are one NUL-terminated line of printable ASCII, whatever the input was. */
static inline void fuzz_check_error(int r, const struct shield_error *err)
{
	size_t n;

	if (r >= 0 || err->code != r)
		abort();
	n = strnlen(err->msg, sizeof(err->msg));
	if (n == 0 || n == sizeof(err->msg))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)err->msg[i] < 0x20 || (unsigned char)err->msg[i] >= 0x7f)
			abort();
}
