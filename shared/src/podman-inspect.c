/* SPDX-License-Identifier: Apache-2.0 */
/* podman inspect output (see podman-inspect.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shield/podman-inspect.h"

#define ANNOTATION_PREFIX "terok.shield."

void podman_container_free(struct podman_container *c)
{
	free(c->state_dir);
	free(c->profiles);
	memset(c, 0, sizeof(*c));
}

static int copy_annotation(json_t *annotations, const char *key, char **out,
			   struct shield_error *err)
{
	json_t *v = json_object_get(annotations, key);

	if (!v)
		return 0;
	*out = strdup(json_string_value(v));
	return *out ? 0 : shield_error_set(err, -ENOMEM, "out of memory");
}

static int parse_annotations(json_t *config, struct podman_container *out, struct shield_error *err)
{
	json_t *annotations = config ? json_object_get(config, "Annotations") : NULL;
	char q[SHIELD_QUOTE_MAX];
	const char *key;
	json_t *value;
	int r;

	if (config && !json_is_object(config) && !json_is_null(config))
		return shield_error_set(err, -EINVAL,
					"podman inspect: \"Config\" is not an object");
	if (!annotations || json_is_null(annotations))
		return 0;
	if (!json_is_object(annotations))
		return shield_error_set(err, -EINVAL,
					"podman inspect: \"Config.Annotations\" is not an object");
	json_object_foreach(annotations, key, value)
	{
		if (strncmp(key, ANNOTATION_PREFIX, strlen(ANNOTATION_PREFIX)) != 0)
			continue;
		if (!json_is_string(value))
			return shield_error_set(err, -EINVAL,
						"podman inspect: annotation %s is not a string",
						shield_quote(key, strlen(key), q));
		out->shielded = true;
	}
	r = copy_annotation(annotations, ANNOTATION_STATE_DIR, &out->state_dir, err);
	if (r >= 0)
		r = copy_annotation(annotations, ANNOTATION_PROFILES, &out->profiles, err);
	return r;
}

static int parse_state(json_t *state, struct podman_container *out, struct shield_error *err)
{
	json_t *running, *pid;

	if (!state || json_is_null(state))
		return 0;
	if (!json_is_object(state))
		return shield_error_set(err, -EINVAL, "podman inspect: \"State\" is not an object");
	running = json_object_get(state, "Running");
	pid = json_object_get(state, "Pid");
	if (running && !json_is_boolean(running))
		return shield_error_set(err, -EINVAL,
					"podman inspect: \"State.Running\" is not a boolean");
	if (pid && !json_is_integer(pid))
		return shield_error_set(err, -EINVAL,
					"podman inspect: \"State.Pid\" is not an integer");
	if (pid && (json_integer_value(pid) < 0 || json_integer_value(pid) > INT_MAX))
		return shield_error_set(err, -EINVAL,
					"podman inspect: State.Pid %lld is out of range",
					(long long)json_integer_value(pid));
	out->running = running && json_is_true(running);
	out->pid = pid ? (pid_t)json_integer_value(pid) : 0;
	/* A running container has an init; without one nothing can be entered. */
	if (out->running && out->pid <= 0)
		return shield_error_set(err, -EINVAL,
					"podman inspect: the container runs but has no State.Pid");
	if (!out->running)
		out->pid = 0;
	return 0;
}

static int parse_container(json_t *c, struct podman_container *out, struct shield_error *err)
{
	json_t *id = json_object_get(c, "Id"), *name = json_object_get(c, "Name");
	char q[SHIELD_QUOTE_MAX];
	int r;

	if (!id || !json_is_string(id))
		return shield_error_set(err, -EINVAL,
					"podman inspect: \"Id\" is missing or not a string");
	if (!oci_id_valid(json_string_value(id)))
		return shield_error_set(
			err, -EINVAL, "podman inspect: container id %s is not a valid id",
			shield_quote(json_string_value(id), json_string_length(id), q));
	snprintf(out->id, sizeof(out->id), "%s", json_string_value(id));
	if (name && !json_is_null(name)) {
		if (!json_is_string(name))
			return shield_error_set(err, -EINVAL,
						"podman inspect: \"Name\" is not a string");
		if (json_string_length(name) >= sizeof(out->name))
			return shield_error_set(
				err, -EINVAL, "podman inspect: container name %s is too long",
				shield_quote(json_string_value(name), json_string_length(name), q));
		snprintf(out->name, sizeof(out->name), "%s", json_string_value(name));
	}
	r = parse_state(json_object_get(c, "State"), out, err);
	if (r >= 0)
		r = parse_annotations(json_object_get(c, "Config"), out, err);
	return r;
}

int podman_inspect_parse(const char *buf, size_t len, struct podman_container *out,
			 struct shield_error *err)
{
	json_error_t jerr;
	json_t *root;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > PODMAN_INSPECT_MAX)
		return shield_error_set(err, -E2BIG, "podman inspect: more than %d bytes of output",
					PODMAN_INSPECT_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char q[SHIELD_QUOTE_MAX];

		return shield_error_set(err, -EINVAL,
					"podman inspect: not valid JSON: %s at line %d",
					shield_quote(jerr.text, strlen(jerr.text), q), jerr.line);
	}
	if (!json_is_array(root))
		r = shield_error_set(err, -EINVAL, "podman inspect: not a JSON array");
	else if (json_array_size(root) == 0)
		r = shield_error_set(err, -ENOENT, "podman knows no such container");
	else if (json_array_size(root) > 1)
		r = shield_error_set(err, -EINVAL, "podman inspect: more than one container");
	else if (!json_is_object(json_array_get(root, 0)))
		r = shield_error_set(err, -EINVAL, "podman inspect: not an array of objects");
	else
		r = parse_container(json_array_get(root, 0), out, err);
	json_decref(root);
	if (r < 0)
		podman_container_free(out);
	return r;
}
