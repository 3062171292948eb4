/*
 * requests.c - mutating calls by request id, kept in the registry so that a
 * call is done once even when berthd restarts in its middle (requests.h).
 *
 * Why the subject is stamped with the change and not with the reply: the
 * reply is known only at the end, after Docker has been asked; a crash in
 * between must still leave a trace of the change in the same transaction
 * as the change itself, or the next attempt could not tell "done, answer
 * lost" from "never done".
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/requests.h"
#include "store/registry.h"
#include "store/store_internal.h"

#define DIGEST_LEN 32
/* Old rows are pruned on every PRUNE_EVERY-th new call, and at start-up. */
#define PRUNE_EVERY 256

static int64_t
realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t (*now_ms)(void) = realtime_ms;
static atomic_uint new_calls;

void
requests_set_clock(int64_t (*clock)(void))
{
	now_ms = clock != NULL ? clock : realtime_ms;
}

/* Runs a statement that returns no rows; 0 or the failure's code. */
static int
step_done(struct registry *reg, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}

static const void *
column_blob_copy(struct arena *a, sqlite3_stmt *st, int col, size_t *len)
{
	const void *blob = sqlite3_column_blob(st, col);
	void *copy;

	*len = (size_t)sqlite3_column_bytes(st, col);
	if (blob == NULL)
		return NULL;
	copy = arena_alloc(a, *len > 0 ? *len : 1);
	memcpy(copy, blob, *len);
	return copy;
}

/* Reads the row of `key` that exists; the statement is left reset. */
static int
read_row(struct registry *reg, struct arena *a, const char *key, const unsigned char *digest,
    enum requests_state *state, struct requests_record *rec)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_REQUEST_GET);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return registry_fail_sqlite(reg, rc == SQLITE_DONE ? SQLITE_ERROR : rc);
	}
	if (sqlite3_column_bytes(st, 0) != DIGEST_LEN ||
	    memcmp(sqlite3_column_blob(st, 0), digest, DIGEST_LEN) != 0) {
		*state = REQUESTS_CONFLICT;
	} else if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		rec->reply_len = (size_t)sqlite3_column_bytes(st, 1);
		rec->reply = malloc(rec->reply_len > 0 ? rec->reply_len : 1);
		if (rec->reply == NULL) {
			sqlite3_reset(st);
			return registry_fail(reg, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		}
		if (rec->reply_len > 0) /* SQLite's blob pointer is NULL for an empty one */
			memcpy(rec->reply, sqlite3_column_blob(st, 1), rec->reply_len);
		*state = REQUESTS_DONE;
	} else {
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			rec->subject = store_column_text(a, st, 2);
		rec->detail = column_blob_copy(a, st, 3, &rec->detail_len);
		*state = REQUESTS_INTERRUPTED;
	}
	sqlite3_reset(st);
	return 0;
}

int
requests_claim(struct registry *reg, struct arena *a, const char *key,
    const unsigned char *digest, enum requests_state *state, struct requests_record *rec)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_REQUEST_INSERT);
	int64_t now = now_ms();
	int code;

	memset(rec, 0, sizeof(*rec));
	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, digest, DIGEST_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if ((code = step_done(reg, st)) != 0)
		return code;
	if (sqlite3_changes(registry_db(reg)) == 1) {
		*state = REQUESTS_NEW;
		if (atomic_fetch_add(&new_calls, 1) % PRUNE_EVERY == PRUNE_EVERY - 1)
			requests_prune(reg);
		return 0;
	}
	if ((code = read_row(reg, a, key, digest, state, rec)) != 0 ||
	    *state != REQUESTS_INTERRUPTED)
		return code;
	/* This attempt takes the call over: it is kept as long as a new one. */
	if ((st = registry_stmt(reg, ST_REQUEST_RESTART)) == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	return step_done(reg, st);
}

int
requests_stamp(struct registry *reg, const char *key, const char *subject, const void *detail,
    size_t detail_len)
{
	sqlite3_stmt *st;

	if (key == NULL)
		return 0;
	if ((st = registry_stmt(reg, ST_REQUEST_STAMP)) == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	if (detail != NULL)
		sqlite3_bind_blob(st, 3, detail, (int)detail_len, SQLITE_STATIC);
	return step_done(reg, st);
}

int
requests_finish(struct registry *reg, const char *key, const void *reply, size_t len)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_REQUEST_FINISH);

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	/* A zero-length blob, not NULL: NULL means "no reply yet". */
	sqlite3_bind_blob(st, 2, len > 0 ? reply : "", (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms());
	return step_done(reg, st);
}

int
requests_forget(struct registry *reg, const char *key)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_REQUEST_FORGET);

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	return step_done(reg, st);
}

int
requests_prune(struct registry *reg)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_REQUEST_PRUNE);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms() - REQUESTS_KEEP_MS);
	if (step_done(reg, st) != 0)
		return -1;
	return sqlite3_changes(registry_db(reg));
}
