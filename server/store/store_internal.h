/*
 * store_internal.h - what the store's own files (and its unit tests) share:
 * the SQLite connection behind a struct registry. Nothing outside
 * server/store/ includes this; the rest of berthd reaches the store only
 * through its functions.
 */
#ifndef BERTH_STORE_INTERNAL_H
#define BERTH_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "error.h"

#include "base/arena.h"
#include "berth/v1/berth.pb-c.h"

/* The statements each connection prepares once (registry.c's stmt_sql). */
enum stmt_id {
	ST_TEMPLATE_LIST,
	ST_TEMPLATE_GET,
	ST_TEMPLATE_EXISTS,
	ST_TEMPLATE_INSERT,
	ST_TEMPLATE_UPDATE,
	ST_TEMPLATE_DELETE,
	ST_TEMPLATE_IN_USE,
	ST_INSTANCE_NAMES,
	ST_SERVICE_INSERT,
	ST_SERVICE_GET,
	ST_SERVICE_LIST,
	ST_SERVICE_UPDATE,
	ST_SERVICE_SET_PORT,
	ST_SERVICE_DELETE,
	ST_SERVICE_PORTS,
	ST_STATS_STATUS,
	ST_STATS_TEMPLATES,
	ST_SHUTDOWN_BEGIN,
	ST_SHUTDOWN_PENDING,
	ST_SHUTDOWN_DONE,
	ST_SERVICE_COUNTS,
	ST_TEMPLATE_PORT_USAGE,
	ST_SECRET_EXISTS,
	ST_SECRET_SET,
	ST_SECRET_DELETE_UNLISTED,
	ST_SECRET_VALUES,
	ST_REQUEST_INSERT,
	ST_REQUEST_GET,
	ST_REQUEST_RESTART,
	ST_REQUEST_STAMP,
	ST_REQUEST_FINISH,
	ST_REQUEST_FORGET,
	ST_REQUEST_PRUNE,
	ST_SUPERVISION_GET,
	ST_SUPERVISION_PUT,
	ST_SERVICE_SET_DESIRED,
	ST_SERVICE_SET_HEALTH,
	ST_SERVICE_IDS,
	ST_TEMPLATE_SET_REVISION,
	ST_REVISION_INSERT,
	ST_REVISION_GET,
	ST_REVISION_LIST,
	ST_SERVICE_SET_IMAGE,
	ST_SERVICE_SET_NODES,
	ST_COUNT
};

struct registry {
	sqlite3 *db;
	sqlite3_stmt *stmts[ST_COUNT];
	struct error error; /* of the last call that failed */
};

/* The prepared statement `id`, reset and cleared; NULL on failure. */
sqlite3_stmt *registry_stmt(struct registry *reg, enum stmt_id id);

/* Records a failure in reg->error and returns `code`. */
int registry_fail(struct registry *reg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Maps an SQLite result to a berth code, keeping SQLite's message. */
int registry_fail_sqlite(struct registry *reg, int rc);

/* After a change to the services table (registry_generation). */
void registry_changed(void);

/* Column `col` of the current row as an arena string ("" for NULL). */
char *store_column_text(struct arena *a, sqlite3_stmt *st, int col);

/* Unix milliseconds as RFC 3339 UTC (seconds) in the arena; "" for 0. */
char *store_ms_rfc3339(struct arena *a, int64_t ms);

/* "a,b,c" as an arena string array (NULL, *n = 0 for NULL or ""). */
char **store_split_csv(struct arena *a, const char *csv, size_t *n);

/* A column holding a JSON array of strings, as an arena string array. */
char **store_column_string_list(struct arena *a, sqlite3_stmt *st, int col, size_t *n);

sqlite3 *registry_db(struct registry *reg);

/* --- revisions (registry_revisions.c), inside registry_template_write's transaction --- */

struct template_put_result;

/*
 * Compares the template as it was (old, NULL when new) with what the write
 * stored (now, read back): fills out's changed and reset lists and, when a
 * field that makes a container changed (or the secrets did:
 * secrets_changed), records the next revision with its summary and content
 * and sets now->revision and the template's row to it.
 */
int store_revision_record(struct registry *reg, struct arena *a, const Berth__V1__Template *old,
    Berth__V1__Template *now, bool secrets_changed, struct template_put_result *out);

/* --- the registry's file (registry_file.c), for registry_open --------------- */

/* DATA_LOSS when a registry existed here and is now missing or empty. */
int registry_file_refuse_lost(const char *path, struct error *err);

/* Creates the file 0600, and makes it (and -wal, -shm) 0600 if more open. */
int registry_file_make_private(const char *path, struct error *err);

/* PRAGMA quick_check: DATA_LOSS with the recovery steps unless "ok". */
int registry_file_check(sqlite3 *db, const char *path, struct error *err);

/* Marks that a registry exists here (<path>-initialized). */
int registry_file_mark_initialized(const char *path, struct error *err);

/* DATA_LOSS naming the damaged file and how to recover; returns the code. */
int registry_file_damaged(const char *path, const char *detail, struct error *err);

/* True when db's last error says the file is not a sound database. */
bool registry_file_corrupt(sqlite3 *db);

/* Column `col` of the current row as text into dst (NULL reads as ""). */
void store_copy_column(char *dst, size_t len, sqlite3_stmt *st, int col);

/* A one-off statement of `sql` on reg's connection; NULL (and reg's error) on failure. */
sqlite3_stmt *store_prepare(struct registry *reg, const char *sql);

/* Steps a statement that returns no rows and finalizes it: 0, or reg's error code. */
int store_run(struct registry *reg, sqlite3_stmt *st);

#endif
