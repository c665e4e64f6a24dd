/* SPDX-License-Identifier: Apache-2.0 */
/* Caller-owned error details: what the user must read travels here, the
 * return value carries the -errno. Library code never logs above debug. */
#pragma once

#include "macro.h"

#define SHIELD_ERROR_MSG_MAX 1024

struct shield_error {
	int code;                       /* negative errno, 0 when unset */
	char msg[SHIELD_ERROR_MSG_MAX]; /* one line, no trailing newline */
};

/* Record an error (if err is non-NULL) and return code as a negative errno. */
int shield_error_set(struct shield_error *err, int code, const char *fmt, ...) _printf_(3, 4);

/* Prefix an already recorded message with more context ("file x: " + msg). */
int shield_error_prefix(struct shield_error *err, const char *fmt, ...) _printf_(2, 3);

/* Reset err to "no error". */
void shield_error_clear(struct shield_error *err);
