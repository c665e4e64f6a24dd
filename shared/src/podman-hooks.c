/* SPDX-License-Identifier: Apache-2.0 */
/* OCI hook descriptors, containers.conf's hooks_dir and `podman info`, parsed without I/O. */
#include <ctype.h>
#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shield/podman-hooks.h"

/* ------------------------------------------------------------ descriptors */

int podman_hook_descriptor(const char *hook_path, const char *stage, char **out,
			   struct shield_error *err)
{
	json_t *root = NULL;
	char *text = NULL, *with_nl;
	size_t len;

	if (!hook_path || hook_path[0] != '/')
		return shield_error_set(err, -EINVAL, "the hook path must be absolute");
	if (strcmp(stage, PODMAN_HOOK_STAGE_CREATE) != 0 &&
	    strcmp(stage, PODMAN_HOOK_STAGE_POSTSTOP) != 0)
		return shield_error_set(err, -EINVAL, "unknown hook stage %s", stage);
	root = json_pack("{s:s, s:{s:s, s:[s, s]}, s:{s:{s:s}}, s:[s]}", "version", "1.0.0", "hook",
			 "path", hook_path, "args", "shield-hook", stage, "when", "annotations",
			 "^terok\\.shield\\.profiles$", ".*", "stages", stage);
	if (root)
		text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		return shield_error_set(err, -ENOMEM, "cannot build the hook descriptor");
	len = strlen(text);
	with_nl = realloc(text, len + 2);
	if (!with_nl) {
		free(text);
		return shield_error_set(err, -ENOMEM, "out of memory");
	}
	with_nl[len] = '\n';
	with_nl[len + 1] = '\0';
	*out = with_nl;
	return 0;
}

/* Whether the POSIX extended regular expression pattern finds a match in s. */
static int regex_finds(const char *pattern, const char *s, bool *found, struct shield_error *err)
{
	regex_t re;
	int r = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);

	if (r != 0) {
		char q[SHIELD_QUOTE_MAX];

		return shield_error_set(err, -EINVAL, "pattern %s is not a regular expression",
					shield_quote(pattern, strlen(pattern), q));
	}
	*found = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return 0;
}

static int when_matches(json_t *when, const char *profiles, struct shield_error *err)
{
	json_t *always = json_object_get(when, "always");
	json_t *ann = json_object_get(when, "annotations");
	const char *key;
	json_t *value;

	if (json_is_true(always))
		return 0;
	if (!json_is_object(ann))
		return shield_error_set(err, -EINVAL,
					"its \"when\" has no annotations condition for "
					"terok.shield.profiles");
	json_object_foreach(ann, key, value)
	{
		bool key_hit = false, value_hit = false;

		if (!json_is_string(value))
			return shield_error_set(
				err, -EINVAL,
				"its \"when.annotations\" value for %s is not a string", key);
		if (regex_finds(key, PODMAN_HOOK_ANNOTATION, &key_hit, err) < 0 ||
		    (key_hit &&
		     regex_finds(json_string_value(value), profiles, &value_hit, err) < 0))
			return -EINVAL;
		if (key_hit && value_hit)
			return 0;
	}
	return shield_error_set(err, -EINVAL,
				"its \"when.annotations\" does not match terok.shield.profiles=%s",
				profiles);
}

int podman_hook_descriptor_check(const char *text, size_t len, const char *stage,
				 const char *profiles, char **hook_path, struct shield_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *hook, *path, *stages, *st;
	bool staged = false;
	size_t i;
	int r = -EINVAL;

	if (!root)
		return shield_error_set(err, -EINVAL, "not JSON (line %d: %s)", jerr.line,
					jerr.text);
	hook = json_object_get(root, "hook");
	path = hook ? json_object_get(hook, "path") : NULL;
	stages = json_object_get(root, "stages");
	if (!json_is_object(root) || !json_is_string(json_object_get(root, "version")) ||
	    strcmp(json_string_value(json_object_get(root, "version")), "1.0.0") != 0) {
		shield_error_set(err, -EINVAL, "not an OCI hook descriptor of version 1.0.0");
		goto out;
	}
	if (!json_is_string(path) || json_string_value(path)[0] != '/') {
		shield_error_set(err, -EINVAL, "its hook.path is not an absolute path");
		goto out;
	}
	json_array_foreach(stages, i, st)
	{
		if (json_is_string(st) && strcmp(json_string_value(st), stage) == 0)
			staged = true;
	}
	if (!staged) {
		shield_error_set(err, -EINVAL, "its \"stages\" lacks %s", stage);
		goto out;
	}
	if (!json_is_object(json_object_get(root, "when"))) {
		shield_error_set(err, -EINVAL, "it has no \"when\" object");
		goto out;
	}
	if (when_matches(json_object_get(root, "when"), profiles, err) < 0)
		goto out;
	if (hook_path) {
		*hook_path = strdup(json_string_value(path));
		if (!*hook_path) {
			shield_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

/* -------------------------------------------------------- containers.conf */

/*
 * Just enough TOML to find one key: tables, keys, and every kind of value
 * skipped correctly (strings of all four kinds, arrays, inline tables), so
 * that nothing inside a value is mistaken for a table header.
 */
struct toml {
	const char *s;
	size_t len, pos, line;
	struct shield_error *err;
};

static int toml_fail(struct toml *t, const char *what)
{
	return shield_error_set(t->err, -EINVAL, "line %zu: %s", t->line, what);
}

static int peek(const struct toml *t)
{
	return t->pos < t->len ? (unsigned char)t->s[t->pos] : -1;
}

static bool at(const struct toml *t, const char *lit)
{
	size_t n = strlen(lit);

	return t->len - t->pos >= n && memcmp(t->s + t->pos, lit, n) == 0;
}

static void skip_blanks(struct toml *t)
{
	while (peek(t) == ' ' || peek(t) == '\t')
		t->pos++;
}

static void skip_comment(struct toml *t)
{
	if (peek(t) != '#')
		return;
	while (t->pos < t->len && t->s[t->pos] != '\n')
		t->pos++;
}

/* Blanks, newlines and comments (inside arrays). */
static void skip_space(struct toml *t)
{
	for (;;) {
		skip_blanks(t);
		skip_comment(t);
		if (peek(t) == '\r') {
			t->pos++;
		} else if (peek(t) == '\n') {
			t->pos++;
			t->line++;
		} else {
			return;
		}
	}
}

/* \uXXXX or \UXXXXXXXX (t->pos at the 'u'), appended to buf as UTF-8 (at most 4 bytes). */
static int toml_unicode(struct toml *t, int digits, char *buf, size_t *n)
{
	unsigned long cp = 0;

	t->pos++;
	for (int i = 0; i < digits; i++, t->pos++) {
		int c = peek(t);

		if (c < 0 || !isxdigit(c))
			return toml_fail(t, "bad \\u escape in a string");
		cp = cp * 16 + (unsigned long)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
	}
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return toml_fail(t, "bad \\u escape in a string");
	if (cp < 0x80) {
		buf[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		buf[(*n)++] = (char)(0xc0 | (cp >> 6));
		buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		buf[(*n)++] = (char)(0xe0 | (cp >> 12));
		buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		buf[(*n)++] = (char)(0xf0 | (cp >> 18));
		buf[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		buf[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
	return 0;
}

/* A string of any kind at t->pos; its value appended to out (NULL: skipped). */
static int toml_string(struct toml *t, struct strlist *out)
{
	bool literal = peek(t) == '\'';
	int r;
	bool multi = at(t, literal ? "'''" : "\"\"\"");
	const char *close = literal ? (multi ? "'''" : "'") : (multi ? "\"\"\"" : "\"");
	_cleanup_free_ char *buf = malloc(t->len - t->pos + 1);
	size_t n = 0;

	if (!buf)
		return shield_error_set(t->err, -ENOMEM, "out of memory");
	t->pos += multi ? 3 : 1;
	if (multi && peek(t) == '\n') { /* a newline right after the opening is dropped */
		t->pos++;
		t->line++;
	}
	for (;;) {
		int c = peek(t);

		if (c < 0 || (!multi && c == '\n'))
			return toml_fail(t, "unterminated string");
		if (at(t, close)) {
			t->pos += strlen(close);
			break;
		}
		if (c == '\n')
			t->line++;
		if (c == '\\' && !literal) {
			static const char esc_in[] = "\\\"btnfr", esc_out[] = "\\\"\b\t\n\f\r";
			const char *e;

			t->pos++;
			c = peek(t);
			e = c > 0 ? strchr(esc_in, c) : NULL;
			if (e) {
				buf[n++] = esc_out[e - esc_in];
				t->pos++;
				continue;
			}
			if (c == 'u' || c == 'U') {
				r = toml_unicode(t, c == 'u' ? 4 : 8, buf, &n);
				if (r < 0)
					return r;
				continue;
			}
			if (multi && (c == '\n' || c == ' ' || c == '\t' || c == '\r')) {
				skip_space(t); /* line-ending backslash */
				continue;
			}
			return toml_fail(t, "unsupported escape in a string");
		}
		buf[n++] = (char)c;
		t->pos++;
	}
	buf[n] = '\0';
	if (out && strlist_add(out, buf) < 0)
		return shield_error_set(t->err, -ENOMEM, "out of memory");
	return 0;
}

static int toml_skip_value(struct toml *t, int depth);

/* An array; each element a string appended to out, or skipped when out is NULL. */
static int toml_array(struct toml *t, struct strlist *out, int depth)
{
	t->pos++; /* '[' */
	for (;;) {
		int r;

		skip_space(t);
		if (peek(t) == ']') {
			t->pos++;
			return 0;
		}
		if (out) {
			if (peek(t) != '"' && peek(t) != '\'')
				return toml_fail(t, "hooks_dir must be an array of strings");
			r = toml_string(t, out);
		} else {
			r = toml_skip_value(t, depth + 1);
		}
		if (r < 0)
			return r;
		skip_space(t);
		if (peek(t) == ',')
			t->pos++;
		else if (peek(t) != ']')
			return toml_fail(t, "expected ',' or ']' in an array");
	}
}

static int toml_key(struct toml *t, char *buf, size_t size);

static int toml_skip_value(struct toml *t, int depth)
{
	int c = peek(t);

	if (depth > 32)
		return toml_fail(t, "values nested too deeply");
	if (c == '"' || c == '\'')
		return toml_string(t, NULL);
	if (c == '[')
		return toml_array(t, NULL, depth);
	if (c == '{') {
		char key[256];

		t->pos++;
		for (;;) {
			int r;

			skip_blanks(t);
			if (peek(t) == '}') {
				t->pos++;
				return 0;
			}
			r = toml_key(t, key, sizeof(key));
			if (r < 0)
				return r;
			skip_blanks(t);
			if (peek(t) != '=')
				return toml_fail(t, "expected '=' in an inline table");
			t->pos++;
			skip_blanks(t);
			r = toml_skip_value(t, depth + 1);
			if (r < 0)
				return r;
			skip_blanks(t);
			if (peek(t) == ',')
				t->pos++;
			else if (peek(t) != '}')
				return toml_fail(t, "expected ',' or '}' in an inline table");
		}
	}
	/* A number, boolean or date: up to a separator. */
	if (c < 0 || c == '\n' || c == '#' || c == ',' || c == ']' || c == '}')
		return toml_fail(t, "missing value");
	while ((c = peek(t)) >= 0 && !isspace(c) && c != '#' && c != ',' && c != ']' && c != '}')
		t->pos++;
	return 0;
}

/* A (possibly dotted, possibly quoted) key, written into buf with its parts joined by '.'. */
static int toml_key(struct toml *t, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		int c;

		skip_blanks(t);
		c = peek(t);
		if (c == '"' || c == '\'') {
			_cleanup_strlist_ struct strlist part = STRLIST_INIT;
			size_t pl;
			int r = toml_string(t, &part);

			if (r < 0)
				return r;
			pl = strlen(part.items[0]);
			if (n + pl + 1 >= size)
				return toml_fail(t, "key too long");
			memcpy(buf + n, part.items[0], pl);
			n += pl;
		} else {
			size_t start = t->pos;

			while ((c = peek(t)) >= 0 && (isalnum(c) || c == '_' || c == '-'))
				t->pos++;
			if (t->pos == start)
				return toml_fail(t, "expected a key");
			if (n + (t->pos - start) + 1 >= size)
				return toml_fail(t, "key too long");
			memcpy(buf + n, t->s + start, t->pos - start);
			n += t->pos - start;
		}
		skip_blanks(t);
		if (peek(t) != '.')
			break;
		t->pos++;
		buf[n++] = '.';
	}
	buf[n] = '\0';
	return 0;
}

/* After a header or a key = value: blanks, a comment, then the end of the line. */
static int toml_line_end(struct toml *t)
{
	skip_blanks(t);
	skip_comment(t);
	if (peek(t) == '\r')
		t->pos++;
	if (peek(t) < 0)
		return 0;
	if (peek(t) != '\n')
		return toml_fail(t, "unexpected text after a value");
	t->pos++;
	t->line++;
	return 0;
}

int podman_conf_hooks_dir(const char *text, size_t len, struct strlist *out,
			  struct shield_error *err)
{
	struct toml t = {.s = text, .len = len, .line = 1, .err = err};
	_cleanup_strlist_ struct strlist found = STRLIST_INIT;
	char table[256] = "", key[512];
	bool set = false, in_array = false;
	int r;

	while (t.pos < t.len) {
		skip_space(&t);
		if (t.pos >= t.len)
			break;
		if (peek(&t) == '[') {
			bool array = at(&t, "[[");

			t.pos += array ? 2 : 1;
			in_array = array;
			r = toml_key(&t, table, sizeof(table));
			if (r < 0)
				return r;
			if (!at(&t, array ? "]]" : "]"))
				return toml_fail(&t, "expected ']' after a table name");
			t.pos += array ? 2 : 1;
		} else {
			r = toml_key(&t, key, sizeof(key));
			if (r < 0)
				return r;
			skip_blanks(&t);
			if (peek(&t) != '=')
				return toml_fail(&t, "expected '=' after a key");
			t.pos++;
			skip_blanks(&t);
			if ((!in_array && strcmp(table, "engine") == 0 &&
			     strcmp(key, "hooks_dir") == 0) ||
			    (table[0] == '\0' && strcmp(key, "engine.hooks_dir") == 0)) {
				strlist_free(&found);
				if (peek(&t) == '[')
					r = toml_array(&t, &found, 0);
				else if (peek(&t) == '"' || peek(&t) == '\'')
					r = toml_string(&t, &found);
				else
					r = toml_fail(&t, "hooks_dir must be an array of strings");
				set = true;
			} else {
				r = toml_skip_value(&t, 0);
			}
			if (r < 0)
				return r;
		}
		r = toml_line_end(&t);
		if (r < 0)
			return r;
	}
	if (!set)
		return 0;
	strlist_free(out);
	*out = found;
	found = (struct strlist)STRLIST_INIT;
	return 1;
}

/* ------------------------------------------------------------ podman info */

static void copy_string(json_t *v, char *out, size_t size)
{
	snprintf(out, size, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* json_object_get along a path of keys ("host", "security", "rootless", NULL). */
static json_t *get_path(json_t *root, ...)
{
	va_list ap;
	const char *k;

	va_start(ap, root);
	while (root && (k = va_arg(ap, const char *)))
		root = json_is_object(root) ? json_object_get(root, k) : NULL;
	va_end(ap);
	return root;
}

unsigned podman_version_major(const char *text)
{
	const char *p = text;
	unsigned long v;
	char *end;

	if (!p)
		return 0;
	while (*p && !isdigit((unsigned char)*p))
		p++;
	if (!*p)
		return 0;
	v = strtoul(p, &end, 10);
	if (end == p || *end != '.' || v > 1000)
		return 0;
	return (unsigned)v;
}

int podman_info_parse(const char *text, size_t len, struct podman_info *out,
		      struct shield_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr);
	json_t *slirp, *pasta;

	memset(out, 0, sizeof(*out));
	if (!root)
		return shield_error_set(err, -EINVAL, "podman info: not JSON (line %d: %s)",
					jerr.line, jerr.text);
	if (!json_is_object(root) || !json_is_object(json_object_get(root, "version"))) {
		json_decref(root);
		return shield_error_set(err, -EINVAL, "podman info: no \"version\" object");
	}
	copy_string(get_path(root, "version", "Version", NULL), out->version, sizeof(out->version));
	out->major = podman_version_major(out->version);
	copy_string(get_path(root, "host", "ociRuntime", "name", NULL), out->runtime,
		    sizeof(out->runtime));
	copy_string(get_path(root, "host", "networkBackend", NULL), out->network_backend,
		    sizeof(out->network_backend));
	copy_string(get_path(root, "host", "rootlessNetworkCmd", NULL), out->rootless_network,
		    sizeof(out->rootless_network));
	out->rootless = json_is_true(get_path(root, "host", "security", "rootless", NULL));
	slirp = get_path(root, "host", "slirp4netns", "executable", NULL);
	pasta = get_path(root, "host", "pasta", "executable", NULL);
	out->has_slirp4netns = json_is_string(slirp) && json_string_value(slirp)[0];
	out->has_pasta = json_is_string(pasta) && json_string_value(pasta)[0];
	if (!out->rootless_network[0])
		snprintf(out->rootless_network, sizeof(out->rootless_network), "%s",
			 out->major && out->major < 5 && out->has_slirp4netns ? "slirp4netns"
									      : "pasta");
	json_decref(root);
	return 0;
}
