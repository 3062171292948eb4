/*
 * test_event_log.c - the events kept (server/core/event_log.c over
 * server/store/event_store.c): reads in sequence order even when two
 * publishers deliver out of order, never past one still on its way;
 * filters that move the cursor on; the newest `keep` in memory and in the
 * registry; sequences that go on after a clean close and jump past the
 * reservation after an unclean one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "core/event_log.h"
#include "registry_fixture.h"
#include "store/event_store.h"

static void
append(struct event_log *log, uint64_t seq, const char *service, const char *template_name)
{
	Berth__V1__Event ev = BERTH__V1__EVENT__INIT;

	ev.sequence = seq;
	ev.time = "2026-01-01T00:00:00.000Z";
	ev.type = BERTH__V1__EVENT__TYPE__SERVICE_LAUNCHED;
	ev.service_id = (char *)service;
	ev.template_ = (char *)template_name;
	ev.message = "m";
	event_log_append(log, &ev);
}

static struct event_log *
open_log(struct registry_fixture *f, uint64_t keep, uint64_t *last)
{
	struct event_log *log = NULL;
	struct error err = { 0 };

	if (event_log_open(&log, f->path, keep, last, &err) != 0)
		fail_msg("event_log_open: %s", err.message);
	return log;
}

/* Rows in the registry's events table, once the writer caught up. */
static size_t
stored(struct registry_fixture *f, uint64_t *oldest)
{
	Berth__V1__Event **events;
	uint64_t reserved;
	size_t n = 0;

	arena_reset(&f->arena);
	assert_int_equal(event_store_load(f->reg, &f->arena, 1000000, &events, &n, &reserved), 0);
	*oldest = n > 0 ? events[0]->sequence : 0;
	return n;
}

static void
test_reads_stop_before_an_event_still_on_its_way(void **state)
{
	struct registry_fixture *f = *state;
	struct event_log_page page;
	uint64_t last;
	struct event_log *log = open_log(f, 100, &last);

	assert_int_equal(last, 0);
	append(log, 1, "a", "t");
	append(log, 3, "a", "t"); /* 2 is late */
	event_log_read(log, &f->arena, 0, 100, "", "", &page);
	assert_int_equal(page.n, 1);
	assert_int_equal(page.cursor, 1);
	assert_int_equal(page.last, 1);
	append(log, 2, "b", "t");
	event_log_read(log, &f->arena, 1, 100, "", "", &page);
	assert_int_equal(page.n, 2);
	assert_int_equal(page.events[0]->sequence, 2);
	assert_int_equal(page.events[1]->sequence, 3);
	assert_int_equal(page.cursor, 3);
	assert_int_equal(page.oldest, 1);
	event_log_close(log);
}

static void
test_filters_move_the_cursor_past_other_events(void **state)
{
	struct registry_fixture *f = *state;
	struct event_log_page page;
	uint64_t last;
	struct event_log *log = open_log(f, 100, &last);

	append(log, 1, "a", "web");
	append(log, 2, "b", "db");
	append(log, 3, "c", "db");
	event_log_read(log, &f->arena, 0, 100, "", "web", &page);
	assert_int_equal(page.n, 1);
	assert_string_equal(page.events[0]->service_id, "a");
	assert_int_equal(page.cursor, 3);
	event_log_read(log, &f->arena, 0, 100, "c", "", &page);
	assert_int_equal(page.n, 1);
	assert_int_equal(page.events[0]->sequence, 3);
	event_log_read(log, &f->arena, 0, 1, "", "db", &page);
	assert_int_equal(page.n, 1);
	assert_int_equal(page.cursor, 2); /* the page is full: the cursor stops there */
	event_log_close(log);
}

/*
 * An event so late that `keep` newer ones arrived before it no longer fits
 * in the ring: reads and the writer do not wait for it forever.
 */
static void
test_an_event_later_than_keep_newer_ones_does_not_stop_the_log(void **state)
{
	struct registry_fixture *f = *state;
	struct event_log_page page;
	uint64_t last, oldest;
	struct event_log *log = open_log(f, 10, &last);

	append(log, 1, "s", "t");
	for (uint64_t i = 3; i <= 14; i++) /* 2 is on its way */
		append(log, i, "s", "t");
	append(log, 2, "s", "t"); /* older than everything kept now */
	append(log, 15, "s", "t");
	event_log_read(log, &f->arena, 0, 100, "", "", &page);
	assert_int_equal(page.n, 10);
	assert_int_equal(page.oldest, 6);
	assert_int_equal(page.last, 15);
	assert_int_equal(page.cursor, 15);
	event_log_close(log);
	assert_int_equal(stored(f, &oldest), 10);
	assert_int_equal(oldest, 6);
}

/* Runs `sql` on a connection of its own to the registry file: 0 or SQLite's code. */
static int
exec_sql(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(db_path, &db);

	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

/* Lines of `path` that contain `needle`. */
static int
count_lines(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

/*
 * A registry that refuses every batch is tried again after a growing
 * pause, not every WRITER_DELAY_MS while events wait: the log is not
 * flooded with warnings.
 */
static void
test_a_failing_registry_is_retried_with_a_pause(void **state)
{
	struct registry_fixture *f = *state;
	struct event_log_page page;
	char path[160];
	uint64_t last;
	int saved, fd, warnings;
	struct event_log *log = open_log(f, 100, &last);

	snprintf(path, sizeof(path), "%s/stderr.txt", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	/* Every append now fails: no events table. */
	assert_int_equal(exec_sql(f->path, "DROP TABLE events"), 0);
	dup2(fd, STDERR_FILENO);
	append(log, 1, "s", "t");
	clock_sleep_ms(1000);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	warnings = count_lines(path, "cannot keep events in the registry");
	assert_true(warnings >= 1);
	assert_true(warnings <= 5);
	event_log_read(log, &f->arena, 0, 100, "", "", &page);
	assert_int_equal(page.n, 1); /* still in memory */
	event_log_close(log);
}

static void
test_only_the_newest_are_kept_in_memory_and_registry(void **state)
{
	struct registry_fixture *f = *state;
	struct event_log_page page;
	uint64_t last, oldest;
	struct event_log *log = open_log(f, 10, &last);

	for (uint64_t i = 1; i <= 25; i++)
		append(log, i, "s", "t");
	event_log_read(log, &f->arena, 0, 100, "", "", &page);
	assert_int_equal(page.n, 10);
	assert_int_equal(page.oldest, 16);
	assert_int_equal(page.last, 25);
	event_log_close(log); /* writes what is left */
	assert_int_equal(stored(f, &oldest), 10);
	assert_int_equal(oldest, 16);
}

static void
test_sequences_go_on_after_a_clean_close(void **state)
{
	struct registry_fixture *f = *state;
	struct event_log_page page;
	uint64_t last;
	struct event_log *log = open_log(f, 100, &last);

	for (uint64_t i = 1; i <= 5; i++)
		append(log, i, "s", "t");
	event_log_close(log);
	log = open_log(f, 100, &last);
	assert_int_equal(last, 5);
	event_log_read(log, &f->arena, 2, 100, "", "", &page);
	assert_int_equal(page.n, 3);
	assert_int_equal(page.events[2]->sequence, 5);
	append(log, 6, "s", "t");
	event_log_read(log, &f->arena, 5, 100, "", "", &page);
	assert_int_equal(page.n, 1);
	event_log_close(log);
}

/* A berthd killed with events unwritten: the next one starts past every sequence reserved. */
static void
test_an_unclean_end_starts_past_the_reservation(void **state)
{
	struct registry_fixture *f = *state;
	uint64_t last;
	struct event_log *log = open_log(f, 100, &last);

	append(log, 1, "s", "t");
	event_log_close(log);
	/* As a killed berthd leaves it: the reservation ahead of the rows. */
	assert_int_equal(event_store_reserve(f->reg, 100001), 0);
	log = open_log(f, 100, &last);
	assert_int_equal(last, 100001);
	event_log_close(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_stop_before_an_event_still_on_its_way,
		    registry_fixture_setup, registry_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_filters_move_the_cursor_past_other_events,
		    registry_fixture_setup, registry_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_an_event_later_than_keep_newer_ones_does_not_stop_the_log,
		    registry_fixture_setup, registry_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_a_failing_registry_is_retried_with_a_pause,
		    registry_fixture_setup, registry_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_only_the_newest_are_kept_in_memory_and_registry,
		    registry_fixture_setup, registry_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sequences_go_on_after_a_clean_close,
		    registry_fixture_setup, registry_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_an_unclean_end_starts_past_the_reservation,
		    registry_fixture_setup, registry_fixture_teardown),
	};

	return cmocka_run_group_tests_name("event_log", tests, NULL, NULL);
}
