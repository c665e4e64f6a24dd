/* SPDX-License-Identifier: Apache-2.0 */
/* Quoting untrusted bytes into error messages: one printable line, bounded. */
#include <string.h>

#include "shield/error.h"

/* Escape one byte into out (room for 5 bytes incl. NUL); returns its length. */
static size_t escape_byte(unsigned char c, char quote, char out[5])
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '\n':
		memcpy(out, "\\n", 3);
		return 2;
	case '\r':
		memcpy(out, "\\r", 3);
		return 2;
	case '\t':
		memcpy(out, "\\t", 3);
		return 2;
	case '\0':
		memcpy(out, "\\0", 3);
		return 2;
	case '\\':
		memcpy(out, "\\\\", 3);
		return 2;
	default:
		break;
	}
	if (c == (unsigned char)quote) {
		out[0] = '\\';
		out[1] = quote;
		out[2] = '\0';
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		out[1] = '\0';
		return 1;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 0xf];
	out[4] = '\0';
	return 4;
}

const char *shield_quote(const char *in, size_t len, char out[SHIELD_QUOTE_MAX])
{
	size_t shown = len > SHIELD_QUOTE_INPUT_MAX ? SHIELD_QUOTE_INPUT_MAX : len;
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; i < shown; i++) {
		char esc[5];
		size_t n = escape_byte((unsigned char)in[i], '"', esc);

		memcpy(out + o, esc, n);
		o += n;
	}
	out[o++] = '"';
	if (shown < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

const char *shield_quote_char(unsigned char c, char out[8])
{
	char esc[5];
	size_t n = escape_byte(c, '\'', esc);

	out[0] = '\'';
	memcpy(out + 1, esc, n);
	out[1 + n] = '\'';
	out[2 + n] = '\0';
	return out;
}

const char *shield_strerror(int code)
{
	const char *s = strerrordesc_np(code < 0 ? -code : code);

	return s ? s : "Unknown error";
}
