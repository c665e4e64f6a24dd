/* SPDX-License-Identifier: Apache-2.0 */
/* Caller-owned error details: what the user must read travels here, the
 * return value carries the -errno. Library code never logs above debug. */
#pragma once

#include <stddef.h>

#include "macro.h"

#define SHIELD_ERROR_MSG_MAX 1024

struct shield_error {
	int code;			/* negative errno, 0 when unset */
	char msg[SHIELD_ERROR_MSG_MAX]; /* one line, no trailing newline */
};

/* Record an error (if err is non-NULL) and return code as a negative errno. */
int shield_error_set(struct shield_error *err, int code, const char *fmt, ...) _printf_(3, 4);

/* Prefix an already recorded message with more context ("file x: " + msg). */
int shield_error_prefix(struct shield_error *err, const char *fmt, ...) _printf_(2, 3);

/* Reset err to "no error". */
void shield_error_clear(struct shield_error *err);

/* Untrusted input quoted into a message: at most this many input bytes shown. */
#define SHIELD_QUOTE_INPUT_MAX 128
/* Output room: two quotes, each byte as "\xNN", "...", NUL. */
#define SHIELD_QUOTE_MAX (2 + SHIELD_QUOTE_INPUT_MAX * 4 + 3 + 1)

/*
 * Quote untrusted bytes for an error message: wrapped in double quotes, with
 * '"' and '\\' escaped, \n \r \t \0 as C escapes and every other byte outside
 * printable ASCII as \xNN; input longer than SHIELD_QUOTE_INPUT_MAX bytes is
 * cut and "..." appended. The result is one line of printable ASCII. Returns out.
 */
const char *shield_quote(const char *in, size_t len, char out[SHIELD_QUOTE_MAX]);

/* Quote one byte the same way, in single quotes: '/', '\n', '\x00'. Returns out. */
const char *shield_quote_char(unsigned char c, char out[8]);

/* Description of an errno value (either sign), thread-safe: "Permission denied". */
const char *shield_strerror(int code);
