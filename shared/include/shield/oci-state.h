/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI state an OCI runtime hands a hook on stdin, and shield's
 * annotations in it (DESIGN.md "On-host contract"). The parser is pure: a
 * byte buffer in, a struct out, so it is unit-tested and fuzzed.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define OCI_STATE_MAX (1024 * 1024) /* bytes of OCI state accepted on stdin */
#define OCI_ID_MAX    128	    /* characters of a container id */

#define ANNOTATION_PROFILES	  "terok.shield.profiles"
#define ANNOTATION_STATE_DIR	  "terok.shield.state_dir"
#define ANNOTATION_NAME		  "terok.shield.name"
#define ANNOTATION_VERSION	  "terok.shield.version"
#define ANNOTATION_LOOPBACK_PORTS "terok.shield.loopback_ports"
#define ANNOTATION_UPSTREAM_DNS	  "terok.shield.upstream_dns"
#define ANNOTATION_DNS_TIER	  "terok.shield.dns_tier"

/* The OCI hook stages shield-hook runs at. */
enum oci_stage {
	OCI_STAGE_CREATE_RUNTIME,
	OCI_STAGE_POSTSTOP,
};

/* Parse a stage argument ("createRuntime", "poststop"); anything else is -EINVAL naming it. */
int oci_stage_parse(const char *s, enum oci_stage *out, struct shield_error *err);
/* The stage's name as the OCI spec spells it. */
const char *oci_stage_name(enum oci_stage stage);

/* What shield reads from the OCI state. Strings are malloc'd; absent ones NULL. */
struct oci_state {
	char *id;	 /* container id: [A-Za-z0-9][A-Za-z0-9_.-]*, at most OCI_ID_MAX */
	pid_t pid;	 /* the container's init; 0 when absent (allowed only if !need_pid) */
	char *status;	 /* "creating", "stopped", ... (informational) */
	char *state_dir; /* terok.shield.state_dir */
	char *name;	 /* terok.shield.name */
	char *version;	 /* terok.shield.version */
	char *profiles;	 /* terok.shield.profiles */
};

/*
 * Parse OCI state JSON: an object with a string "id", an integer "pid"
 * (required and > 0 when need_pid) and an optional "annotations" object of
 * strings. More than OCI_STATE_MAX bytes, duplicate keys, a NUL byte or any
 * other shape is -EINVAL (-E2BIG for size) with err saying what was wrong.
 * On failure out is left empty.
 */
int oci_state_parse(const char *buf, size_t len, bool need_pid, struct oci_state *out,
		    struct shield_error *err);
void oci_state_free(struct oci_state *s);

/* Whether id is a usable container id (see struct oci_state). */
bool oci_id_valid(const char *id);
