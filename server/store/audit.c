/*
 * audit.c - SQL of the audit log, and what a request is about.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/audit.h"
#include "store/store_internal.h"
#include "clock.h"
#include "utf8.h"

/* Rows past the limits are forgotten once every this many inserts. */
#define AUDIT_PRUNE_EVERY 1000

static struct audit_limits limits = { AUDIT_KEEP, AUDIT_REFUSED_KEEP, AUDIT_KEEP_DAYS };
static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;

void
audit_set_limits(const struct audit_limits *l)
{
	pthread_mutex_lock(&limits_lock);
	limits = *l;
	pthread_mutex_unlock(&limits_lock);
}

static int
fail_db(sqlite3 *db, struct error *err)
{
	int rc = sqlite3_errcode(db) & 0xff;

	return error_set(err,
	    rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? BERTH__V1__CODE__UNAVAILABLE
						      : BERTH__V1__CODE__INTERNAL,
	    "audit log: %s", sqlite3_errmsg(db));
}

/* The table of authenticated history, or of refusals without a valid token. */
static const char *
table_of(bool refused)
{
	return refused ? "audit_refused" : "audit";
}

/* One housekeeping statement with one integer or text parameter. */
static void
prune(sqlite3 *db, const char *sql, sqlite3_int64 number, const char *text)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return;
	if (text != NULL)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(st, 1, number);
	(void)sqlite3_step(st); /* only housekeeping: the row is written */
	sqlite3_finalize(st);
}

/* Forgets rows of `table` past the row limit and the age limit. */
static void
apply_limits(sqlite3 *db, bool refused, int64_t newest_id)
{
	struct audit_limits l;
	char sql[128], oldest[32];
	const char *table = table_of(refused);
	time_t cutoff;
	struct tm tm;

	pthread_mutex_lock(&limits_lock);
	l = limits;
	pthread_mutex_unlock(&limits_lock);
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id <= ?1", table);
	prune(db, sql, newest_id - (refused ? l.refused_keep_rows : l.keep_rows), NULL);
	if (l.keep_days > 0) {
		cutoff = time(NULL) - (time_t)l.keep_days * 86400;
		gmtime_r(&cutoff, &tm);
		strftime(oldest, sizeof(oldest), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE time < ?1", table);
		prune(db, sql, 0, oldest);
	}
}

int
audit_record(struct registry *reg, struct audit_entry *e, struct error *err)
{
	sqlite3 *db = registry_db(reg);
	char sql[160];
	sqlite3_stmt *st;
	int rc;

	if (e->time[0] == '\0')
		clock_rfc3339_now(e->time, sizeof(e->time));
	snprintf(sql, sizeof(sql),
	    "INSERT INTO %s (time, token_name, peer, method, target, code, request_id) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	    table_of(e->refused_unauthenticated));
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail_db(db, err);
	sqlite3_bind_text(st, 1, e->time, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->token_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->peer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->target, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, e->code);
	sqlite3_bind_text(st, 7, e->request_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail_db(db, err);
	e->id = sqlite3_last_insert_rowid(db);
	if (e->id % AUDIT_PRUNE_EVERY == 0)
		apply_limits(db, e->refused_unauthenticated, e->id);
	return 0;
}

int
audit_tail(struct registry *reg, bool refused, unsigned n,
    void (*fn)(void *arg, const struct audit_entry *e), void *arg, struct error *err)
{
	sqlite3 *db = registry_db(reg);
	char sql[192];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql),
	    "SELECT id, time, token_name, peer, method, target, code, request_id FROM "
	    "(SELECT * FROM %s ORDER BY id DESC LIMIT ?1) ORDER BY id",
	    table_of(refused));
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail_db(db, err);
	sqlite3_bind_int64(st, 1, n == 0 ? -1 : (sqlite3_int64)n); /* LIMIT -1: all */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_entry e;

		memset(&e, 0, sizeof(e));
		e.refused_unauthenticated = refused;
		e.id = sqlite3_column_int64(st, 0);
		store_copy_column(e.time, sizeof(e.time), st, 1);
		store_copy_column(e.token_name, sizeof(e.token_name), st, 2);
		store_copy_column(e.peer, sizeof(e.peer), st, 3);
		store_copy_column(e.method, sizeof(e.method), st, 4);
		store_copy_column(e.target, sizeof(e.target), st, 5);
		e.code = sqlite3_column_int(st, 6);
		store_copy_column(e.request_id, sizeof(e.request_id), st, 7);
		fn(arg, &e);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail_db(db, err);
}

/* The value of a singular string field called `name`, or NULL. */
static const char *
string_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(const char *const *)((const char *)m + f->offset);
}

const char *
audit_target(const ProtobufCMessage *request)
{
	static const char *const names[] = { "service_id", "template", "name", "node" };

	if (request == NULL)
		return "";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(request->descriptor, names[i]);
		const char *s;

		if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		if (f->type == PROTOBUF_C_TYPE_STRING)
			s = string_field(request, names[i]);
		else if (f->type == PROTOBUF_C_TYPE_MESSAGE && strcmp(names[i], "template") == 0) {
			const ProtobufCMessage *sub =
			    *(const ProtobufCMessage *const *)((const char *)request + f->offset);
			s = sub != NULL ? string_field(sub, "name") : NULL;
		} else
			continue;
		if (s != NULL && s[0] != '\0')
			return s;
	}
	return "";
}

void
audit_sanitize(char *dst, size_t len, const char *src)
{
	const unsigned char *p = (const unsigned char *)(src != NULL ? src : "");
	size_t out = 0;

	if (len == 0)
		return;
	while (*p != '\0') {
		size_t n = utf8_sequence_length(p);

		if (n <= 1) {
			if (out + 1 >= len)
				break;
			dst[out++] = n == 1 && *p >= 0x20 && *p != 0x7f ? (char)*p : '?';
			p++;
			continue;
		}
		if (out + n >= len)
			break;
		memcpy(dst + out, p, n);
		out += n;
		p += n;
	}
	dst[out] = '\0';
}
