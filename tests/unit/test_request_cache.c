/*
 * test_request_cache.c - at-most-once execution of mutating calls per
 * request_id (server/request_cache.c), including waiters on other threads.
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
#include <time.h>

#include "core/berthd.h"
#include "clock.h"
#include "rpc/request_cache.h"


#define LONG_TTL_MS (60 * 1000)

/* The TTL's clock in these tests: moved by hand, never slept on. */
static _Atomic int64_t fake_now_ms = 1000000;

static int64_t
fake_clock(void)
{
	return atomic_load(&fake_now_ms);
}

static void
advance_ms(int64_t ms)
{
	atomic_fetch_add(&fake_now_ms, ms);
}

/* A cache whose TTL runs on fake_clock. */
static struct request_cache *
cache_on_fake_clock(size_t capacity, int64_t ttl_ms)
{
	struct request_cache *c = request_cache_new(capacity, ttl_ms);

	assert_non_null(c);
	request_cache_set_clock(c, fake_clock);
	return c;
}

static int64_t
in_ms(int64_t ms)
{
	return clock_monotonic_ms() + ms;
}

/* Claims `key` and expects REQUEST_REPLAY with exactly `want`. */
static void
assert_replay(struct request_cache *c, const char *key, const char *want)
{
	void *reply = NULL;
	size_t len = 0;

	assert_int_equal(request_cache_claim(c, key, NULL, in_ms(1000), &reply, &len), REQUEST_REPLAY);
	assert_non_null(reply);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(reply, want, len);
	free(reply);
}

static void
assert_run(struct request_cache *c, const char *key)
{
	void *reply = NULL;
	size_t len = 0;

	assert_int_equal(request_cache_claim(c, key, NULL, in_ms(1000), &reply, &len), REQUEST_RUN);
	assert_null(reply);
}

/* --- single thread ------------------------------------------------------------ */

static void
test_new_key_runs(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);

	(void)state;
	assert_non_null(c);
	assert_run(c, "PutTemplate\nid-1");
	request_cache_free(c);
}

static void
test_finished_key_replays_identical_bytes(void **state)
{
	static const unsigned char bytes[] = { 0x08, 0x00, 0x12, 0x03, 'a', 0x00, 'b', 0xff };
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);
	void *reply = NULL;
	size_t len = 0;

	(void)state;
	assert_run(c, "k");
	request_cache_finish(c, "k", bytes, sizeof(bytes));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(request_cache_claim(c, "k", NULL, in_ms(1000), &reply, &len),
		    REQUEST_REPLAY);
		assert_int_equal(len, sizeof(bytes));
		assert_memory_equal(reply, bytes, sizeof(bytes)); /* embedded NULs kept */
		free(reply);
	}
	request_cache_free(c);
}

static void
test_replay_is_a_copy_owned_by_the_caller(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);
	char original[] = "reply";
	void *reply;
	size_t len;

	(void)state;
	assert_run(c, "k");
	request_cache_finish(c, "k", original, 5);
	original[0] = 'X'; /* the cache copied it */
	assert_int_equal(request_cache_claim(c, "k", NULL, in_ms(1000), &reply, &len), REQUEST_REPLAY);
	memset(reply, 'Z', len); /* scribbling on our copy... */
	free(reply);
	assert_replay(c, "k", "reply"); /* ...does not change the cache's */
	request_cache_free(c);
}

static void
test_empty_reply_replays_as_empty(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);

	(void)state;
	assert_run(c, "k");
	request_cache_finish(c, "k", "", 0);
	assert_replay(c, "k", "");
	request_cache_free(c);
}

static void
test_abandoned_key_runs_again(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);

	(void)state;
	assert_run(c, "k");
	request_cache_abandon(c, "k");
	assert_run(c, "k");
	request_cache_finish(c, "k", "second", 6);
	assert_replay(c, "k", "second");
	request_cache_free(c);
}

static void
test_abandon_does_not_forget_a_finished_key(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);

	(void)state;
	assert_run(c, "k");
	request_cache_finish(c, "k", "done", 4);
	request_cache_abandon(c, "k");
	assert_replay(c, "k", "done");
	request_cache_free(c);
}

static void
test_different_keys_are_independent(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);
	void *reply = NULL;
	size_t len;

	(void)state;
	assert_run(c, "PutTemplate\nid");
	/* Same id, other method; past deadline: a mix-up would answer BUSY at once. */
	assert_int_equal(request_cache_claim(c, "DeleteTemplate\nid", NULL, in_ms(-1), &reply, &len),
	    REQUEST_RUN);
	request_cache_finish(c, "PutTemplate\nid", "put", 3);
	request_cache_finish(c, "DeleteTemplate\nid", "delete", 6);
	assert_replay(c, "PutTemplate\nid", "put");
	assert_replay(c, "DeleteTemplate\nid", "delete");
	request_cache_free(c);
}

static void
test_finish_and_abandon_of_unknown_keys_are_harmless(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);

	(void)state;
	request_cache_finish(c, "never-claimed", "x", 1);
	request_cache_abandon(c, "never-claimed-either");
	assert_run(c, "never-claimed");
	request_cache_free(c);
}

static void
test_free_accepts_null(void **state)
{
	(void)state;
	request_cache_free(NULL);
}

/* --- deadlines and expiry --------------------------------------------------------- */

static void
test_running_key_with_passed_deadline_is_busy_at_once(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);
	void *reply = NULL;
	size_t len;
	int64_t started;

	(void)state;
	assert_run(c, "k");
	started = clock_monotonic_ms();
	assert_int_equal(request_cache_claim(c, "k", NULL, in_ms(-10), &reply, &len), REQUEST_BUSY);
	assert_null(reply);
	assert_true(clock_monotonic_ms() - started < 1000);
	request_cache_free(c);
}

static void
test_waiter_whose_deadline_passes_gets_busy(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);
	void *reply = NULL;
	size_t len;
	int64_t started, waited;

	(void)state;
	assert_run(c, "k");
	started = clock_monotonic_ms();
	assert_int_equal(request_cache_claim(c, "k", NULL, started + 150, &reply, &len), REQUEST_BUSY);
	waited = clock_monotonic_ms() - started;
	assert_null(reply);
	assert_true(waited >= 140); /* it did wait for the deadline... */
	assert_true(waited < 5000); /* ...and not much longer */
	/* The first claimant can still finish it. */
	request_cache_finish(c, "k", "ok", 2);
	assert_replay(c, "k", "ok");
	request_cache_free(c);
}

static void
test_finished_key_runs_again_after_ttl(void **state)
{
	struct request_cache *c = cache_on_fake_clock(8, 50);

	(void)state;
	assert_run(c, "k");
	request_cache_finish(c, "k", "old", 3);
	assert_replay(c, "k", "old");
	advance_ms(49);
	assert_replay(c, "k", "old"); /* not yet */
	advance_ms(1);
	assert_run(c, "k");
	request_cache_free(c);
}

static void
test_running_key_does_not_expire(void **state)
{
	struct request_cache *c = cache_on_fake_clock(8, 20);
	void *reply = NULL;
	size_t len;

	(void)state;
	assert_run(c, "k");
	advance_ms(60); /* longer than the TTL: TTL counts from finish, not from claim */
	assert_int_equal(request_cache_claim(c, "k", NULL, in_ms(-1), &reply, &len), REQUEST_BUSY);
	request_cache_free(c);
}

/* --- capacity ---------------------------------------------------------------------- */

static void
test_full_of_finished_entries_evicts_the_oldest(void **state)
{
	struct request_cache *c = cache_on_fake_clock(4, LONG_TTL_MS);
	char key[16];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_run(c, key);
		request_cache_finish(c, key, key, strlen(key));
		advance_ms(2); /* distinct expiry times */
	}
	assert_run(c, "k4"); /* the table is full: k0, the oldest, makes room */
	request_cache_finish(c, "k4", "k4", 2);
	assert_replay(c, "k1", "k1");
	assert_replay(c, "k2", "k2");
	assert_replay(c, "k3", "k3");
	assert_replay(c, "k4", "k4");
	assert_run(c, "k0"); /* forgotten */
	request_cache_free(c);
}

static void
test_keeps_working_through_many_more_keys_than_capacity(void **state)
{
	struct request_cache *c = request_cache_new(4, LONG_TTL_MS);
	char key[32], last[32] = "";

	(void)state;
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "PutTemplate\n%08d", i);
		assert_run(c, key);
		request_cache_finish(c, key, key, strlen(key));
		snprintf(last, sizeof(last), "%s", key);
	}
	assert_replay(c, last, last);
	request_cache_free(c);
}

static void
test_full_of_running_entries_still_runs_new_keys(void **state)
{
	struct request_cache *c = request_cache_new(2, LONG_TTL_MS);

	(void)state;
	assert_run(c, "a");
	assert_run(c, "b");
	/* No slot can be freed: the call runs without deduplication. */
	assert_run(c, "c");
	request_cache_finish(c, "c", "c", 1);
	request_cache_finish(c, "a", "a", 1);
	assert_replay(c, "a", "a");
	request_cache_free(c);
}

/* --- several threads -------------------------------------------------------------- */

struct claimer {
	struct request_cache *cache;
	const char *key;
	int64_t deadline_ms;
	atomic_bool started;
	atomic_bool returned;
	enum request_claim claim;
	void *reply;
	size_t len;
};

static void *
claim_thread(void *arg)
{
	struct claimer *cl = arg;

	atomic_store(&cl->started, true);
	cl->claim = request_cache_claim(cl->cache, cl->key, NULL, cl->deadline_ms, &cl->reply, &cl->len);
	atomic_store(&cl->returned, true);
	return NULL;
}

static void
start_claimer(struct claimer *cl, pthread_t *t, struct request_cache *c, const char *key,
    int64_t deadline_ms)
{
	memset(cl, 0, sizeof(*cl));
	cl->cache = c;
	cl->key = key;
	cl->deadline_ms = deadline_ms;
	assert_int_equal(pthread_create(t, NULL, claim_thread, cl), 0);
	while (!atomic_load(&cl->started))
		clock_sleep_ms(1);
}

static void
test_waiter_on_running_key_gets_replay_after_finish(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);
	struct claimer cl;
	pthread_t t;

	(void)state;
	assert_run(c, "k");
	start_claimer(&cl, &t, c, "k", in_ms(10000));
	clock_sleep_ms(150); /* a negative: give it time to return wrongly */
	assert_false(atomic_load(&cl.returned)); /* it waits while "k" runs */
	request_cache_finish(c, "k", "result", 6);
	pthread_join(t, NULL);
	assert_int_equal(cl.claim, REQUEST_REPLAY);
	assert_int_equal(cl.len, 6);
	assert_memory_equal(cl.reply, "result", 6);
	free(cl.reply);
	request_cache_free(c);
}

static void
test_waiter_on_abandoned_key_takes_over_and_runs(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);
	struct claimer cl;
	pthread_t t;
	void *reply = NULL;
	size_t len;

	(void)state;
	assert_run(c, "k");
	start_claimer(&cl, &t, c, "k", in_ms(10000));
	clock_sleep_ms(100); /* a negative: give it time to return wrongly */
	assert_false(atomic_load(&cl.returned));
	request_cache_abandon(c, "k");
	pthread_join(t, NULL);
	assert_int_equal(cl.claim, REQUEST_RUN);
	assert_null(cl.reply);
	/* The waiter now owns the key: a third claim waits on it, not runs it. */
	assert_int_equal(request_cache_claim(c, "k", NULL, in_ms(-1), &reply, &len), REQUEST_BUSY);
	request_cache_free(c);
}

static void
test_many_waiters_all_get_the_same_replay(void **state)
{
	enum { WAITERS = 6 };
	struct request_cache *c = request_cache_new(16, LONG_TTL_MS);
	struct claimer cl[WAITERS];
	pthread_t t[WAITERS];

	(void)state;
	assert_run(c, "k");
	for (int i = 0; i < WAITERS; i++)
		start_claimer(&cl[i], &t[i], c, "k", in_ms(10000));
	clock_sleep_ms(50); /* a negative: give it time to return wrongly */
	for (int i = 0; i < WAITERS; i++)
		assert_false(atomic_load(&cl[i].returned));
	request_cache_finish(c, "k", "shared", 6);
	for (int i = 0; i < WAITERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(cl[i].claim, REQUEST_REPLAY);
		assert_memory_equal(cl[i].reply, "shared", 6);
		free(cl[i].reply);
	}
	request_cache_free(c);
}

static void
test_waiter_is_not_woken_early_by_other_keys(void **state)
{
	struct request_cache *c = request_cache_new(8, LONG_TTL_MS);
	struct claimer cl;
	pthread_t t;

	(void)state;
	assert_run(c, "k");
	assert_run(c, "other");
	start_claimer(&cl, &t, c, "k", in_ms(10000));
	request_cache_finish(c, "other", "o", 1); /* broadcasts, but not for "k" */
	clock_sleep_ms(100); /* a negative: give it time to return wrongly */
	assert_false(atomic_load(&cl.returned));
	request_cache_finish(c, "k", "k", 1);
	pthread_join(t, NULL);
	assert_int_equal(cl.claim, REQUEST_REPLAY);
	free(cl.reply);
	request_cache_free(c);
}

/* Threads racing to claim one fresh key: exactly one runs it. */
struct racer {
	struct request_cache *cache;
	pthread_barrier_t *start;
	atomic_int *runs;
};

static void *
race_thread(void *arg)
{
	struct racer *r = arg;
	void *reply = NULL;
	size_t len;

	pthread_barrier_wait(r->start);
	switch (request_cache_claim(r->cache, "race", NULL, in_ms(10000), &reply, &len)) {
	case REQUEST_RUN:
		atomic_fetch_add(r->runs, 1);
		clock_sleep_ms(20); /* the call "runs" a while: pacing, not a wait */
		request_cache_finish(r->cache, "race", "won", 3);
		break;
	case REQUEST_REPLAY:
		free(reply);
		break;
	case REQUEST_BUSY:
	case REQUEST_CONFLICT:
		break;
	}
	return NULL;
}

/*
 * LaunchService{A} and then LaunchService{B} with one request id replayed
 * A's answer and launched nothing for B: a key that comes again with
 * another digest is a conflict, never a replay.
 */
static void
test_same_key_with_another_digest_is_a_conflict(void **state)
{
	struct request_cache *c = request_cache_new(8, 60000);
	unsigned char a[REQUEST_DIGEST_LEN], b[REQUEST_DIGEST_LEN];
	void *reply = NULL;
	size_t len = 0;

	(void)state;
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	assert_int_equal(request_cache_claim(c, "k", a, in_ms(1000), &reply, &len), REQUEST_RUN);
	/* While the first runs, too: the second does not wait for an answer not its own. */
	assert_int_equal(request_cache_claim(c, "k", b, in_ms(1000), &reply, &len), REQUEST_CONFLICT);
	request_cache_finish(c, "k", "A", 1);
	assert_int_equal(request_cache_claim(c, "k", b, in_ms(1000), &reply, &len), REQUEST_CONFLICT);
	assert_int_equal(request_cache_claim(c, "k", a, in_ms(1000), &reply, &len), REQUEST_REPLAY);
	assert_int_equal(len, 1);
	assert_memory_equal(reply, "A", 1);
	free(reply);
	request_cache_free(c);
}

static void
test_concurrent_claims_of_one_key_run_it_once(void **state)
{
	enum { THREADS = 8 };
	struct request_cache *c = request_cache_new(16, LONG_TTL_MS);
	pthread_barrier_t start;
	pthread_t t[THREADS];
	struct racer r;
	atomic_int runs = 0;

	(void)state;
	pthread_barrier_init(&start, NULL, THREADS);
	r = (struct racer){ c, &start, &runs };
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	assert_int_equal(atomic_load(&runs), 1);
	assert_replay(c, "race", "won");
	request_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_key_runs),
		cmocka_unit_test(test_finished_key_replays_identical_bytes),
		cmocka_unit_test(test_replay_is_a_copy_owned_by_the_caller),
		cmocka_unit_test(test_empty_reply_replays_as_empty),
		cmocka_unit_test(test_abandoned_key_runs_again),
		cmocka_unit_test(test_abandon_does_not_forget_a_finished_key),
		cmocka_unit_test(test_different_keys_are_independent),
		cmocka_unit_test(test_finish_and_abandon_of_unknown_keys_are_harmless),
		cmocka_unit_test(test_free_accepts_null),
		cmocka_unit_test(test_running_key_with_passed_deadline_is_busy_at_once),
		cmocka_unit_test(test_waiter_whose_deadline_passes_gets_busy),
		cmocka_unit_test(test_finished_key_runs_again_after_ttl),
		cmocka_unit_test(test_running_key_does_not_expire),
		cmocka_unit_test(test_full_of_finished_entries_evicts_the_oldest),
		cmocka_unit_test(test_keeps_working_through_many_more_keys_than_capacity),
		cmocka_unit_test(test_full_of_running_entries_still_runs_new_keys),
		cmocka_unit_test(test_waiter_on_running_key_gets_replay_after_finish),
		cmocka_unit_test(test_waiter_on_abandoned_key_takes_over_and_runs),
		cmocka_unit_test(test_many_waiters_all_get_the_same_replay),
		cmocka_unit_test(test_waiter_is_not_woken_early_by_other_keys),
		cmocka_unit_test(test_same_key_with_another_digest_is_a_conflict),
		cmocka_unit_test(test_concurrent_claims_of_one_key_run_it_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
