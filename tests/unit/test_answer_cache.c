/*
 * test_answer_cache.c - answers kept per (method, request bytes) while the
 * state's version stands (server/answer_cache.c), and forgotten when it
 * moves, when they would not fit, or when a writer races a slow reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/answer_cache.h"
#include "core/berthd.h"


#define GET 7
#define LIST 8

static struct answer_cache *cache;
static struct arena arena;

static int
setup(void **state)
{
	(void)state;
	cache = answer_cache_new(1 << 20);
	arena_init(&arena);
	return cache == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	answer_cache_free(cache);
	arena_reset(&arena);
	return 0;
}

static void
put(unsigned method, const char *request, uint64_t version, const char *answer)
{
	answer_cache_put(cache, method, request, strlen(request), version, answer, strlen(answer));
}

/* The kept answer as a string, or NULL when there is none. */
static const char *
get(unsigned method, const char *request, uint64_t version)
{
	void *answer;
	size_t len;

	if (!answer_cache_get(cache, method, request, strlen(request), version, &arena, &answer,
		&len))
		return NULL;
	((char *)answer)[len] = '\0'; /* the copy has room for one more byte */
	return answer;
}

static void
test_answer_is_kept_per_method_and_request(void **state)
{
	(void)state;
	put(GET, "svc-a", 5, "row a");
	put(GET, "svc-b", 5, "row b");
	put(LIST, "svc-a", 5, "list");
	assert_string_equal(get(GET, "svc-a", 5), "row a");
	assert_string_equal(get(GET, "svc-b", 5), "row b");
	assert_string_equal(get(LIST, "svc-a", 5), "list");
	assert_null(get(GET, "svc-c", 5));
	assert_null(get(GET, "svc-", 5)); /* a prefix is another request */
}

/* ListServices with no filter has an empty payload, whose data protobuf-c leaves NULL. */
static void
test_empty_request_and_answer_are_kept(void **state)
{
	void *out = NULL;
	size_t len = 1;

	(void)state;
	answer_cache_put(cache, LIST, NULL, 0, 5, NULL, 0);
	assert_true(answer_cache_get(cache, LIST, NULL, 0, 5, &arena, &out, &len));
	assert_int_equal(len, 0);
	assert_non_null(out);
	assert_false(answer_cache_get(cache, GET, NULL, 0, 5, &arena, &out, &len));
}

static void
test_new_version_forgets_every_answer(void **state)
{
	(void)state;
	put(GET, "svc-a", 5, "row a");
	assert_null(get(GET, "svc-a", 6));
	/* Forgotten for good: the old version does not bring it back. */
	assert_null(get(GET, "svc-a", 5));
	put(GET, "svc-a", 6, "row a'");
	assert_string_equal(get(GET, "svc-a", 6), "row a'");
}

/* A reader that read version 5, then the state, finishes after a change. */
static void
test_answer_of_an_older_version_is_not_kept(void **state)
{
	(void)state;
	assert_null(get(GET, "svc-b", 6)); /* the cache has seen version 6 */
	put(GET, "svc-a", 5, "stale row");
	assert_null(get(GET, "svc-a", 5));
	assert_null(get(GET, "svc-a", 6));
}

static void
test_first_answer_stays_when_stored_twice(void **state)
{
	(void)state;
	put(GET, "svc-a", 5, "first");
	put(GET, "svc-a", 5, "second");
	assert_string_equal(get(GET, "svc-a", 5), "first");
}

static void
test_answer_larger_than_the_cache_is_not_kept(void **state)
{
	size_t big = (1 << 20) + 1;
	char *answer = malloc(big);
	void *out;
	size_t len;

	(void)state;
	assert_non_null(answer);
	memset(answer, 'x', big);
	answer_cache_put(cache, LIST, "", 0, 5, answer, big);
	assert_false(answer_cache_get(cache, LIST, "", 0, 5, &arena, &out, &len));
	free(answer);
}

/* Past max_bytes the cache starts over with the answer that did not fit. */
static void
test_full_cache_starts_over(void **state)
{
	size_t part = 400 * 1024;
	char *answer = malloc(part);
	void *out;
	size_t len;

	(void)state;
	assert_non_null(answer);
	memset(answer, 'y', part);
	answer_cache_put(cache, LIST, "1", 1, 5, answer, part);
	answer_cache_put(cache, LIST, "2", 1, 5, answer, part);
	assert_true(answer_cache_get(cache, LIST, "1", 1, 5, &arena, &out, &len));
	answer_cache_put(cache, LIST, "3", 1, 5, answer, part); /* 1.2 MB > 1 MB */
	assert_false(answer_cache_get(cache, LIST, "1", 1, 5, &arena, &out, &len));
	assert_true(answer_cache_get(cache, LIST, "3", 1, 5, &arena, &out, &len));
	assert_int_equal(len, part);
	assert_memory_equal(out, answer, part);
	free(answer);
}

/*
 * Readers copy large answers while a writer's version change clears the
 * table: every answer read is whole and of a version that was current.
 */
#define READERS 4
#define ROUNDS 2000
#define BIG 65536

static atomic_uint_fast64_t published; /* the version the writer last stored */
static atomic_bool writing;

struct reader_result {
	size_t hits, torn; /* cmocka's asserts belong to the main thread */
};

static void *
reader(void *arg)
{
	struct reader_result *r = arg;
	struct arena a;

	arena_init(&a);
	while (atomic_load(&writing)) {
		uint64_t v = atomic_load(&published);
		void *out;
		size_t len;

		if (answer_cache_get(cache, LIST, "all", 3, v, &a, &out, &len)) {
			unsigned char *bytes = out;
			bool whole = len == BIG;

			for (size_t i = 0; whole && i < len; i++)
				whole = bytes[i] == (unsigned char)(v & 0xff);
			r->hits++;
			r->torn += !whole;
		}
		arena_reset(&a);
	}
	return NULL;
}

static void
test_concurrent_readers_see_whole_answers(void **state)
{
	pthread_t threads[READERS];
	struct reader_result results[READERS] = { 0 };
	unsigned char *answer = malloc(BIG);
	size_t hits = 0;

	(void)state;
	assert_non_null(answer);
	atomic_store(&published, 0);
	atomic_store(&writing, true);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, reader, &results[i]), 0);
	for (uint64_t v = 1; v <= ROUNDS; v++) {
		memset(answer, (int)(v & 0xff), BIG);
		answer_cache_put(cache, LIST, "all", 3, v, answer, BIG);
		atomic_store(&published, v);
		for (int spin = 0; spin < 2000; spin++) /* let the readers at it */
			__asm__ volatile("" ::: "memory");
	}
	atomic_store(&writing, false);
	for (int i = 0; i < READERS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(results[i].torn, 0);
		hits += results[i].hits;
	}
	free(answer);
	print_message("%zu hits while the writer moved through %d versions\n", hits, ROUNDS);
	assert_true(hits > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answer_is_kept_per_method_and_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty_request_and_answer_are_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_version_forgets_every_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_of_an_older_version_is_not_kept, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_first_answer_stays_when_stored_twice, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_answer_larger_than_the_cache_is_not_kept, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_full_cache_starts_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers_see_whole_answers, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
