/*
 * test_registry.c - the SQLite registry of templates (server/registry.c) on
 * temporary database files, including two connections on one file as two
 * worker threads use it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/berthd.h"
#include "base/log.h"
#include "store/migrate.h"
#include "registry_fixture.h"
#include "store/registry.h"
#include "store/store_internal.h"


static void
exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
}

static char *
query_text(struct arena *a, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char *v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = arena_strdup(a, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static Berth__V1__Template
make_template(const char *name)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;

	t.name = (char *)name;
	t.description = "a test template";
	t.image = "example/web:1";
	t.container_port = 80;
	t.port_range_start = 9000;
	return t;
}

static void
put_ok(struct registry *reg, const Berth__V1__Template *t, bool expect_created)
{
	bool created = !expect_created;
	int code = registry_template_put(reg, t, &created);

	if (code != 0)
		fail_msg("put %s: code %d: %s", t->name, code, registry_error(reg)->message);
	assert_int_equal(created, expect_created);
}

/* --- opening -------------------------------------------------------------------- */

static void
test_open_turns_on_wal_foreign_keys_and_busy_timeout(void **state)
{
	struct registry_fixture *f = *state;
	sqlite3 *db = registry_db(f->reg);

	assert_string_equal(query_text(&f->arena, db, "PRAGMA journal_mode"), "wal");
	assert_string_equal(query_text(&f->arena, db, "PRAGMA foreign_keys"), "1");
	assert_true(atoi(query_text(&f->arena, db, "PRAGMA busy_timeout")) > 0);
}

static void
test_open_with_migrate_reaches_newest_schema(void **state)
{
	struct registry_fixture *f = *state;

	assert_int_equal(migrate_version(registry_db(f->reg)),
	    migrations[migrations_count - 1].version);
}

static void
test_open_in_missing_directory_fails_with_path(void **state)
{
	struct registry *reg = (struct registry *)0x1;
	struct error err = { 0 };

	(void)state;
	assert_int_equal(registry_open(&reg, "/nonexistent-berth-dir/x/registry.db", true, &err),
	    -1);
	assert_non_null(strstr(err.message, "/nonexistent-berth-dir/x/registry.db"));
}

static void
test_open_refuses_database_of_newer_berthd(void **state)
{
	struct registry_fixture *f = *state;
	struct registry *reg = NULL;
	char sql[64];
	struct error err = { 0 };

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    migrations[migrations_count - 1].version + 1);
	exec_ok(registry_db(f->reg), sql);
	assert_int_equal(registry_open(&reg, f->path, true, &err), -1);
	assert_non_null(strstr(err.message, "newer"));
}

static void
test_open_without_migrate_leaves_schema_alone(void **state)
{
	struct registry_fixture *f = *state;
	struct registry *reg;
	char path[160];
	struct error err = { 0 };
	Berth__V1__Template **list;
	size_t n;

	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	assert_int_equal(registry_open(&reg, path, false, &err), 0);
	assert_int_equal(migrate_version(registry_db(reg)), 0);
	/* No table: the query fails cleanly with a message instead of crashing. */
	assert_int_equal(registry_template_list(reg, &f->arena, &list, &n),
	    BERTH__V1__CODE__INTERNAL);
	assert_non_null(strstr(registry_error(reg)->message, "templates"));
	registry_close(reg);
}

static void
test_close_accepts_null(void **state)
{
	(void)state;
	registry_close(NULL);
}

/* --- list and get ------------------------------------------------------------------ */

static void
test_list_returns_seeds_sorted_by_name(void **state)
{
	static const char *const names[] = { "auth_service", "buckets", "database_service", "db",
		"file_manager" };
	struct registry_fixture *f = *state;
	Berth__V1__Template **list;
	size_t n;

	assert_int_equal(registry_template_list(f->reg, &f->arena, &list, &n), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(list[i]->name, names[i]);
}

static void
test_list_stays_sorted_past_its_initial_capacity(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template **list;
	size_t n;

	/* Insert 40 in descending order; the list must come back ascending. */
	for (int i = 39; i >= 0; i--) {
		char name[16];
		Berth__V1__Template t;

		snprintf(name, sizeof(name), "t%02d", i);
		t = make_template(name);
		put_ok(f->reg, &t, true);
	}
	assert_int_equal(registry_template_list(f->reg, &f->arena, &list, &n), 0);
	assert_int_equal(n, 45);
	for (size_t i = 1; i < n; i++)
		if (strcmp(list[i - 1]->name, list[i]->name) >= 0)
			fail_msg("not sorted at %zu: %s, %s", i, list[i - 1]->name, list[i]->name);
	assert_string_equal(list[5]->name, "t00");
	assert_string_equal(list[44]->name, "t39");
}

static void
test_get_seed_returns_its_fields(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template *t = NULL;

	assert_int_equal(registry_template_get(f->reg, &f->arena, "db", &t), 0);
	assert_non_null(t);
	assert_string_equal(t->name, "db");
	assert_string_equal(t->description, "Database service");
	assert_string_equal(t->image, "uws/db:latest");
	assert_int_equal(t->container_port, 8000);
	assert_int_equal(t->port_range_start, 8010);
	assert_int_equal(t->port_range_end, 8109); /* migration 007: 100 ports */
	assert_string_equal(t->mount_path, "/app");
	assert_string_equal(t->build_context, "");
	assert_int_equal(t->n_env, 0);
	assert_int_equal(t->n_command, 0);
}

static void
test_get_unknown_is_not_found(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template *t = NULL;

	assert_int_equal(registry_template_get(f->reg, &f->arena, "nope", &t),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_null(t);
	assert_non_null(strstr(registry_error(f->reg)->message, "nope"));
}

static void
test_get_treats_sql_metacharacters_as_data(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template *t = NULL;

	assert_int_equal(registry_template_get(f->reg, &f->arena, "x' OR '1'='1", &t),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "db'; DROP TABLE templates; --",
			     &t),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "db", &t), 0);
}

/* --- put -------------------------------------------------------------------------- */

static void
test_put_creates_then_replaces(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("web");
	Berth__V1__Template *got;
	Berth__V1__Template **list;
	size_t n;

	put_ok(f->reg, &t, true);
	t.description = "replaced";
	t.port_range_start = 9500;
	put_ok(f->reg, &t, false);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "web", &got), 0);
	assert_string_equal(got->description, "replaced");
	assert_int_equal(got->port_range_start, 9500);
	assert_int_equal(registry_template_list(f->reg, &f->arena, &list, &n), 0);
	assert_int_equal(n, 6); /* replaced, not added twice */
}

static void
test_put_round_trips_every_field_including_quoted_and_unicode_lists(void **state)
{
	static char *env[] = {
		"QUOTED=\"double\" and 'single'",
		"UNICODE=\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
		"BACKSLASH=C:\\path\\",
		"JSON=[\"not\", \"an\", \"array\"]",
		"EMPTY=",
	};
	static char *command[] = { "sh", "-c", "echo \"hi\" 'there' \\n \xc3\xbc", "", "--x=\"[]\"" };
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("full");
	Berth__V1__Template *got;

	t.description = "Beschreibung mit \xc3\xbc und \"Anf\xc3\xbchrungszeichen\"";
	t.image = "registry.local:5000/team/full@sha256:abc";
	t.build_context = "/srv/build/full";
	t.container_port = 8080;
	t.port_range_start = 10000;
	t.port_range_end = 10099;
	t.mount_path = "/data";
	t.env = env;
	t.n_env = sizeof(env) / sizeof(env[0]);
	t.command = command;
	t.n_command = sizeof(command) / sizeof(command[0]);
	t.stop_timeout_s = 42;
	put_ok(f->reg, &t, true);

	assert_int_equal(registry_template_get(f->reg, &f->arena, "full", &got), 0);
	assert_string_equal(got->name, t.name);
	assert_string_equal(got->description, t.description);
	assert_string_equal(got->image, t.image);
	assert_string_equal(got->build_context, t.build_context);
	assert_int_equal(got->container_port, 8080);
	assert_int_equal(got->port_range_start, 10000);
	assert_int_equal(got->port_range_end, 10099);
	assert_string_equal(got->mount_path, "/data");
	assert_int_equal(got->stop_timeout_s, 42);
	assert_int_equal(got->n_env, t.n_env);
	for (size_t i = 0; i < t.n_env; i++)
		assert_string_equal(got->env[i], env[i]);
	assert_int_equal(got->n_command, t.n_command);
	for (size_t i = 0; i < t.n_command; i++)
		assert_string_equal(got->command[i], command[i]);
}

static void
test_put_replacing_with_empty_lists_clears_them(void **state)
{
	static char *env[] = { "A=1" };
	static char *command[] = { "run" };
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("lists");
	Berth__V1__Template *got;

	t.env = env;
	t.n_env = 1;
	t.command = command;
	t.n_command = 1;
	put_ok(f->reg, &t, true);
	t.n_env = 0;
	t.n_command = 0;
	put_ok(f->reg, &t, false);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "lists", &got), 0);
	assert_int_equal(got->n_env, 0);
	assert_int_equal(got->n_command, 0);
}

static void
test_put_violating_a_constraint_fails_and_rolls_back(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template bad = make_template("bad");
	Berth__V1__Template good = make_template("good");
	Berth__V1__Template *got;
	bool created;

	/* Unvalidated input past the CHECK constraints: SQLite has the last word. */
	bad.container_port = 0;
	assert_int_equal(registry_template_put(f->reg, &bad, &created),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_true(registry_error(f->reg)->message[0] != '\0');
	assert_int_not_equal(sqlite3_get_autocommit(registry_db(f->reg)), 0);
	/* The failed put left no transaction open: the next one works. */
	put_ok(f->reg, &good, true);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "bad", &got),
	    BERTH__V1__CODE__NOT_FOUND);
}

/* --- delete ------------------------------------------------------------------------ */

static void
test_delete_removes_template(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("gone");
	Berth__V1__Template *got;

	put_ok(f->reg, &t, true);
	assert_int_equal(registry_template_delete(f->reg, "gone"), 0);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "gone", &got),
	    BERTH__V1__CODE__NOT_FOUND);
	/* Deleting it again finds nothing. */
	assert_int_equal(registry_template_delete(f->reg, "gone"), BERTH__V1__CODE__NOT_FOUND);
}

static void
test_delete_unknown_is_not_found(void **state)
{
	struct registry_fixture *f = *state;

	assert_int_equal(registry_template_delete(f->reg, "nope"), BERTH__V1__CODE__NOT_FOUND);
	assert_non_null(strstr(registry_error(f->reg)->message, "nope"));
}

static void
test_delete_template_in_use_is_failed_precondition(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template *got;

	exec_ok(registry_db(f->reg),
	    "INSERT INTO services (service_id, template, instance, container_name, port, "
	    "project_dir, status, created_at, updated_at) VALUES ('buckets_instance_1', 'buckets', "
	    "'instance_1', 'buckets_instance_1', 8000, '/tmp/x', 'running', "
	    "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')");
	assert_int_equal(registry_template_delete(f->reg, "buckets"),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(registry_error(f->reg)->message, "buckets"));
	assert_int_equal(registry_template_get(f->reg, &f->arena, "buckets", &got), 0);

	/* Once the service is gone the template can go too. */
	exec_ok(registry_db(f->reg), "DELETE FROM services");
	assert_int_equal(registry_template_delete(f->reg, "buckets"), 0);
}

static void
test_foreign_key_refuses_service_of_unknown_template(void **state)
{
	struct registry_fixture *f = *state;
	int rc = sqlite3_exec(registry_db(f->reg),
	    "INSERT INTO services (service_id, template, instance, container_name, port, "
	    "project_dir, created_at, updated_at) VALUES ('x_1', 'no_such_template', '1', 'x_1', "
	    "8001, '/tmp/x', 'now', 'now')",
	    NULL, NULL, NULL);

	assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);
}

/* --- names ---------------------------------------------------------------------- */

static void
test_template_names_are_sorted_and_comma_separated(void **state)
{
	struct registry_fixture *f = *state;
	char *names = NULL;

	assert_int_equal(registry_template_names(f->reg, &f->arena, &names), 0);
	assert_string_equal(names, "auth_service, buckets, database_service, db, file_manager");
}

static void
test_template_names_of_empty_registry_is_empty_string(void **state)
{
	static const char *const seeds[] = { "auth_service", "buckets", "database_service", "db",
		"file_manager" };
	struct registry_fixture *f = *state;
	char *names = NULL;

	for (size_t i = 0; i < 5; i++)
		assert_int_equal(registry_template_delete(f->reg, seeds[i]), 0);
	assert_int_equal(registry_template_names(f->reg, &f->arena, &names), 0);
	assert_non_null(names);
	assert_string_equal(names, "");
}

/* --- two connections ------------------------------------------------------------ */

static void
test_write_on_one_connection_is_visible_on_another(void **state)
{
	struct registry_fixture *f = *state;
	struct registry *other;
	Berth__V1__Template t = make_template("shared");
	Berth__V1__Template *got;
	struct error err = { 0 };

	/* As a second worker opens it: no migration. */
	assert_int_equal(registry_open(&other, f->path, false, &err), 0);
	/* Prepare the other connection's statements before the write. */
	assert_int_equal(registry_template_get(other, &f->arena, "shared", &got),
	    BERTH__V1__CODE__NOT_FOUND);

	put_ok(f->reg, &t, true);
	assert_int_equal(registry_template_get(other, &f->arena, "shared", &got), 0);
	assert_string_equal(got->image, "example/web:1");

	t.image = "example/web:2";
	put_ok(other, &t, false);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "shared", &got), 0);
	assert_string_equal(got->image, "example/web:2");

	assert_int_equal(registry_template_delete(other, "shared"), 0);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "shared", &got),
	    BERTH__V1__CODE__NOT_FOUND);
	registry_close(other);
}

static void
test_read_on_one_connection_does_not_block_write_on_another(void **state)
{
	struct registry_fixture *f = *state;
	struct registry *other;
	Berth__V1__Template t = make_template("during_read");
	sqlite3_stmt *st;
	struct error err = { 0 };

	assert_int_equal(registry_open(&other, f->path, false, &err), 0);
	/* An open read transaction on `other` (a list in progress)... */
	assert_int_equal(sqlite3_prepare_v2(registry_db(other), "SELECT name FROM templates", -1,
			     &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	/* ...does not stop the writer (WAL). */
	put_ok(f->reg, &t, true);
	sqlite3_finalize(st);
	registry_close(other);
}

/* The generation moves with every change of the services, never with a read. */
static void
test_generation_moves_with_changes_to_services_only(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("web");
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	Berth__V1__GetStatsResponse stats = BERTH__V1__GET_STATS_RESPONSE__INIT;
	Berth__V1__Service *got;
	uint64_t g;
	unsigned number;

	put_ok(f->reg, &t, true);
	s.service_id = "web_instance_1";
	s.template_ = "web";
	s.container_name = "web_instance_1";
	s.container_id = "";
	s.port = 9000;
	s.instance = "instance_1";
	s.instance_number = 1;
	s.project_dir = "/tmp/x";
	s.status = "creating";

	g = registry_generation();
	assert_int_equal(registry_service_insert(f->reg, &s), 0);
	assert_true(registry_generation() > g);

	g = registry_generation();
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &got), 0);
	assert_int_equal(registry_stats(f->reg, &f->arena, &stats), 0);
	assert_int_equal(registry_instance_next(f->reg, "web", 1, &number), 0);
	assert_int_equal(registry_generation(), g);

	assert_int_equal(registry_service_update(f->reg, "web_instance_1", "running", "abc"), 0);
	assert_true(registry_generation() > g);
	g = registry_generation();
	assert_int_equal(registry_service_set_port(f->reg, "web_instance_1", 9001), 0);
	assert_true(registry_generation() > g);

	/* Inside a transaction, the commit moves it again: after the change is visible. */
	assert_int_equal(registry_begin(f->reg), 0);
	assert_int_equal(registry_service_delete(f->reg, "web_instance_1"), 0);
	g = registry_generation();
	assert_int_equal(registry_commit(f->reg), 0);
	assert_true(registry_generation() > g);

	/* A failed change leaves it alone. */
	g = registry_generation();
	assert_int_equal(registry_service_delete(f->reg, "web_instance_1"), BERTH__V1__CODE__NOT_FOUND);
	assert_int_equal(registry_generation(), g);
}

static void
insert_instance(struct registry *reg, const char *instance, unsigned number, unsigned port)
{
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	char id[96];

	snprintf(id, sizeof(id), "web_%s", instance);
	s.service_id = id;
	s.template_ = "web";
	s.container_name = id;
	s.container_id = "";
	s.port = port;
	s.instance = (char *)instance;
	s.instance_number = number;
	s.project_dir = "/tmp/x";
	s.status = "running";
	if (registry_service_insert(reg, &s) != 0)
		fail_msg("insert %s: %s", id, registry_error(reg)->message);
}

/* The lowest number free both as a number and as the name "instance_N". */
static void
test_instance_next_is_the_lowest_free_number(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("web");
	unsigned number = 0;

	put_ok(f->reg, &t, true);
	assert_int_equal(registry_instance_next(f->reg, "web", 1, &number), 0);
	assert_int_equal(number, 1);

	insert_instance(f->reg, "instance_1", 1, 9001);
	insert_instance(f->reg, "instance_2", 2, 9002);
	insert_instance(f->reg, "instance_4", 4, 9004);
	assert_int_equal(registry_instance_next(f->reg, "web", 1, &number), 0);
	assert_int_equal(number, 3);

	/* A named instance called instance_3 takes the name; others are ignored. */
	insert_instance(f->reg, "instance_3", 0, 9003);
	insert_instance(f->reg, "staging", 0, 9010);
	insert_instance(f->reg, "instance_", 0, 9011);
	insert_instance(f->reg, "instance_x", 0, 9012);
	assert_int_equal(registry_instance_next(f->reg, "web", 1, &number), 0);
	assert_int_equal(number, 5);

	/* An adopted container's label read as adopt reads it: instance_05 is 5. */
	insert_instance(f->reg, "instance_05", 5, 9005);
	insert_instance(f->reg, "instance_99999999999", 0, 9013);
	assert_int_equal(registry_instance_next(f->reg, "web", 1, &number), 0);
	assert_int_equal(number, 6);

	/* From a number on (a launch skipping names taken outside the registry). */
	assert_int_equal(registry_instance_next(f->reg, "web", 2, &number), 0);
	assert_int_equal(number, 6);
	assert_int_equal(registry_instance_next(f->reg, "web", 7, &number), 0);
	assert_int_equal(number, 7);
	assert_int_equal(registry_instance_next(f->reg, "web", 40, &number), 0);
	assert_int_equal(number, 40);
	assert_int_equal(registry_instance_next(f->reg, "web", 0, &number), 0);
	assert_int_equal(number, 6);
}

/* Choosing an instance reads the index only, however many rows there are. */
static void
test_instance_next_reads_only_the_index(void **state)
{
	struct registry_fixture *f = *state;
	sqlite3_stmt *st;
	bool covering = false;

	assert_int_equal(sqlite3_prepare_v2(registry_db(f->reg),
			     "EXPLAIN QUERY PLAN SELECT instance FROM services WHERE template = 'web'", -1,
			     &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		covering |= strstr((const char *)sqlite3_column_text(st, 3), "COVERING INDEX") != NULL;
	sqlite3_finalize(st);
	assert_true(covering);
}

/* --- secret env ------------------------------------------------------------------ */

/* Whether any text column of any row of any table holds `needle`, but template_secrets'. */
static bool
value_outside_secrets(sqlite3 *db, const char *needle)
{
	static const char *const tables[] = { "templates", "services", "audit" };
	char sql[256];
	bool found = false;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		sqlite3_stmt *st;

		snprintf(sql, sizeof(sql), "SELECT * FROM %s", tables[i]);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW)
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const char *v = (const char *)sqlite3_column_text(st, c);
				found |= v != NULL && strstr(v, needle) != NULL;
			}
		sqlite3_finalize(st);
	}
	return found;
}

static void
assert_strings(char **got, size_t n, const char *const *want, size_t n_want)
{
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got[i], want[i]);
}

static void
test_secrets_read_as_masked_and_values_only_for_launch(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("web"), *got, **list;
	char *env[] = { "PLAIN=1" }, *secrets[] = { "DB_PASSWORD=hunter2=x", "API_KEY=k3y" };
	static const char *const masked[] = { "API_KEY=***", "DB_PASSWORD=***" };
	static const char *const values[] = { "API_KEY=k3y", "DB_PASSWORD=hunter2=x" };
	char **real;
	size_t n = 0;

	t.env = env;
	t.n_env = 1;
	t.secret_env = secrets;
	t.n_secret_env = 2;
	put_ok(f->reg, &t, true);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "web", &got), 0);
	assert_strings(got->secret_env, got->n_secret_env, masked, 2);
	assert_int_equal(got->n_env, 1);
	assert_string_equal(got->env[0], "PLAIN=1");
	assert_int_equal(registry_template_list(f->reg, &f->arena, &list, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i]->name, "web") == 0)
			assert_strings(list[i]->secret_env, list[i]->n_secret_env, masked, 2);
		else
			assert_int_equal(list[i]->n_secret_env, 0);
	assert_int_equal(registry_template_secret_values(f->reg, &f->arena, "web", &real, &n), 0);
	assert_strings(real, n, values, 2);
	/* Stored apart: the templates row holds no value. */
	assert_false(value_outside_secrets(registry_db(f->reg), "hunter2"));
	assert_false(value_outside_secrets(registry_db(f->reg), "k3y"));
	assert_int_equal(registry_template_secret_values(f->reg, &f->arena, "buckets", &real, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_secrets_put_keeps_masked_replaces_new_and_deletes_unlisted(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("web"), *got;
	char *first[] = { "KEEP=old1", "REPLACE=old2", "DROP=old3" };
	static const char *const after[] = { "ADDED=new4", "KEEP=old1", "REPLACE=new2" };
	char **real;
	size_t n;

	t.secret_env = first;
	t.n_secret_env = 3;
	put_ok(f->reg, &t, true);
	/* What a read answered, sent back with one value changed, one added, one left out. */
	assert_int_equal(registry_template_get(f->reg, &f->arena, "web", &got), 0);
	assert_int_equal(got->n_secret_env, 3);
	char *second[] = { "KEEP=***", "REPLACE=new2", "ADDED=new4" };
	got->secret_env = second;
	got->n_secret_env = 3;
	put_ok(f->reg, got, false);
	assert_int_equal(registry_template_secret_values(f->reg, &f->arena, "web", &real, &n), 0);
	assert_strings(real, n, after, 3);

	/* The same read sent again unchanged changes nothing. */
	assert_int_equal(registry_template_get(f->reg, &f->arena, "web", &got), 0);
	put_ok(f->reg, got, false);
	assert_int_equal(registry_template_secret_values(f->reg, &f->arena, "web", &real, &n), 0);
	assert_strings(real, n, after, 3);

	/* None listed: all go. */
	t.secret_env = NULL;
	t.n_secret_env = 0;
	put_ok(f->reg, &t, false);
	assert_int_equal(registry_template_secret_values(f->reg, &f->arena, "web", &real, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_secrets_put_mask_without_stored_value_fails_and_rolls_back(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("web"), *got;
	char *first[] = { "A=1" }, *second[] = { "A=2", "B=***" };
	char **real;
	bool created;
	size_t n;

	t.secret_env = first;
	t.n_secret_env = 1;
	put_ok(f->reg, &t, true);
	t.secret_env = second;
	t.n_secret_env = 2;
	t.description = "changed";
	assert_int_equal(registry_template_put(f->reg, &t, &created), BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(registry_error(f->reg)->field, "template.secret_env[1]");
	assert_non_null(strstr(registry_error(f->reg)->message, "no stored value for B"));
	/* Nothing of the refused put stayed. */
	assert_int_equal(registry_template_get(f->reg, &f->arena, "web", &got), 0);
	assert_string_equal(got->description, "a test template");
	assert_int_equal(registry_template_secret_values(f->reg, &f->arena, "web", &real, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(real[0], "A=1");
}

static void
test_secrets_go_with_their_template(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template("web");
	char *secrets[] = { "A=1" };
	char **real;
	size_t n;

	t.secret_env = secrets;
	t.n_secret_env = 1;
	put_ok(f->reg, &t, true);
	assert_int_equal(registry_template_delete(f->reg, "web"), 0);
	assert_string_equal(query_text(&f->arena, registry_db(f->reg),
				"SELECT count(*) FROM template_secrets"),
	    "0");
	/* A new template of the same name starts without them. */
	t.secret_env = NULL;
	t.n_secret_env = 0;
	put_ok(f->reg, &t, true);
	assert_int_equal(registry_template_secret_values(f->reg, &f->arena, "web", &real, &n), 0);
	assert_int_equal(n, 0);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, registry_fixture_setup, registry_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_turns_on_wal_foreign_keys_and_busy_timeout),
		T(test_open_with_migrate_reaches_newest_schema),
		cmocka_unit_test(test_open_in_missing_directory_fails_with_path),
		T(test_open_refuses_database_of_newer_berthd),
		T(test_open_without_migrate_leaves_schema_alone),
		cmocka_unit_test(test_close_accepts_null),
		T(test_list_returns_seeds_sorted_by_name),
		T(test_list_stays_sorted_past_its_initial_capacity),
		T(test_get_seed_returns_its_fields),
		T(test_get_unknown_is_not_found),
		T(test_get_treats_sql_metacharacters_as_data),
		T(test_put_creates_then_replaces),
		T(test_put_round_trips_every_field_including_quoted_and_unicode_lists),
		T(test_put_replacing_with_empty_lists_clears_them),
		T(test_put_violating_a_constraint_fails_and_rolls_back),
		T(test_delete_removes_template),
		T(test_delete_unknown_is_not_found),
		T(test_delete_template_in_use_is_failed_precondition),
		T(test_foreign_key_refuses_service_of_unknown_template),
		T(test_template_names_are_sorted_and_comma_separated),
		T(test_template_names_of_empty_registry_is_empty_string),
		T(test_write_on_one_connection_is_visible_on_another),
		T(test_read_on_one_connection_does_not_block_write_on_another),
		T(test_generation_moves_with_changes_to_services_only),
		T(test_instance_next_is_the_lowest_free_number),
		T(test_instance_next_reads_only_the_index),
		T(test_secrets_read_as_masked_and_values_only_for_launch),
		T(test_secrets_put_keeps_masked_replaces_new_and_deletes_unlisted),
		T(test_secrets_put_mask_without_stored_value_fails_and_rolls_back),
		T(test_secrets_go_with_their_template),
	};
#undef T

	log_threshold = LL_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
