/*
 * registry.c - SQL of the registry. Bound parameters only; statements are
 * prepared once per connection and reset after use.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "validate.h"
#include "store/migrate.h"
#include "store/registry.h"
#include "store/store_internal.h"

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
	ST_COUNT
};

#define TEMPLATE_COLUMNS                                                                   \
	"name, description, image, build_context, container_port, port_range_start, "      \
	"port_range_end, mount_path, env, command, stop_timeout_s, publish_mode, replicas, "  \
	"constraints, cpu_limit, memory_limit_bytes"

/*
 * What a read of templates selects: the columns, then the keys of the
 * template's secrets as a JSON array (in key order, the primary key's),
 * never their values.
 */
#define TEMPLATE_SELECT                                                                    \
	TEMPLATE_COLUMNS ", (SELECT json_group_array(key) FROM template_secrets "            \
	"WHERE template_secrets.template = templates.name)"

#define SERVICE_COLUMNS                                                                   \
	"service_id, template, container_name, container_id, port, instance, "             \
	"instance_number, project_dir, created_at, status"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_TEMPLATE_LIST] = "SELECT " TEMPLATE_SELECT " FROM templates ORDER BY name",
	[ST_TEMPLATE_GET] = "SELECT " TEMPLATE_SELECT " FROM templates WHERE name = ?1",
	[ST_TEMPLATE_EXISTS] = "SELECT 1 FROM templates WHERE name = ?1",
	[ST_TEMPLATE_INSERT] = "INSERT INTO templates (" TEMPLATE_COLUMNS ", created_at, updated_at) "
			       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?14, ?15, "
			       "?16, ?17, ?12, ?12)",
	[ST_TEMPLATE_UPDATE] = "UPDATE templates SET description = ?2, image = ?3, build_context = ?4, "
			       "container_port = ?5, port_range_start = ?6, port_range_end = ?7, "
			       "mount_path = ?8, env = ?9, command = ?10, stop_timeout_s = ?11, "
			       "publish_mode = ?13, replicas = ?14, constraints = ?15, cpu_limit = ?16, "
			       "memory_limit_bytes = ?17, updated_at = ?12 WHERE name = ?1",
	[ST_TEMPLATE_DELETE] = "DELETE FROM templates WHERE name = ?1",
	[ST_TEMPLATE_IN_USE] = "SELECT count(*) FROM services WHERE template = ?1",
	/* Covered by the UNIQUE (template, instance) index: no row is read. */
	[ST_INSTANCE_NAMES] = "SELECT instance FROM services WHERE template = ?1",
	[ST_SERVICE_INSERT] = "INSERT INTO services (service_id, template, instance, instance_number, "
			      "container_name, container_id, port, project_dir, status, created_at, "
			      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
	[ST_SERVICE_GET] = "SELECT " SERVICE_COLUMNS " FROM services WHERE service_id = ?1",
	[ST_SERVICE_LIST] = "SELECT " SERVICE_COLUMNS " FROM services "
			    "WHERE (?1 = '' OR template = ?1) AND (?2 = '' OR status = ?2) "
			    "ORDER BY service_id",
	[ST_SERVICE_UPDATE] = "UPDATE services SET status = ?2, container_id = coalesce(?3, container_id), "
			      "updated_at = ?4 WHERE service_id = ?1",
	[ST_SERVICE_SET_PORT] = "UPDATE services SET port = ?2, updated_at = ?3 WHERE service_id = ?1",
	[ST_SERVICE_DELETE] = "DELETE FROM services WHERE service_id = ?1",
	[ST_SERVICE_PORTS] = "SELECT port FROM services ORDER BY port",
	[ST_STATS_STATUS] = "SELECT count(*), count(*) FILTER (WHERE status = 'running'), "
			    "count(*) FILTER (WHERE status = 'stopped') FROM services",
	[ST_STATS_TEMPLATES] = "SELECT template, count(*), count(*) FILTER (WHERE status = 'running') "
			       "FROM services GROUP BY template ORDER BY template",
	[ST_SHUTDOWN_BEGIN] = "INSERT OR REPLACE INTO shutdown_state (id, policy, started_at) "
			      "VALUES (1, ?1, ?2)",
	[ST_SHUTDOWN_PENDING] = "SELECT policy FROM shutdown_state WHERE id = 1",
	[ST_SHUTDOWN_DONE] = "DELETE FROM shutdown_state",
	[ST_SERVICE_COUNTS] = "SELECT template, status, count(*) FROM services "
			      "GROUP BY template, status ORDER BY template, status",
	/* An open range (port_range_end = 0) ends at 65535. */
	[ST_TEMPLATE_PORT_USAGE] =
	    "WITH r AS (SELECT name, port_range_start AS lo, "
	    "CASE port_range_end WHEN 0 THEN 65535 ELSE port_range_end END AS hi FROM templates) "
	    "SELECT name, hi - lo + 1, (SELECT count(*) FROM services "
	    "WHERE services.template = r.name AND port BETWEEN lo AND hi) FROM r ORDER BY name",
	[ST_SECRET_EXISTS] = "SELECT 1 FROM template_secrets WHERE template = ?1 AND key = ?2",
	[ST_SECRET_SET] = "INSERT INTO template_secrets (template, key, value) VALUES (?1, ?2, ?3) "
			  "ON CONFLICT (template, key) DO UPDATE SET value = excluded.value",
	/* ?2: a JSON array of the keys the template lists. */
	[ST_SECRET_DELETE_UNLISTED] = "DELETE FROM template_secrets WHERE template = ?1 "
				      "AND key NOT IN (SELECT value FROM json_each(?2))",
	[ST_SECRET_VALUES] = "SELECT key, value FROM template_secrets WHERE template = ?1 "
			     "ORDER BY key",
};

/*
 * Bumped after every change to the services table by any connection of the
 * process; inside a transaction also at its commit, so that the last bump
 * comes after the change is visible (see registry_generation).
 */
static atomic_uint_fast64_t generation = 1;

static void
changed(void)
{
	atomic_fetch_add(&generation, 1);
}

uint64_t
registry_generation(void)
{
	return atomic_load(&generation);
}

struct registry {
	sqlite3 *db;
	sqlite3_stmt *stmts[ST_COUNT];
	struct error error; /* of the last call that failed */
};

static int __attribute__((format(printf, 3, 4)))
fail(struct registry *reg, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reg->error.code = code;
	reg->error.field[0] = '\0';
	reg->error.reason[0] = '\0';
	vsnprintf(reg->error.message, sizeof(reg->error.message), fmt, ap);
	va_end(ap);
	return code;
}

/* Maps an SQLite result to a berth code, keeping SQLite's message. */
static int
fail_sqlite(struct registry *reg, int rc)
{
	int code;

	switch (rc & 0xff) {
	case SQLITE_FULL:
		code = BERTH__V1__CODE__RESOURCE_EXHAUSTED;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = BERTH__V1__CODE__UNAVAILABLE;
		break;
	case SQLITE_CONSTRAINT:
		code = BERTH__V1__CODE__FAILED_PRECONDITION;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = BERTH__V1__CODE__DATA_LOSS;
		break;
	default:
		code = BERTH__V1__CODE__INTERNAL;
	}
	return fail(reg, code, "registry: %s", sqlite3_errmsg(reg->db));
}

/* The prepared statement `id`, reset and cleared; NULL on failure. */
static sqlite3_stmt *
stmt(struct registry *reg, enum stmt_id id)
{
	sqlite3_stmt *st = reg->stmts[id];

	if (st == NULL) {
		if (sqlite3_prepare_v3(reg->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
			NULL) != SQLITE_OK)
			return NULL;
		reg->stmts[id] = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/*
 * SQLite's memory statistics take one global mutex on every allocation of
 * every connection, and each worker has a connection: the workers queued
 * on it. berthd reads no statistics. Only possible before SQLite
 * initializes, which the first registry_open does.
 */
static void
sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
registry_open(struct registry **out, const char *path, bool migrate, struct error *err)
{
	static pthread_once_t setup = PTHREAD_ONCE_INIT;
	/*
	 * Each worker has a connection of its own, and SQLite's default page
	 * cache of 2 MB each made 16 workers that had each read a large
	 * registry hold 30 MB. 256 KB keeps the hot b-tree pages; a full scan
	 * reads the rest from the kernel's page cache.
	 */
	static const char pragmas[] = "PRAGMA journal_mode = WAL;"
				      "PRAGMA synchronous = NORMAL;"
				      "PRAGMA foreign_keys = ON;"
				      "PRAGMA cache_size = -256;";
	struct registry *reg = calloc(1, sizeof(*reg));
	int rc;

	if (reg == NULL) {
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	pthread_once(&setup, sqlite_setup);
	if (migrate && (registry_file_refuse_lost(path, err) != 0 || registry_file_make_private(path, err) != 0))
		goto fail;
	rc = sqlite3_open_v2(path, &reg->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot open %s: %s", path,
		    reg->db ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(reg->db, 5000);
	if (sqlite3_exec(reg->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		if (registry_file_corrupt(reg->db))
			registry_file_damaged(path, sqlite3_errmsg(reg->db), err);
		else
			error_set(err, BERTH__V1__CODE__INTERNAL, "cannot set up %s: %s", path,
			    sqlite3_errmsg(reg->db));
		goto fail;
	}
	if (migrate && (registry_file_check(reg->db, path, err) != 0 ||
			   migrate_apply(reg->db, migrations, migrations_count, err) != 0 ||
			   registry_file_mark_initialized(path, err) != 0)) {
		if (err != NULL && err->code != BERTH__V1__CODE__DATA_LOSS && registry_file_corrupt(reg->db))
			registry_file_damaged(path, sqlite3_errmsg(reg->db), err);
		goto fail;
	}
	*out = reg;
	return 0;
fail:
	registry_close(reg);
	return -1;
}

void
registry_close(struct registry *reg)
{
	if (reg == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(reg->stmts[i]);
	/* Statements others keep on the connection (tokens.c's): a close with any left fails. */
	if (reg->db != NULL)
		for (sqlite3_stmt *st; (st = sqlite3_next_stmt(reg->db, NULL)) != NULL;)
			sqlite3_finalize(st);
	sqlite3_close(reg->db);
	free(reg);
}

sqlite3 *
registry_db(struct registry *reg)
{
	return reg->db;
}

void
registry_configure_process(void)
{
	/*
	 * No up-front page cache per SQLite connection: by default each one
	 * allocates 20 pages (87 KB) in one block the first time it reads, and
	 * berthd has one connection per worker plus two, 1.5 MB at idle for
	 * pages that reading the schema never fills. Pages are now allocated one
	 * at a time as they are used (up to each connection's cache_size).
	 */
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

void
store_copy_column(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", s != NULL ? (const char *)s : "");
}

const struct error *
registry_error(const struct registry *reg)
{
	return &reg->error;
}

/* --- templates ------------------------------------------------------------ */

static char *
column_text(struct arena *a, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return arena_strdup(a, s != NULL ? (const char *)s : "");
}

/* A JSON array of strings from a column into an arena string array. */
static char **
column_string_list(struct arena *a, sqlite3_stmt *st, int col, size_t *n)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	json_t *arr = text != NULL ? json_loads(text, 0, NULL) : NULL;
	char **list = NULL;
	size_t count = 0;

	if (json_is_array(arr) && json_array_size(arr) > 0) {
		list = ARENA_ARRAY(a, char *, json_array_size(arr));
		for (size_t i = 0; i < json_array_size(arr); i++) {
			const char *s = json_string_value(json_array_get(arr, i));
			if (s != NULL)
				list[count++] = arena_strdup(a, s);
		}
	}
	json_decref(arr);
	*n = count;
	return list;
}

static Berth__V1__Template *
template_from_row(struct arena *a, sqlite3_stmt *st)
{
	Berth__V1__Template *t = ARENA_NEW(a, Berth__V1__Template);

	berth__v1__template__init(t);
	t->name = column_text(a, st, 0);
	t->description = column_text(a, st, 1);
	t->image = column_text(a, st, 2);
	t->build_context = column_text(a, st, 3);
	t->container_port = (uint32_t)sqlite3_column_int(st, 4);
	t->port_range_start = (uint32_t)sqlite3_column_int(st, 5);
	t->port_range_end = (uint32_t)sqlite3_column_int(st, 6);
	t->mount_path = column_text(a, st, 7);
	t->env = column_string_list(a, st, 8, &t->n_env);
	t->command = column_string_list(a, st, 9, &t->n_command);
	t->stop_timeout_s = (uint32_t)sqlite3_column_int(st, 10);
	t->publish_mode = column_text(a, st, 11);
	t->replicas = (uint32_t)sqlite3_column_int(st, 12);
	t->constraints = column_string_list(a, st, 13, &t->n_constraints);
	t->cpu_limit = sqlite3_column_double(st, 14);
	t->memory_limit_bytes = (uint64_t)sqlite3_column_int64(st, 15);
	/* Keys only: "KEY=***". */
	t->secret_env = column_string_list(a, st, 16, &t->n_secret_env);
	for (size_t i = 0; i < t->n_secret_env; i++)
		t->secret_env[i] = arena_printf(a, "%s=" SECRET_MASK, t->secret_env[i]);
	return t;
}

int
registry_template_list(struct registry *reg, struct arena *a, Berth__V1__Template ***out,
    size_t *n)
{
	sqlite3_stmt *st = stmt(reg, ST_TEMPLATE_LIST);
	size_t count = 0, cap = 16;
	Berth__V1__Template **list;
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	list = ARENA_ARRAY(a, Berth__V1__Template *, cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			Berth__V1__Template **bigger = ARENA_ARRAY(a, Berth__V1__Template *, cap * 2);
			memcpy(bigger, list, sizeof(*list) * count);
			list = bigger;
			cap *= 2;
		}
		list[count++] = template_from_row(a, st);
	}
	if (rc != SQLITE_DONE)
		return fail_sqlite(reg, rc);
	*out = list;
	*n = count;
	return 0;
}

int
registry_template_get(struct registry *reg, struct arena *a, const char *name,
    Berth__V1__Template **out)
{
	sqlite3_stmt *st = stmt(reg, ST_TEMPLATE_GET);
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return fail(reg, BERTH__V1__CODE__NOT_FOUND, "no template named %s", name);
	if (rc != SQLITE_ROW)
		return fail_sqlite(reg, rc);
	*out = template_from_row(a, st);
	sqlite3_reset(st);
	return 0;
}

static char *
string_list_json(char **items, size_t n)
{
	json_t *arr = json_array();
	char *text;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(items[i]));
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
}

/* Whether entry is "KEY=***": keep the value stored for KEY. */
static bool
secret_kept(const char *entry)
{
	size_t key_len = validate_env_key_len(entry);

	return entry[key_len] == '=' && strcmp(entry + key_len + 1, SECRET_MASK) == 0;
}

/*
 * Inside registry_template_put's transaction: the template's secrets become
 * what t->secret_env says. "KEY=***" keeps the stored value (and fails
 * INVALID_ARGUMENT when there is none: another put may have deleted it
 * since the caller checked), "KEY=VALUE" sets it, an unlisted key goes.
 */
static int
secrets_put(struct registry *reg, const Berth__V1__Template *t)
{
	json_t *keys = json_array();
	char *keys_json = NULL;
	sqlite3_stmt *st;
	int rc, code = 0;

	for (size_t i = 0; i < t->n_secret_env && code == 0; i++) {
		const char *e = t->secret_env[i];
		int key_len = (int)validate_env_key_len(e);
		bool keep = secret_kept(e);

		json_array_append_new(keys, json_stringn(e, (size_t)key_len));
		if ((st = stmt(reg, keep ? ST_SECRET_EXISTS : ST_SECRET_SET)) == NULL) {
			code = fail_sqlite(reg, SQLITE_ERROR);
			break;
		}
		sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, e, key_len, SQLITE_STATIC);
		if (!keep)
			sqlite3_bind_text(st, 3, e + key_len + 1, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (keep && rc == SQLITE_DONE) {
			code = fail(reg, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "template.secret_env[%zu]: no stored value for %.*s", i, key_len, e);
			snprintf(reg->error.field, sizeof(reg->error.field), "template.secret_env[%zu]", i);
			snprintf(reg->error.reason, sizeof(reg->error.reason), "NO_STORED_SECRET");
		} else if (rc != (keep ? SQLITE_ROW : SQLITE_DONE)) {
			code = fail_sqlite(reg, rc);
		}
	}
	if (code == 0) {
		keys_json = json_dumps(keys, JSON_COMPACT);
		st = stmt(reg, ST_SECRET_DELETE_UNLISTED);
		if (keys_json == NULL || st == NULL) {
			code = fail_sqlite(reg, SQLITE_ERROR);
		} else {
			sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, keys_json, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc != SQLITE_DONE)
				code = fail_sqlite(reg, rc);
		}
	}
	json_decref(keys);
	free(keys_json);
	return code;
}

int
registry_template_put(struct registry *reg, const Berth__V1__Template *t, bool *created)
{
	sqlite3_stmt *st;
	char now[32];
	char *env = NULL, *command = NULL, *constraints = NULL;
	int rc, code = 0;

	if (sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return fail_sqlite(reg, sqlite3_errcode(reg->db));
	st = stmt(reg, ST_TEMPLATE_EXISTS);
	if (st == NULL) {
		code = fail_sqlite(reg, SQLITE_ERROR);
		goto out;
	}
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		code = fail_sqlite(reg, rc);
		goto out;
	}
	*created = rc == SQLITE_DONE;
	sqlite3_reset(st);

	st = stmt(reg, *created ? ST_TEMPLATE_INSERT : ST_TEMPLATE_UPDATE);
	env = string_list_json(t->env, t->n_env);
	command = string_list_json(t->command, t->n_command);
	constraints = string_list_json(t->constraints, t->n_constraints);
	if (st == NULL || env == NULL || command == NULL || constraints == NULL) {
		code = fail_sqlite(reg, SQLITE_ERROR);
		goto out;
	}
	clock_rfc3339_now(now, sizeof(now));
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->image, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->build_context, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)t->container_port);
	sqlite3_bind_int(st, 6, (int)t->port_range_start);
	sqlite3_bind_int(st, 7, (int)t->port_range_end);
	sqlite3_bind_text(st, 8, t->mount_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, env, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, command, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, (int)t->stop_timeout_s);
	sqlite3_bind_text(st, 12, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, t->publish_mode, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 14, (int)t->replicas);
	sqlite3_bind_text(st, 15, constraints, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 16, t->cpu_limit);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)t->memory_limit_bytes);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		code = fail_sqlite(reg, rc);
		goto out;
	}
	if ((code = secrets_put(reg, t)) != 0)
		goto out;
	if ((rc = sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		code = fail_sqlite(reg, rc);
out:
	if (code != 0)
		sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
	free(env);
	free(command);
	free(constraints);
	return code;
}

int
registry_template_secret_values(struct registry *reg, struct arena *a, const char *name,
    char ***out, size_t *n)
{
	sqlite3_stmt *st = stmt(reg, ST_SECRET_VALUES);
	size_t count = 0, cap = 8;
	char **list;
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	list = ARENA_ARRAY(a, char *, cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *value = (const char *)sqlite3_column_text(st, 1);

		if (count == cap) {
			char **bigger = ARENA_ARRAY(a, char *, cap * 2);
			memcpy(bigger, list, sizeof(*list) * count);
			list = bigger;
			cap *= 2;
		}
		list[count++] = arena_printf(a, "%s=%s", key != NULL ? key : "",
		    value != NULL ? value : "");
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail_sqlite(reg, rc);
	*out = list;
	*n = count;
	return 0;
}

int
registry_template_delete(struct registry *reg, const char *name)
{
	sqlite3_stmt *st = stmt(reg, ST_TEMPLATE_IN_USE);
	int rc, in_use;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return fail_sqlite(reg, rc);
	in_use = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (in_use > 0)
		return fail(reg, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "template %s still has %d service%s; remove them first", name, in_use,
		    in_use == 1 ? "" : "s");

	st = stmt(reg, ST_TEMPLATE_DELETE);
	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		/* A launch raced us and the foreign key refused: report it as in use. */
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			return fail(reg, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "template %s still has services; remove them first", name);
		return fail_sqlite(reg, rc);
	}
	if (sqlite3_changes(reg->db) == 0)
		return fail(reg, BERTH__V1__CODE__NOT_FOUND, "no template named %s", name);
	return 0;
}

int
registry_template_names(struct registry *reg, struct arena *a, char **out)
{
	Berth__V1__Template **list;
	size_t n, len = 1;
	char *s;
	int code;

	if ((code = registry_template_list(reg, a, &list, &n)) != 0)
		return code;
	for (size_t i = 0; i < n; i++)
		len += strlen(list[i]->name) + 2;
	s = arena_alloc(a, len);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ", ");
		strcat(s, list[i]->name);
	}
	*out = s;
	return 0;
}

/* --- services --------------------------------------------------------------- */

int
registry_begin(struct registry *reg)
{
	int rc = sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail_sqlite(reg, rc);
}

int
registry_commit(struct registry *reg)
{
	int rc = sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		int code = fail_sqlite(reg, rc);
		registry_rollback(reg);
		return code;
	}
	changed();
	return 0;
}

void
registry_rollback(struct registry *reg)
{
	if (!sqlite3_get_autocommit(reg->db))
		sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
}

/* N of a name "instance_N" (digits after the prefix, as adopt's sscanf reads them), or 0. */
static unsigned long
instance_number_of(const char *name)
{
	unsigned long n;
	char *end;

	if (name == NULL || strncmp(name, "instance_", 9) != 0 || name[9] < '0' || name[9] > '9')
		return 0;
	n = strtoul(name + 9, &end, 10);
	return n > UINT32_MAX ? 0 : n;
}

/*
 * One pass over the template's instance names, read from the index alone:
 * a number is taken when a name is "instance_N" (every numbered row has
 * that name, an adopted one the N of its label; a named instance may be
 * called so too). With R rows, the lowest free number is at most R + 1, so
 * only numbers up to that are tracked. It used to sort the template's
 * instance_number column, which read every row: 6 ms at 10,000.
 */
int
registry_instance_next(struct registry *reg, const char *template_name, unsigned from,
    unsigned *number)
{
	sqlite3_stmt *st = stmt(reg, ST_INSTANCE_NAMES);
	uint32_t *numbers = NULL;
	size_t n_numbers = 0, cap = 0, rows = 0, limit;
	unsigned char *taken;
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, template_name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		unsigned long n = instance_number_of((const char *)sqlite3_column_text(st, 0));

		rows++;
		if (n == 0)
			continue;
		if (n_numbers == cap) {
			uint32_t *bigger = realloc(numbers, (cap ? cap * 2 : 64) * sizeof(*numbers));

			if (bigger == NULL) {
				free(numbers);
				sqlite3_reset(st);
				return fail(reg, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
			}
			numbers = bigger;
			cap = cap ? cap * 2 : 64;
		}
		numbers[n_numbers++] = (uint32_t)n;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(numbers);
		return fail_sqlite(reg, rc);
	}
	/* At most `rows` numbers are taken: the answer is at most from + rows. */
	if (from == 0)
		from = 1;
	limit = (size_t)from + rows;
	taken = calloc(limit + 1, 1);
	if (taken == NULL) {
		free(numbers);
		return fail(reg, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	for (size_t i = 0; i < n_numbers; i++)
		if (numbers[i] <= limit)
			taken[numbers[i]] = 1;
	*number = from;
	while (taken[*number])
		(*number)++;
	free(taken);
	free(numbers);
	return 0;
}

int
registry_service_insert(struct registry *reg, const Berth__V1__Service *s)
{
	sqlite3_stmt *st = stmt(reg, ST_SERVICE_INSERT);
	char now[32];
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	clock_rfc3339_now(now, sizeof(now));
	sqlite3_bind_text(st, 1, s->service_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->template_, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->instance, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)s->instance_number);
	sqlite3_bind_text(st, 5, s->container_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, s->container_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, (int)s->port);
	sqlite3_bind_text(st, 8, s->project_dir, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, s->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		changed();
		return 0;
	}
	switch (sqlite3_extended_errcode(reg->db)) {
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return fail(reg, BERTH__V1__CODE__NOT_FOUND, "template %s was deleted", s->template_);
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE:
		return fail(reg, BERTH__V1__CODE__ALREADY_EXISTS,
		    "service %s or port %u is already registered", s->service_id, s->port);
	default:
		return fail_sqlite(reg, rc);
	}
}

static Berth__V1__Service *
service_from_row(struct arena *a, sqlite3_stmt *st)
{
	Berth__V1__Service *s = ARENA_NEW(a, Berth__V1__Service);

	berth__v1__service__init(s);
	s->service_id = column_text(a, st, 0);
	s->template_ = column_text(a, st, 1);
	s->container_name = column_text(a, st, 2);
	s->container_id = column_text(a, st, 3);
	s->port = (uint32_t)sqlite3_column_int(st, 4);
	s->instance = column_text(a, st, 5);
	s->instance_number = (uint32_t)sqlite3_column_int(st, 6);
	s->project_dir = column_text(a, st, 7);
	s->created_at = column_text(a, st, 8);
	s->status = column_text(a, st, 9);
	return s;
}

int
registry_service_get(struct registry *reg, struct arena *a, const char *service_id,
    Berth__V1__Service **out)
{
	sqlite3_stmt *st = stmt(reg, ST_SERVICE_GET);
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return fail(reg, BERTH__V1__CODE__NOT_FOUND, "Service '%s' not found", service_id);
	if (rc != SQLITE_ROW)
		return fail_sqlite(reg, rc);
	*out = service_from_row(a, st);
	sqlite3_reset(st);
	return 0;
}

int
registry_service_list(struct registry *reg, struct arena *a, const char *template_name,
    const char *status, Berth__V1__Service ***out, size_t *n)
{
	sqlite3_stmt *st = stmt(reg, ST_SERVICE_LIST);
	size_t count = 0, cap = 16;
	Berth__V1__Service **list;
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, template_name ? template_name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status ? status : "", -1, SQLITE_STATIC);
	list = ARENA_ARRAY(a, Berth__V1__Service *, cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			Berth__V1__Service **bigger = ARENA_ARRAY(a, Berth__V1__Service *, cap * 2);
			memcpy(bigger, list, sizeof(*list) * count);
			list = bigger;
			cap *= 2;
		}
		list[count++] = service_from_row(a, st);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail_sqlite(reg, rc);
	*out = list;
	*n = count;
	return 0;
}

/* Runs an UPDATE/DELETE that must touch exactly the row of service_id. */
static int
step_one_row(struct registry *reg, sqlite3_stmt *st, const char *service_id)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		if (sqlite3_extended_errcode(reg->db) == SQLITE_CONSTRAINT_UNIQUE)
			return fail(reg, BERTH__V1__CODE__ALREADY_EXISTS, "registry: %s",
			    sqlite3_errmsg(reg->db));
		return fail_sqlite(reg, rc);
	}
	if (sqlite3_changes(reg->db) == 0)
		return fail(reg, BERTH__V1__CODE__NOT_FOUND, "Service '%s' not found", service_id);
	changed();
	return 0;
}

int
registry_service_update(struct registry *reg, const char *service_id, const char *status,
    const char *container_id)
{
	sqlite3_stmt *st = stmt(reg, ST_SERVICE_UPDATE);
	char now[32];

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	clock_rfc3339_now(now, sizeof(now));
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	if (container_id != NULL)
		sqlite3_bind_text(st, 3, container_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	return step_one_row(reg, st, service_id);
}

int
registry_service_set_port(struct registry *reg, const char *service_id, uint32_t port)
{
	sqlite3_stmt *st = stmt(reg, ST_SERVICE_SET_PORT);
	char now[32];

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	clock_rfc3339_now(now, sizeof(now));
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)port);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	return step_one_row(reg, st, service_id);
}

int
registry_service_delete(struct registry *reg, const char *service_id)
{
	sqlite3_stmt *st = stmt(reg, ST_SERVICE_DELETE);

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	return step_one_row(reg, st, service_id);
}

int
registry_service_ports(struct registry *reg, void (*fn)(void *arg, uint32_t port), void *arg)
{
	sqlite3_stmt *st = stmt(reg, ST_SERVICE_PORTS);
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (uint32_t)sqlite3_column_int(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail_sqlite(reg, rc);
}

int
registry_stats(struct registry *reg, struct arena *a, Berth__V1__GetStatsResponse *out)
{
	sqlite3_stmt *st = stmt(reg, ST_STATS_STATUS);
	size_t cap;
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return fail_sqlite(reg, rc);
	out->total_services = (uint32_t)sqlite3_column_int(st, 0);
	out->running_services = (uint32_t)sqlite3_column_int(st, 1);
	out->stopped_services = (uint32_t)sqlite3_column_int(st, 2);
	sqlite3_reset(st);

	/* Every row holds exactly one port, so total_services sizes the array. */
	cap = out->total_services;
	out->used_ports = ARENA_ARRAY(a, uint32_t, cap ? cap : 1);
	st = stmt(reg, ST_SERVICE_PORTS);
	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	out->n_used_ports = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n_used_ports < cap)
		out->used_ports[out->n_used_ports++] = (uint32_t)sqlite3_column_int(st, 0);
	sqlite3_reset(st);

	st = stmt(reg, ST_STATS_TEMPLATES);
	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	out->templates = ARENA_ARRAY(a, Berth__V1__TemplateCount *, cap ? cap : 1);
	out->n_templates = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n_templates < cap) {
		Berth__V1__TemplateCount *tc = ARENA_NEW(a, Berth__V1__TemplateCount);
		berth__v1__template_count__init(tc);
		tc->template_ = column_text(a, st, 0);
		tc->total = (uint32_t)sqlite3_column_int(st, 1);
		tc->running = (uint32_t)sqlite3_column_int(st, 2);
		out->templates[out->n_templates++] = tc;
	}
	sqlite3_reset(st);
	return 0;
}

/* --- shutdown progress ------------------------------------------------------ */

int
registry_shutdown_begin(struct registry *reg, const char *policy)
{
	sqlite3_stmt *st = stmt(reg, ST_SHUTDOWN_BEGIN);
	char now[32];
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	clock_rfc3339_now(now, sizeof(now));
	sqlite3_bind_text(st, 1, policy, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail_sqlite(reg, rc);
}

int
registry_shutdown_pending(struct registry *reg, char *policy, size_t len)
{
	sqlite3_stmt *st = stmt(reg, ST_SHUTDOWN_PENDING);
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(policy, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return BERTH__V1__CODE__NOT_FOUND;
	return rc == SQLITE_ROW ? 0 : fail_sqlite(reg, rc);
}

int
registry_shutdown_done(struct registry *reg)
{
	sqlite3_stmt *st = stmt(reg, ST_SHUTDOWN_DONE);
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail_sqlite(reg, rc);
}

/* --- metrics ------------------------------------------------------------ */

int
registry_service_counts(struct registry *reg,
    void (*fn)(void *arg, const char *template_name, const char *status, unsigned count),
    void *arg)
{
	sqlite3_stmt *st = stmt(reg, ST_SERVICE_COUNTS);
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1), (unsigned)sqlite3_column_int(st, 2));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail_sqlite(reg, rc);
}

int
registry_template_port_usage(struct registry *reg,
    void (*fn)(void *arg, const char *template_name, unsigned capacity, unsigned used), void *arg)
{
	sqlite3_stmt *st = stmt(reg, ST_TEMPLATE_PORT_USAGE);
	int rc;

	if (st == NULL)
		return fail_sqlite(reg, SQLITE_ERROR);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0), (unsigned)sqlite3_column_int(st, 1),
		    (unsigned)sqlite3_column_int(st, 2));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail_sqlite(reg, rc);
}
