/*
 * validate.h - checks of everything that comes off the wire.
 *
 * Shared by berthd (which must never trust a request) and the CLI (which
 * can refuse bad input before a round trip). Each check returns 0 when the
 * value is acceptable; otherwise -1 with err (error.h) holding
 * INVALID_ARGUMENT, a sentence, the offending field's dotted path and a
 * stable reason (ErrorDetail.reason).
 */
#ifndef BERTH_VALIDATE_H
#define BERTH_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/v1/berth.pb-c.h"
#include "error.h"

#define NAME_MAX_LEN 63       /* template and instance names (DNS label size) */
#define PATH_MAX_LEN 1024     /* mount paths, build contexts */
#define IMAGE_MAX_LEN 255     /* Docker's own limit for a reference */
#define TEXT_MAX_LEN 4096     /* descriptions, env entries, command words */
#define LIST_MAX_LEN 256      /* entries of env and command */
#define REPLICAS_MAX 1000     /* template.replicas */
#define CONSTRAINTS_MAX 32    /* entries of template.constraints */
#define CONSTRAINT_MAX_LEN 256
#define CPU_LIMIT_MAX 4096    /* template.cpu_limit, CPUs */
#define MEMORY_LIMIT_MIN ((uint64_t)6 << 20)  /* Docker refuses less */
#define MEMORY_LIMIT_MAX ((uint64_t)1 << 50)  /* 1 PiB */

/* Valid UTF-8 (any code point but NUL). */
bool validate_utf8(const char *s);

/* Valid UTF-8 without control characters other than tab. */
bool validate_text(const char *s);

/* A template or instance name: [a-z0-9][a-z0-9_.-]*, 1-63 chars, no "..". */
int validate_name(const char *field, const char *s, struct error *err);

/* A service id, "<template>_<instance>": the name rules, up to 127 chars. */
/*
 * A name given to an instance: a name (validate_name) that starts with a
 * letter and has no '_', or berth's own automatic form instance_N. Service
 * ids are <template>_<instance>, and only this keeps them unambiguous
 * across templates. Rows made before keep their ids.
 */
int validate_instance_name(const char *field, const char *s, struct error *err);

int validate_service_id(const char *field, const char *s, struct error *err);

/* A host or container port: 1-65535. */
int validate_port(const char *field, uint32_t port, struct error *err);

/* The largest uid or gid a template's user may name (below Linux's (uid_t)-1). */
#define USER_ID_MAX 2147483646L

/*
 * A container user: "UID" or "UID:GID", decimal, each at most USER_ID_MAX.
 * Sets *uid and *gid (-1 when absent) when not NULL. 0, or -1 with
 * INVALID_ARGUMENT naming `field`.
 */
int validate_user(const char *field, const char *user, long *uid, long *gid, struct error *err);

/* An absolute path with no "." or ".." component; empty when allow_empty. */
int validate_abs_path(const char *field, const char *s, bool allow_empty,
    struct error *err);

/*
 * A Docker image reference: [a-z0-9] then [A-Za-z0-9._/:@-], 1-255 chars,
 * without "..", "//" or "/.", not ending in a separator.
 */
/*
 * Rewrites an absolute path in place into the form berth stores: runs of
 * "/" become one, a trailing "/" goes ("//data/" -> "/data", "//" -> "/").
 * Run before validate_abs_path, so that what is checked is what is used.
 */
void validate_normalize_path(char *s);

int validate_image(const char *field, const char *s, struct error *err);

/* An environment entry: KEY=VALUE with KEY = [A-Za-z_][A-Za-z0-9_]*. */
int validate_env(const char *field, const char *s, struct error *err);

/*
 * What a read shows in place of a secret's value ("KEY=***"), and what a
 * write sends as the value to keep the one stored (Template.secret_env).
 */
#define SECRET_MASK "***"

/* Bytes of the KEY of an entry "KEY=VALUE" (the whole string without '='). */
size_t validate_env_key_len(const char *entry);

/*
 * Every field of a template, as PutTemplate requires. Its secret_env
 * entries are checked as env entries are, no KEY twice and none also in
 * env; "KEY=***" is taken as well-formed here (validate_secret_env_kept
 * checks that there is a value to keep).
 */
int validate_template(const Berth__V1__Template *t, struct error *err);

/* Limits of the restart policy and the health check (Template). */
#define RESTARTS_MAX 1000
#define RESTART_WINDOW_MAX_S (7 * 24 * 3600)
#define HEALTH_PATH_MAX 255
#define HEALTH_INTERVAL_MAX_S 3600
#define HEALTH_RETRIES_MAX 100
#define HEALTH_START_PERIOD_MAX_S 3600

/* "no", "on-failure", "always" (or "" when allow_empty), else INVALID_ARGUMENT. */
int validate_restart_policy(const char *field, const char *s, bool allow_empty,
    struct error *err);

/*
 * INVALID_ARGUMENT naming template.secret_env[i] ("no stored value for
 * KEY") unless every "KEY=***" of t->secret_env names one of the n keys
 * that have a stored secret (stored: "KEY" or "KEY=..." strings; NULL
 * when n is 0). Messages name keys, never values.
 */
int validate_secret_env_kept(const Berth__V1__Template *t, char *const *stored, size_t n,
    struct error *err);

/* The most instances ScaleTemplate makes of one template. */
#define SCALE_INSTANCES_MAX 1000

/* ScaleTemplate's instances: at most SCALE_INSTANCES_MAX, else INVALID_ARGUMENT. */
int validate_scale_instances(const char *field, uint32_t n, struct error *err);

#endif
