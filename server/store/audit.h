/*
 * audit.h - the audit log: one row per mutating call, in the registry
 * database's `audit` table (migration 004).
 *
 * berthd records every call to a mutating method (routes.c), allowed or
 * refused, from the worker that ran it, before the reply is sent: when, who
 * (token name), from where (peer), what (method and target) and the result
 * code. `berthd audit` reads it. Calls refused for want of a valid token
 * go to a table of their own (`audit_refused`, migration 006), so that a
 * flood of them never pushes authenticated history out. Both are kept by
 * count and by age (struct audit_limits, from the configuration).
 *
 * Functions take the caller's SQLite connection; codes are berth.v1.Code
 * values (0 = OK) with a sentence in err.
 */
#ifndef BERTH_AUDIT_H
#define BERTH_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/registry.h"
#include "berth/v1/berth.pb-c.h"

#define AUDIT_KEEP 100000         /* default rows of the audit log */
#define AUDIT_REFUSED_KEEP 10000  /* default rows of refused unauthenticated calls */
#define AUDIT_KEEP_DAYS 365       /* default age limit of both */

struct audit_limits {
	int64_t keep_rows;         /* newest rows of `audit` kept */
	int64_t refused_keep_rows; /* newest rows of `audit_refused` kept */
	int64_t keep_days;         /* rows older than this go; 0 = no age limit */
};

/* The limits every later audit_record applies (any thread; default above). */
void audit_set_limits(const struct audit_limits *limits);
#define AUDIT_TARGET_MAX 128

struct audit_entry {
	int64_t id;         /* set by the database */
	char time[32];      /* RFC 3339 UTC; audit_record fills it when "" */
	char token_name[64];
	char peer[96];
	char method[160];
	char target[AUDIT_TARGET_MAX + 1];
	int code;
	char request_id[160];
	bool refused_unauthenticated; /* no valid token: kept in audit_refused */
};

/* Appends one row (and now and then forgets rows past the limits). */
int audit_record(struct registry *reg, struct audit_entry *e, struct error *err);

/*
 * Calls fn for the last `n` rows (0 = all) of the audit log, or with
 * `refused` of the refused unauthenticated calls, oldest first.
 */
int audit_tail(struct registry *reg, bool refused, unsigned n,
    void (*fn)(void *arg, const struct audit_entry *e), void *arg, struct error *err);

/*
 * What a request is about, found generically: the first non-empty string
 * field named service_id, template, name or node (SetNodeAvailability), or
 * the name of a message field called template (PutTemplate). "" when none.
 * Points into `request`.
 */
const char *audit_target(const ProtobufCMessage *request);

/*
 * Copies untrusted text for the log: control characters and bytes of
 * invalid UTF-8 become '?', and it is cut at len - 1 bytes (on a character
 * boundary).
 */
void audit_sanitize(char *dst, size_t len, const char *src);

#endif
