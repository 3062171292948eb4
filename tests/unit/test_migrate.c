/*
 * test_migrate.c - schema migrations on real SQLite files (server/migrate.c
 * and the migrations compiled in from the numbered SQL files of migrations/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/berthd.h"
#include "base/log.h"
#include "store/migrate.h"


struct fixture {
	char dir[64];
	char path[128];
	sqlite3 *db;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-migrate-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	if (sqlite3_open(f->path, &f->db) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(f->db, 5000);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	sqlite3_close(f->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static sqlite3 *
open_db(const char *path)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
}

/* The integer result of a one-row, one-column query. */
static int
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static bool
table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	bool found;

	assert_int_equal(sqlite3_prepare_v2(db,
			     "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
			     &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* Every schema object as text, sorted: equal dumps mean equal schemas. */
static char *
schema_dump(sqlite3 *db)
{
	sqlite3_stmt *st;
	size_t len = 0, cap = 4096;
	char *out = malloc(cap);

	assert_non_null(out);
	out[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(db,
			     "SELECT type || ' ' || name || ' ' || tbl_name || ': ' || "
			     "coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
			     -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(st, 0);
		size_t n = strlen(row);

		while (len + n + 2 > cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		memcpy(out + len, row, n);
		len += n;
		out[len++] = '\n';
		out[len] = '\0';
	}
	sqlite3_finalize(st);
	return out;
}

static int
newest_version(void)
{
	return migrations[migrations_count - 1].version;
}

static void
apply_ok(sqlite3 *db, const struct migration *list, unsigned n)
{
	struct error err = { 0 };

	if (migrate_apply(db, list, n, &err) != 0)
		fail_msg("migrate_apply: %s", err.message);
}

/* --- the compiled-in list --------------------------------------------------- */

static void
test_compiled_migrations_are_numbered_one_to_n(void **state)
{
	(void)state;
	assert_true(migrations_count >= 2);
	for (unsigned i = 0; i < migrations_count; i++) {
		char prefix[16];

		assert_int_equal(migrations[i].version, (int)i + 1);
		snprintf(prefix, sizeof(prefix), "%03u_", i + 1);
		assert_non_null(migrations[i].name);
		assert_memory_equal(migrations[i].name, prefix, 4);
		assert_non_null(migrations[i].sql);
		assert_true(migrations[i].sql[0] != '\0');
	}
	assert_string_equal(migrations[0].name, "001_schema");
	assert_string_equal(migrations[1].name, "002_seed_templates");
}

/* --- fresh database ------------------------------------------------------------ */

static void
test_fresh_database_reaches_newest_version(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(migrate_version(f->db), 0);
	apply_ok(f->db, migrations, migrations_count);
	assert_int_equal(migrate_version(f->db), newest_version());
	assert_int_equal(migrate_version(f->db), (int)migrations_count);
	assert_true(table_exists(f->db, "templates"));
	assert_true(table_exists(f->db, "services"));
	assert_int_not_equal(sqlite3_get_autocommit(f->db), 0); /* no transaction left open */
}

static void
test_fresh_database_has_the_five_seed_templates(void **state)
{
	static const struct {
		const char *name, *description;
		int port;
	} seeds[] = {
		/* sorted by name, as the query below */
		{ "auth_service", "Authentication service", 8020 },
		{ "buckets", "Bucket service", 8000 },
		{ "database_service", "Database service", 8040 },
		{ "db", "Database service", 8010 },
		{ "file_manager", "File management service", 8030 },
	};
	struct fixture *f = *state;
	sqlite3_stmt *st;
	size_t i = 0;

	apply_ok(f->db, migrations, migrations_count);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM templates"), 5);
	assert_int_equal(sqlite3_prepare_v2(f->db,
			     "SELECT name, description, image, container_port, port_range_start, "
			     "port_range_end, mount_path, env, command, created_at "
			     "FROM templates ORDER BY name",
			     -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char image[64];

		assert_true(i < 5);
		snprintf(image, sizeof(image), "uws/%s:latest", seeds[i].name);
		assert_string_equal(sqlite3_column_text(st, 0), seeds[i].name);
		assert_string_equal(sqlite3_column_text(st, 1), seeds[i].description);
		assert_string_equal(sqlite3_column_text(st, 2), image);
		assert_int_equal(sqlite3_column_int(st, 3), 8000);
		assert_int_equal(sqlite3_column_int(st, 4), seeds[i].port);
		/* 007: 100 ports from the one each prefers, no longer open to 65535. */
		assert_int_equal(sqlite3_column_int(st, 5), seeds[i].port + 99);
		assert_string_equal(sqlite3_column_text(st, 6), "/app");
		assert_string_equal(sqlite3_column_text(st, 7), "[]");
		assert_string_equal(sqlite3_column_text(st, 8), "[]");
		/* RFC 3339 UTC: 2026-11-26T10:30:00Z */
		assert_int_equal(strlen((const char *)sqlite3_column_text(st, 9)), 20);
		i++;
	}
	sqlite3_finalize(st);
	assert_int_equal(i, 5);
}

static void
test_applying_twice_is_a_no_op(void **state)
{
	struct fixture *f = *state;
	char *before, *after;

	apply_ok(f->db, migrations, migrations_count);
	before = schema_dump(f->db);
	apply_ok(f->db, migrations, migrations_count);
	after = schema_dump(f->db);
	assert_int_equal(migrate_version(f->db), newest_version());
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM templates"), 5);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_applying_on_another_connection_later_is_a_no_op(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db2;

	apply_ok(f->db, migrations, migrations_count);
	db2 = open_db(f->path);
	apply_ok(db2, migrations, migrations_count);
	assert_int_equal(migrate_version(db2), newest_version());
	assert_int_equal(query_int(db2, "SELECT count(*) FROM templates"), 5);
	sqlite3_close(db2);
}

/* --- refusals ----------------------------------------------------------------- */

static void
test_database_newer_than_binary_is_refused(void **state)
{
	struct fixture *f = *state;
	char sql[64];
	struct error err = { 0 };

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newest_version() + 1);
	exec_ok(f->db, sql);
	assert_int_equal(migrate_apply(f->db, migrations, migrations_count, &err), -1);
	assert_non_null(strstr(err.message, "newer"));
	/* Nothing was touched. */
	assert_int_equal(migrate_version(f->db), newest_version() + 1);
	assert_false(table_exists(f->db, "templates"));
	assert_int_not_equal(sqlite3_get_autocommit(f->db), 0);
}

static void
test_fully_migrated_database_newer_than_binary_is_refused(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };

	/* A binary that knows only step 1 meets a database at the newest version. */
	apply_ok(f->db, migrations, migrations_count);
	assert_int_equal(migrate_apply(f->db, migrations, 1, &err), -1);
	assert_non_null(strstr(err.message, "newer"));
	assert_int_equal(migrate_version(f->db), newest_version());
}

static void
test_migration_that_skips_a_version_is_refused(void **state)
{
	static const struct migration gap[] = {
		{ 1, "001_one", "CREATE TABLE one (x INTEGER);" },
		{ 3, "003_three", "CREATE TABLE three (x INTEGER);" },
	};
	struct fixture *f = *state;
	struct error err = { 0 };

	assert_int_equal(migrate_apply(f->db, gap, 2, &err), -1);
	assert_non_null(strstr(err.message, "003_three"));
	assert_int_equal(migrate_version(f->db), 1);
	assert_false(table_exists(f->db, "three"));
}

/* --- failures roll back ---------------------------------------------------------- */

static void
test_failing_migration_rolls_back_its_whole_step(void **state)
{
	static const struct migration steps[] = {
		{ 1, "001_ok", "CREATE TABLE one (x INTEGER); INSERT INTO one VALUES (1);" },
		{ 2, "002_bad", "CREATE TABLE two (y INTEGER);\n"
				"INSERT INTO two VALUES (2);\n"
				"INSERT INTO no_such_table VALUES (3);\n" },
	};
	struct fixture *f = *state;
	struct error err = { 0 };

	assert_int_equal(migrate_apply(f->db, steps, 2, &err), -1);
	assert_non_null(strstr(err.message, "002_bad"));
	assert_non_null(strstr(err.message, "no_such_table"));
	assert_int_equal(migrate_version(f->db), 1);
	assert_true(table_exists(f->db, "one"));
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM one"), 1);
	assert_false(table_exists(f->db, "two"));
	/* The connection is not left inside the failed transaction. */
	assert_int_not_equal(sqlite3_get_autocommit(f->db), 0);
}

static void
test_failing_migration_leaves_no_trace_for_another_connection(void **state)
{
	static const struct migration steps[] = {
		{ 1, "001_ok", "CREATE TABLE one (x INTEGER);" },
		{ 2, "002_bad", "CREATE TABLE two (y INTEGER); SELEC nonsense;" },
	};
	struct fixture *f = *state;
	struct error err = { 0 };
	sqlite3 *db2;

	assert_int_equal(migrate_apply(f->db, steps, 2, &err), -1);
	db2 = open_db(f->path);
	assert_int_equal(migrate_version(db2), 1);
	assert_false(table_exists(db2, "two"));
	sqlite3_close(db2);
}

static void
test_fixed_migration_applies_after_a_failed_one(void **state)
{
	static const struct migration bad[] = {
		{ 1, "001_ok", "CREATE TABLE one (x INTEGER);" },
		{ 2, "002_bad", "CREATE TABLE two (y INTEGER); INSERT INTO nope VALUES (1);" },
	};
	static const struct migration fixed[] = {
		{ 1, "001_ok", "CREATE TABLE one (x INTEGER);" },
		{ 2, "002_fixed", "CREATE TABLE two (y INTEGER);" },
	};
	struct fixture *f = *state;
	struct error err = { 0 };

	assert_int_equal(migrate_apply(f->db, bad, 2, &err), -1);
	apply_ok(f->db, fixed, 2);
	assert_int_equal(migrate_version(f->db), 2);
	assert_true(table_exists(f->db, "two"));
}

/* --- upgrades ----------------------------------------------------------------- */

static void
test_upgrade_from_every_earlier_version_matches_fresh_schema(void **state)
{
	struct fixture *f = *state;
	char *fresh;

	apply_ok(f->db, migrations, migrations_count);
	fresh = schema_dump(f->db);

	for (unsigned k = 0; k < migrations_count; k++) {
		char path[160];
		sqlite3 *db;
		char *upgraded;

		snprintf(path, sizeof(path), "%s/upgrade-%u.db", f->dir, k);
		db = open_db(path);
		apply_ok(db, migrations, k);
		assert_int_equal(migrate_version(db), k == 0 ? 0 : migrations[k - 1].version);
		apply_ok(db, migrations, migrations_count);
		assert_int_equal(migrate_version(db), newest_version());
		upgraded = schema_dump(db);
		assert_string_equal(upgraded, fresh);
		assert_int_equal(query_int(db, "SELECT count(*) FROM templates"),
		    query_int(f->db, "SELECT count(*) FROM templates"));
		free(upgraded);
		sqlite3_close(db);
	}
	free(fresh);
}

/* --- two migrators at once ------------------------------------------------------ */

struct racer {
	const char *path;
	pthread_barrier_t *start;
	int rc;
	struct error err;
};

static void *
race_migrate(void *arg)
{
	struct racer *r = arg;
	sqlite3 *db;

	if (sqlite3_open(r->path, &db) != SQLITE_OK) {
		r->rc = -2;
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	pthread_barrier_wait(r->start);
	r->rc = migrate_apply(db, migrations, migrations_count, &r->err);
	sqlite3_close(db);
	return NULL;
}

static void
test_two_connections_migrating_at_once_apply_each_step_once(void **state)
{
	struct fixture *f = *state;
	pthread_barrier_t start;
	struct racer r[2];
	pthread_t t[2];

	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].path = f->path;
		r[i].start = &start;
		assert_int_equal(pthread_create(&t[i], NULL, race_migrate, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < 2; i++)
		if (r[i].rc != 0)
			fail_msg("migrator %d: %s", i, r[i].err.message);
	assert_int_equal(migrate_version(f->db), newest_version());
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM templates"), 5);
}

/*
 * Migration 007 gives the seed templates ranges of 100 ports, but leaves a
 * seed template an operator replaced (updated_at moved) as it is.
 */
static void
test_seed_ranges_migration_leaves_replaced_templates_alone(void **state)
{
	struct fixture *f = *state;
	unsigned upto = 0;

	for (unsigned i = 0; i < migrations_count; i++)
		if (strncmp(migrations[i].name, "007", 3) == 0)
			upto = i;
	assert_true(upto > 0);
	apply_ok(f->db, migrations, upto);
	exec_ok(f->db, "UPDATE templates SET updated_at = '2099-01-01T00:00:00Z' WHERE name = 'db'");
	apply_ok(f->db, migrations, migrations_count);
	assert_int_equal(query_int(f->db, "SELECT port_range_end FROM templates WHERE name = 'db'"), 0);
	assert_int_equal(
	    query_int(f->db, "SELECT port_range_end FROM templates WHERE name = 'buckets'"), 8099);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compiled_migrations_are_numbered_one_to_n),
		cmocka_unit_test_setup_teardown(test_fresh_database_reaches_newest_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_database_has_the_five_seed_templates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_applying_twice_is_a_no_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seed_ranges_migration_leaves_replaced_templates_alone,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_applying_on_another_connection_later_is_a_no_op,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_database_newer_than_binary_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fully_migrated_database_newer_than_binary_is_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_that_skips_a_version_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failing_migration_rolls_back_its_whole_step, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_failing_migration_leaves_no_trace_for_another_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_migration_applies_after_a_failed_one, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_upgrade_from_every_earlier_version_matches_fresh_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_two_connections_migrating_at_once_apply_each_step_once, setup, teardown),
	};

	log_threshold = LL_ERROR; /* no "migrated ..." lines between test results */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
