/*
 * audit.h - the audit log: one row per mutating call, in the registry
 * database's `audit` table (migration 004).
 *
 * berthd records every call to a mutating method (routes.c), allowed or
 * refused, from the worker that ran it, before the reply is sent: when, who
 * (token name), from where (peer), what (method and target) and the result
 * code. `berthd audit` reads it. The newest AUDIT_KEEP rows are kept.
 *
 * Functions take the caller's SQLite connection; codes are berth.v1.Code
 * values (0 = OK) with a sentence in err.
 */
#ifndef BERTH_AUDIT_H
#define BERTH_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "store/registry.h"
#include "berth/v1/berth.pb-c.h"

#define AUDIT_KEEP 100000
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
};

/* Appends one row (and now and then forgets rows past AUDIT_KEEP). */
int audit_record(struct registry *reg, struct audit_entry *e, struct error *err);

/* Calls fn for the last `n` rows (0 = all), oldest first. */
int audit_tail(struct registry *reg, unsigned n, void (*fn)(void *arg, const struct audit_entry *e),
    void *arg, struct error *err);

/*
 * What a request is about, found generically: the first non-empty string
 * field named service_id, template or name, or the name of a message field
 * called template (PutTemplate). "" when none. Points into `request`.
 */
const char *audit_target(const ProtobufCMessage *request);

/*
 * Copies untrusted text for the log: control characters and bytes of
 * invalid UTF-8 become '?', and it is cut at len - 1 bytes (on a character
 * boundary).
 */
void audit_sanitize(char *dst, size_t len, const char *src);

#endif
