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
#include <time.h>

#include <jansson.h>

#include "clock.h"
#include "validate.h"
#include "store/migrate.h"
#include "store/registry.h"
#include "store/store_internal.h"


#define TEMPLATE_COLUMNS                                                                   \
	"name, description, image, build_context, container_port, port_range_start, "      \
	"port_range_end, mount_path, env, command, stop_timeout_s, publish_mode, replicas, "  \
	"constraints, cpu_limit, memory_limit_bytes, init, container_user, restart_policy, "    \
	"max_restarts, restart_window_s, health_kind, health_path, health_command, "           \
	"health_interval_s, health_timeout_s, health_retries, health_start_period_s"

/*
 * What a read of templates selects: the columns, then the keys of the
 * template's secrets as a JSON array (in key order, the primary key's),
 * never their values.
 */
#define TEMPLATE_SELECT                                                                    \
	TEMPLATE_COLUMNS ", (SELECT json_group_array(key) FROM template_secrets "            \
	"WHERE template_secrets.template = templates.name), revision"

/* The restart policy in force is the launch's override, else the template's. */
#define SERVICE_COLUMNS                                                                   \
	"service_id, template, container_name, container_id, port, instance, "             \
	"instance_number, project_dir, created_at, status, desired_state, health, "        \
	"supervisor, restarts, last_exit_code, next_restart_at, "                          \
	"coalesce(nullif(restart_policy, ''), (SELECT restart_policy FROM templates "      \
	"WHERE templates.name = services.template), 'no'), health_message, revision, "     \
	"image_id, revision IS NOT (SELECT revision FROM templates "                       \
	"WHERE templates.name = services.template), nodes"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_TEMPLATE_LIST] = "SELECT " TEMPLATE_SELECT " FROM templates ORDER BY name",
	[ST_TEMPLATE_GET] = "SELECT " TEMPLATE_SELECT " FROM templates WHERE name = ?1",
	[ST_TEMPLATE_EXISTS] = "SELECT 1 FROM templates WHERE name = ?1",
	[ST_TEMPLATE_INSERT] = "INSERT INTO templates (" TEMPLATE_COLUMNS ", created_at, updated_at) "
			       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?14, ?15, "
			       "?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, "
			       "?12, ?12)",
	[ST_TEMPLATE_UPDATE] = "UPDATE templates SET description = ?2, image = ?3, build_context = ?4, "
			       "container_port = ?5, port_range_start = ?6, port_range_end = ?7, "
			       "mount_path = ?8, env = ?9, command = ?10, stop_timeout_s = ?11, "
			       "publish_mode = ?13, replicas = ?14, constraints = ?15, cpu_limit = ?16, "
			       "memory_limit_bytes = ?17, init = ?18, container_user = ?19, "
			       "restart_policy = ?20, max_restarts = ?21, restart_window_s = ?22, "
			       "health_kind = ?23, health_path = ?24, health_command = ?25, "
			       "health_interval_s = ?26, health_timeout_s = ?27, health_retries = ?28, "
			       "health_start_period_s = ?29, updated_at = ?12 WHERE name = ?1",
	[ST_TEMPLATE_DELETE] = "DELETE FROM templates WHERE name = ?1",
	[ST_TEMPLATE_IN_USE] = "SELECT count(*) FROM services WHERE template = ?1",
	/* Covered by the UNIQUE (template, instance) index: no row is read. */
	[ST_INSTANCE_NAMES] = "SELECT instance FROM services WHERE template = ?1",
	[ST_SERVICE_INSERT] = "INSERT INTO services (service_id, template, instance, instance_number, "
			      "container_name, container_id, port, project_dir, status, created_at, "
			      "updated_at, restart_policy, revision, image_id) "
			      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13)",
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
	/* A value set again unchanged changes no row: a put counts what changed (revisions). */
	[ST_SECRET_SET] = "INSERT INTO template_secrets (template, key, value) VALUES (?1, ?2, ?3) "
			  "ON CONFLICT (template, key) DO UPDATE SET value = excluded.value "
			  "WHERE value IS NOT excluded.value",
	/* ?2: a JSON array of the keys the template lists. */
	[ST_SECRET_DELETE_UNLISTED] = "DELETE FROM template_secrets WHERE template = ?1 "
				      "AND key NOT IN (SELECT value FROM json_each(?2))",
	[ST_SECRET_VALUES] = "SELECT key, value FROM template_secrets WHERE template = ?1 "
			     "ORDER BY key",
	/* requests.c */
	[ST_REQUEST_INSERT] = "INSERT INTO requests (key, digest, started_at) VALUES (?1, ?2, ?3) "
			      "ON CONFLICT (key) DO NOTHING",
	[ST_REQUEST_GET] = "SELECT digest, reply, subject, detail FROM requests WHERE key = ?1",
	[ST_REQUEST_RESTART] = "UPDATE requests SET started_at = ?2 WHERE key = ?1",
	[ST_REQUEST_STAMP] = "UPDATE requests SET subject = ?2, detail = ?3 WHERE key = ?1",
	[ST_REQUEST_FINISH] = "UPDATE requests SET reply = ?2, finished_at = ?3 WHERE key = ?1",
	/* A call that changed something is never forgotten: see requests_forget. */
	[ST_REQUEST_FORGET] = "DELETE FROM requests WHERE key = ?1 AND subject IS NULL",
	[ST_REQUEST_PRUNE] = "DELETE FROM requests WHERE started_at < ?1",
	[ST_SUPERVISION_GET] =
	    "SELECT s.desired_state, coalesce(nullif(s.restart_policy, ''), t.restart_policy), "
	    "s.supervisor, s.health, s.restarts, s.backoff_level, s.window_restarts, "
	    "t.max_restarts, t.restart_window_s, s.last_exit_code, s.next_restart_at, "
	    "s.window_started_at FROM services s JOIN templates t ON t.name = s.template "
	    "WHERE s.service_id = ?1",
	[ST_SUPERVISION_PUT] = "UPDATE services SET supervisor = ?2, restarts = ?3, backoff_level = ?4, "
			       "window_restarts = ?5, last_exit_code = ?6, next_restart_at = ?7, "
			       "window_started_at = ?8 WHERE service_id = ?1",
	/* An operator's launch, restart or stop: the supervisor starts afresh. */
	[ST_SERVICE_SET_DESIRED] = "UPDATE services SET desired_state = ?2, supervisor = 'ok', "
				   "restarts = 0, backoff_level = 0, window_restarts = 0, "
				   "window_started_at = 0, next_restart_at = 0 WHERE service_id = ?1",
	[ST_SERVICE_SET_HEALTH] = "UPDATE services SET health = ?2, health_message = ?3 "
				  "WHERE service_id = ?1",
	[ST_SERVICE_IDS] = "SELECT service_id FROM services ORDER BY service_id",
	/* registry_revisions.c */
	[ST_TEMPLATE_SET_REVISION] = "UPDATE templates SET revision = ?2 WHERE name = ?1",
	[ST_REVISION_INSERT] = "INSERT INTO template_revisions (template, revision, created_at, "
			       "summary, content) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_REVISION_GET] = "SELECT revision, created_at, summary, content FROM template_revisions "
			    "WHERE template = ?1 AND revision = ?2",
	[ST_REVISION_LIST] = "SELECT revision, created_at, summary, content FROM template_revisions "
			     "WHERE template = ?1 ORDER BY revision DESC",
	[ST_SERVICE_SET_IMAGE] = "UPDATE services SET image_id = ?2 WHERE service_id = ?1",
	/* core/placement.c: where a swarm service's running tasks are. */
	[ST_SERVICE_SET_NODES] = "UPDATE services SET nodes = ?2 WHERE service_id = ?1",
};

/*
 * Bumped after every change to the services table by any connection of the
 * process; inside a transaction also at its commit, so that the last bump
 * comes after the change is visible (see registry_generation).
 */
static atomic_uint_fast64_t generation = 1;

void
registry_changed(void)
{
	atomic_fetch_add(&generation, 1);
}

uint64_t
registry_generation(void)
{
	return atomic_load(&generation);
}


int
registry_fail(struct registry *reg, int code, const char *fmt, ...)
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
int
registry_fail_sqlite(struct registry *reg, int rc)
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
	return registry_fail(reg, code, "registry: %s", sqlite3_errmsg(reg->db));
}

/* The prepared statement `id`, reset and cleared; NULL on failure. */
sqlite3_stmt *
registry_stmt(struct registry *reg, enum stmt_id id)
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

/* --- column helpers (store_internal.h) --------------------------------------- */

char *
store_column_text(struct arena *a, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	return arena_strdup(a, s != NULL ? (const char *)s : "");
}

char *
store_ms_rfc3339(struct arena *a, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	char buf[32];
	struct tm tm;

	if (ms <= 0)
		return arena_strdup(a, "");
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return arena_strdup(a, buf);
}

/* A JSON array of strings from a column into an arena string array. */
char **
store_column_string_list(struct arena *a, sqlite3_stmt *st, int col, size_t *n)
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

char **
store_split_csv(struct arena *a, const char *csv, size_t *n)
{
	char **list;
	size_t count = 1, i = 0;

	*n = 0;
	if (csv == NULL || *csv == '\0')
		return NULL;
	for (const char *p = csv; *p != '\0'; p++)
		count += *p == ',';
	list = ARENA_ARRAY(a, char *, count);
	for (const char *p = csv;; p++) {
		const char *end = strchr(p, ',');

		if (end == NULL) {
			list[i++] = arena_strdup(a, p);
			break;
		}
		list[i++] = arena_strndup(a, p, (size_t)(end - p));
		p = end;
	}
	*n = i;
	return list;
}

/* --- services --------------------------------------------------------------- */

int
registry_begin(struct registry *reg)
{
	int rc = sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : registry_fail_sqlite(reg, rc);
}

int
registry_commit(struct registry *reg)
{
	int rc = sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		int code = registry_fail_sqlite(reg, rc);
		registry_rollback(reg);
		return code;
	}
	registry_changed();
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
	sqlite3_stmt *st = registry_stmt(reg, ST_INSTANCE_NAMES);
	uint32_t *numbers = NULL;
	size_t n_numbers = 0, cap = 0, rows = 0, limit;
	unsigned char *taken;
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
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
				return registry_fail(reg, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
			}
			numbers = bigger;
			cap = cap ? cap * 2 : 64;
		}
		numbers[n_numbers++] = (uint32_t)n;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(numbers);
		return registry_fail_sqlite(reg, rc);
	}
	/* At most `rows` numbers are taken: the answer is at most from + rows. */
	if (from == 0)
		from = 1;
	limit = (size_t)from + rows;
	taken = calloc(limit + 1, 1);
	if (taken == NULL) {
		free(numbers);
		return registry_fail(reg, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
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
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_INSERT);
	char now[32];
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
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
	sqlite3_bind_text(st, 11, s->restart != NULL ? s->restart : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)s->revision);
	sqlite3_bind_text(st, 13, s->image_id != NULL ? s->image_id : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		registry_changed();
		return 0;
	}
	switch (sqlite3_extended_errcode(reg->db)) {
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "template %s was deleted", s->template_);
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE:
		return registry_fail(reg, BERTH__V1__CODE__ALREADY_EXISTS,
		    "service %s or port %u is already registered", s->service_id, s->port);
	default:
		return registry_fail_sqlite(reg, rc);
	}
}

static Berth__V1__Service *
service_from_row(struct arena *a, sqlite3_stmt *st)
{
	Berth__V1__Service *s = ARENA_NEW(a, Berth__V1__Service);

	berth__v1__service__init(s);
	s->service_id = store_column_text(a, st, 0);
	s->template_ = store_column_text(a, st, 1);
	s->container_name = store_column_text(a, st, 2);
	s->container_id = store_column_text(a, st, 3);
	s->port = (uint32_t)sqlite3_column_int(st, 4);
	s->instance = store_column_text(a, st, 5);
	s->instance_number = (uint32_t)sqlite3_column_int(st, 6);
	s->project_dir = store_column_text(a, st, 7);
	s->created_at = store_column_text(a, st, 8);
	s->status = store_column_text(a, st, 9);
	s->desired_state = store_column_text(a, st, 10);
	s->health = store_column_text(a, st, 11);
	s->supervisor = store_column_text(a, st, 12);
	s->restarts = (uint32_t)sqlite3_column_int(st, 13);
	s->last_exit_code = sqlite3_column_int(st, 14);
	s->next_restart_at = store_ms_rfc3339(a, sqlite3_column_int64(st, 15));
	s->restart = store_column_text(a, st, 16);
	s->health_message = store_column_text(a, st, 17);
	s->revision = (uint32_t)sqlite3_column_int64(st, 18);
	s->image_id = store_column_text(a, st, 19);
	s->outdated = sqlite3_column_int(st, 20) != 0;
	s->nodes = store_split_csv(a, (const char *)sqlite3_column_text(st, 21), &s->n_nodes);
	return s;
}

int
registry_service_get(struct registry *reg, struct arena *a, const char *service_id,
    Berth__V1__Service **out)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_GET);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "Service '%s' not found", service_id);
	if (rc != SQLITE_ROW)
		return registry_fail_sqlite(reg, rc);
	*out = service_from_row(a, st);
	sqlite3_reset(st);
	return 0;
}

int
registry_service_list(struct registry *reg, struct arena *a, const char *template_name,
    const char *status, Berth__V1__Service ***out, size_t *n)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_LIST);
	size_t count = 0, cap = 16;
	Berth__V1__Service **list;
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
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
		return registry_fail_sqlite(reg, rc);
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
			return registry_fail(reg, BERTH__V1__CODE__ALREADY_EXISTS, "registry: %s",
			    sqlite3_errmsg(reg->db));
		return registry_fail_sqlite(reg, rc);
	}
	if (sqlite3_changes(reg->db) == 0)
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "Service '%s' not found", service_id);
	registry_changed();
	return 0;
}

int
registry_service_update(struct registry *reg, const char *service_id, const char *status,
    const char *container_id)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_UPDATE);
	char now[32];

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
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
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_SET_PORT);
	char now[32];

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	clock_rfc3339_now(now, sizeof(now));
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)port);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	return step_one_row(reg, st, service_id);
}

int
registry_service_delete(struct registry *reg, const char *service_id)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_DELETE);

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	return step_one_row(reg, st, service_id);
}

int
registry_service_ports(struct registry *reg, void (*fn)(void *arg, uint32_t port), void *arg)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_PORTS);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (uint32_t)sqlite3_column_int(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}

int
registry_stats(struct registry *reg, struct arena *a, Berth__V1__GetStatsResponse *out)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_STATS_STATUS);
	size_t cap;
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return registry_fail_sqlite(reg, rc);
	out->total_services = (uint32_t)sqlite3_column_int(st, 0);
	out->running_services = (uint32_t)sqlite3_column_int(st, 1);
	out->stopped_services = (uint32_t)sqlite3_column_int(st, 2);
	sqlite3_reset(st);

	/* Every row holds exactly one port, so total_services sizes the array. */
	cap = out->total_services;
	out->used_ports = ARENA_ARRAY(a, uint32_t, cap ? cap : 1);
	st = registry_stmt(reg, ST_SERVICE_PORTS);
	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	out->n_used_ports = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n_used_ports < cap)
		out->used_ports[out->n_used_ports++] = (uint32_t)sqlite3_column_int(st, 0);
	sqlite3_reset(st);

	st = registry_stmt(reg, ST_STATS_TEMPLATES);
	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	out->templates = ARENA_ARRAY(a, Berth__V1__TemplateCount *, cap ? cap : 1);
	out->n_templates = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n_templates < cap) {
		Berth__V1__TemplateCount *tc = ARENA_NEW(a, Berth__V1__TemplateCount);
		berth__v1__template_count__init(tc);
		tc->template_ = store_column_text(a, st, 0);
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
	sqlite3_stmt *st = registry_stmt(reg, ST_SHUTDOWN_BEGIN);
	char now[32];
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	clock_rfc3339_now(now, sizeof(now));
	sqlite3_bind_text(st, 1, policy, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}

int
registry_shutdown_pending(struct registry *reg, char *policy, size_t len)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SHUTDOWN_PENDING);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(policy, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return BERTH__V1__CODE__NOT_FOUND;
	return rc == SQLITE_ROW ? 0 : registry_fail_sqlite(reg, rc);
}

int
registry_shutdown_done(struct registry *reg)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SHUTDOWN_DONE);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}

/* --- metrics ------------------------------------------------------------ */

int
registry_service_counts(struct registry *reg,
    void (*fn)(void *arg, const char *template_name, const char *status, unsigned count),
    void *arg)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_COUNTS);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1), (unsigned)sqlite3_column_int(st, 2));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}

int
registry_template_port_usage(struct registry *reg,
    void (*fn)(void *arg, const char *template_name, unsigned capacity, unsigned used), void *arg)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_TEMPLATE_PORT_USAGE);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0), (unsigned)sqlite3_column_int(st, 1),
		    (unsigned)sqlite3_column_int(st, 2));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}

sqlite3_stmt *
store_prepare(struct registry *reg, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK) {
		registry_fail_sqlite(reg, rc);
		return NULL;
	}
	return st;
}

int
store_run(struct registry *reg, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}
