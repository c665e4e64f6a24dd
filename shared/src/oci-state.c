/* SPDX-License-Identifier: Apache-2.0 */
/* OCI state parsing for shield-hook (see oci-state.h). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shield/oci-state.h"

static const char *const stage_names[] = {
	[OCI_STAGE_CREATE_RUNTIME] = "createRuntime",
	[OCI_STAGE_POSTSTOP] = "poststop",
};

int oci_stage_parse(const char *s, enum oci_stage *out, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(stage_names); i++) {
		if (strcmp(s, stage_names[i]) == 0) {
			*out = (enum oci_stage)i;
			return 0;
		}
	}
	return shield_error_set(err, -EINVAL,
				"unsupported hook stage %s (shield-hook runs at createRuntime "
				"and poststop)",
				shield_quote(s, strlen(s), q));
}

const char *oci_stage_name(enum oci_stage stage)
{
	return stage_names[stage];
}

bool oci_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > OCI_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

void oci_state_free(struct oci_state *s)
{
	free(s->id);
	free(s->status);
	free(s->state_dir);
	free(s->name);
	free(s->version);
	free(s->profiles);
	memset(s, 0, sizeof(*s));
}

/* Copy an annotation's string value (absent: NULL); a non-string is an error. */
static int annotation(json_t *annotations, const char *key, char **out, struct shield_error *err)
{
	json_t *v = annotations ? json_object_get(annotations, key) : NULL;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return shield_error_set(err, -EINVAL, "OCI state: annotation %s is not a string",
					key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : shield_error_set(err, -ENOMEM, "out of memory");
}

static int parse_object(json_t *root, bool need_pid, struct oci_state *out,
			struct shield_error *err)
{
	json_t *id = json_object_get(root, "id"), *pid = json_object_get(root, "pid");
	json_t *status = json_object_get(root, "status");
	json_t *annotations = json_object_get(root, "annotations");
	char q[SHIELD_QUOTE_MAX];
	const char *key;
	json_t *value;
	int r;

	if (!id || !json_is_string(id))
		return shield_error_set(err, -EINVAL,
					"OCI state: \"id\" is missing or not a string");
	/* jansson refuses "\u0000" without JSON_ALLOW_NUL, so strings are C strings. */
	if (!oci_id_valid(json_string_value(id)))
		return shield_error_set(
			err, -EINVAL, "OCI state: container id %s is not a valid id",
			shield_quote(json_string_value(id), json_string_length(id), q));
	out->id = strdup(json_string_value(id));
	if (!out->id)
		return shield_error_set(err, -ENOMEM, "out of memory");

	if (pid && !json_is_null(pid)) {
		json_int_t v;

		if (!json_is_integer(pid))
			return shield_error_set(err, -EINVAL,
						"OCI state: \"pid\" is not an integer");
		v = json_integer_value(pid);
		if (v < 0 || v > INT_MAX)
			return shield_error_set(err, -EINVAL, "OCI state: pid %lld is out of range",
						(long long)v);
		out->pid = (pid_t)v;
	}
	if (need_pid && out->pid <= 0)
		return shield_error_set(err, -EINVAL,
					"OCI state: no container pid (\"pid\" missing or 0)");

	if (status && json_is_string(status)) {
		out->status = strdup(json_string_value(status));
		if (!out->status)
			return shield_error_set(err, -ENOMEM, "out of memory");
	}

	if (annotations && !json_is_null(annotations)) {
		if (!json_is_object(annotations))
			return shield_error_set(err, -EINVAL,
						"OCI state: \"annotations\" is not an object");
		json_object_foreach(annotations, key, value)
		{
			if (!json_is_string(value))
				return shield_error_set(err, -EINVAL,
							"OCI state: annotation %s is not a string",
							shield_quote(key, strlen(key), q));
		}
	} else {
		annotations = NULL;
	}
	r = annotation(annotations, ANNOTATION_STATE_DIR, &out->state_dir, err);
	if (r >= 0)
		r = annotation(annotations, ANNOTATION_NAME, &out->name, err);
	if (r >= 0)
		r = annotation(annotations, ANNOTATION_VERSION, &out->version, err);
	if (r >= 0)
		r = annotation(annotations, ANNOTATION_PROFILES, &out->profiles, err);
	return r;
}

int oci_state_parse(const char *buf, size_t len, bool need_pid, struct oci_state *out,
		    struct shield_error *err)
{
	json_error_t jerr;
	json_t *root;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > OCI_STATE_MAX)
		return shield_error_set(err, -E2BIG, "OCI state: more than %d bytes",
					OCI_STATE_MAX);
	if (len == 0)
		return shield_error_set(err, -EINVAL,
					"OCI state: empty input (expected JSON on stdin)");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char q[SHIELD_QUOTE_MAX];

		return shield_error_set(err, -EINVAL, "OCI state: not valid JSON: %s at line %d",
					shield_quote(jerr.text, strlen(jerr.text), q), jerr.line);
	}
	if (!json_is_object(root))
		r = shield_error_set(err, -EINVAL, "OCI state: not a JSON object");
	else
		r = parse_object(root, need_pid, out, err);
	json_decref(root);
	if (r < 0)
		oci_state_free(out);
	return r;
}
