/*
 * test_log.c - berthd's log lines (server/log.c): whole lines in order,
 * deferred request lines written within moments and never lost at a
 * clean stop, nothing interleaved across threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/berthd.h"
#include "clock.h"
#include "base/log.h"


static char path[] = "/tmp/berth-test-log-XXXXXX";
static int saved_stderr = -1;

/* stderr goes to a fresh file for each test. */
static int
setup(void **state)
{
	int fd;

	(void)state;
	strcpy(path, "/tmp/berth-test-log-XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_flusher_stop();
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(path);
	return 0;
}

/* The file's contents (static buffer). */
static const char *
contents(void)
{
	static char buf[8 << 20]; /* the many-threads test writes about 3.5 MB */
	FILE *f = fopen(path, "r");
	size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f != NULL)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

static void
test_without_flusher_deferred_lines_are_written_at_once(void **state)
{
	(void)state;
	log_defer(LL_INFO, "rpc method=A code=OK");
	assert_non_null(strstr(contents(), "level=info rpc method=A code=OK\n"));
}

static void
test_deferred_line_is_written_within_moments(void **state)
{
	(void)state;
	assert_int_equal(log_flusher_start(), 0);
	log_defer(LL_INFO, "rpc method=B code=OK");
	for (int i = 0; i < 100 && strstr(contents(), "method=B") == NULL; i++)
		clock_sleep_ms(LOG_DEFER_MS);
	assert_non_null(strstr(contents(), "rpc method=B code=OK\n"));
}

/* A direct line writes the queued ones first: the file keeps the order. */
static void
test_direct_line_follows_the_deferred_ones_before_it(void **state)
{
	const char *text, *first, *second, *third;

	(void)state;
	assert_int_equal(log_flusher_start(), 0);
	log_defer(LL_INFO, "one");
	log_defer(LL_INFO, "two");
	log_write(LL_WARN, "three");
	text = contents();
	first = strstr(text, "level=info one\n");
	second = strstr(text, "level=info two\n");
	third = strstr(text, "level=warn three\n");
	assert_non_null(first);
	assert_non_null(second);
	assert_non_null(third);
	assert_true(first < second && second < third);
}

static void
test_stop_writes_what_is_queued(void **state)
{
	(void)state;
	assert_int_equal(log_flusher_start(), 0);
	for (int i = 0; i < 50; i++)
		log_defer(LL_INFO, "queued line %d", i);
	log_flusher_stop();
	assert_non_null(strstr(contents(), "queued line 0\n"));
	assert_non_null(strstr(contents(), "queued line 49\n"));
}

/* More than the queue holds: written by the caller, nothing lost or cut. */
#define THREADS 4
#define LINES 5000

static void *
writer(void *arg)
{
	for (int i = 0; i < LINES; i++)
		log_defer(LL_INFO, "thread=%d line=%d padding=%0100d", (int)(intptr_t)arg, i, 0);
	return NULL;
}

static void
test_lines_from_many_threads_arrive_whole(void **state)
{
	pthread_t threads[THREADS];
	const char *p;
	int lines = 0;

	(void)state;
	assert_int_equal(log_flusher_start(), 0);
	for (intptr_t t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&threads[t], NULL, writer, (void *)t), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(threads[t], NULL);
	log_flusher_stop();
	for (p = contents(); *p != '\0'; lines++) {
		const char *end = strchr(p, '\n');

		assert_non_null(end);
		assert_true(strncmp(p, "ts=", 3) == 0);
		assert_non_null(memmem(p, (size_t)(end - p), "padding=", 8));
		assert_true(end[-1] == '0');
		p = end + 1;
	}
	assert_int_equal(lines, THREADS * LINES);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_without_flusher_deferred_lines_are_written_at_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_line_is_written_within_moments, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_direct_line_follows_the_deferred_ones_before_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_writes_what_is_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_from_many_threads_arrive_whole, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
