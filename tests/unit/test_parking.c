/*
 * test_parking.c - long polls parked by the RPC server (server/rpc/parking.c):
 * a handler that calls call_park is answered later, from a parking thread,
 * when woken, at the end of its wait (unable to park again), or when the
 * server stops; at most max_parked_calls wait; a parked call holds no
 * worker and does not count for rpc_server_wait_idle; a connection that
 * goes away drops its parked calls.
 *
 * The handler ("WatchEvents") answers when `published` is above the
 * request's after_sequence, else parks for wait_ms on CALL_WAKE_EVENTS.
 * Handlers never call cmocka: they count, the test thread asserts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/call.h"
#include "berth.h"
#include "clock.h"
#include "rpc/dispatch.h"
#include "rpc/rpc_server.h"

struct test_app {
	atomic_ullong published;
	atomic_int runs;
	atomic_int could_not_park; /* runs that wanted to wait and had may_park false */
	atomic_int opens;
	/* Runs left that publish one event and wake, after reading, before parking. */
	atomic_int publish_while_running;
	/* The next run waits for `release` before it parks (in_handler says it is there). */
	atomic_bool hold_next_run, in_handler, release;
	struct rpc_server *srv;
};

static struct test_app app;

static int
handle_watch(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__WatchEventsRequest *in = (const Berth__V1__WatchEventsRequest *)req;
	Berth__V1__WatchEventsResponse *out = (Berth__V1__WatchEventsResponse *)reply;
	uint64_t now = atomic_load(&app.published);

	atomic_fetch_add(&app.runs, 1);
	out->cursor = in->after_sequence;
	out->last_sequence = now;
	if (now > in->after_sequence || in->wait_ms == 0)
		return 0;
	if (atomic_exchange(&app.hold_next_run, false)) {
		int64_t until = clock_monotonic_ms() + 5000;

		atomic_store(&app.in_handler, true);
		while (!atomic_load(&app.release) && clock_monotonic_ms() < until)
			clock_sleep_ms(5);
	}
	if (atomic_fetch_sub(&app.publish_while_running, 1) > 0) {
		/* The news arrives after the read and before the call is parked. */
		atomic_fetch_add(&app.published, 1);
		rpc_server_wake(app.srv, CALL_WAKE_EVENTS);
	} else {
		atomic_store(&app.publish_while_running, 0);
	}
	if (call_park(call, clock_monotonic_ms() + in->wait_ms, 0, CALL_WAKE_EVENTS))
		return 0;
	if (!call->may_park)
		atomic_fetch_add(&app.could_not_park, 1);
	return 0;
}

static int
handle_health(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	(void)call, (void)req, (void)reply;
	return 0;
}

static const struct rpc_route routes[] = {
	{ "Health", handle_health, false },
	{ "WatchEvents", handle_watch, false },
};

static void *
worker_open(void *a)
{
	atomic_fetch_add(&((struct test_app *)a)->opens, 1);
	return malloc(1);
}

static void
worker_close(void *w)
{
	free(w);
}

struct fixture {
	char url[128];
	const char *urls[1];
	struct dispatch_table table;
	struct rpc_server_hooks hooks;
	struct rpc_server_config config;
	struct rpc_server *srv;
	void *worker; /* this thread's, for rpc_server_submit */
};

static struct fixture *
start(int max_parked)
{
	static atomic_int counter;
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	assert_non_null(f);
	memset(&app, 0, sizeof(app));
	snprintf(f->url, sizeof(f->url), "ipc:///tmp/berth-parking-test-%d-%d.sock", (int)getpid(),
	    atomic_fetch_add(&counter, 1));
	if (dispatch_table_init(&f->table, routes, 2, &err) != 0)
		fail_msg("dispatch_table_init: %s", err.message);
	f->hooks = (struct rpc_server_hooks){ &app, worker_open, worker_close };
	f->urls[0] = f->url;
	f->config = (struct rpc_server_config){ .urls = f->urls, .n_urls = 1, .workers = 2, .max_request_bytes = 65536, .default_timeout_ms = 30000, .ipc = { 0600, -1 }, .max_parked_calls = max_parked };
	if (rpc_server_start(&f->srv, &f->config, &f->table, &f->hooks, &err) != 0)
		fail_msg("rpc_server_start: %s", err.message);
	f->worker = rpc_server_worker_open(f->srv);
	app.srv = f->srv;
	return f;
}

static void
stop(struct fixture *f)
{
	rpc_server_worker_close(f->srv, f->worker);
	rpc_server_stop(f->srv);
	unlink(f->url + strlen("ipc://"));
	free(f);
}

/* An encoded RpcRequest for WatchEvents(after, wait_ms) with `timeout_ms`. */
static uint8_t *
watch_request(uint64_t after, uint32_t wait_ms, uint32_t timeout_ms, size_t *len)
{
	Berth__V1__WatchEventsRequest w = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;
	uint8_t payload[64], *buf;

	w.after_sequence = after;
	w.wait_ms = wait_ms;
	env.method = "/berth.v1.Berth/WatchEvents";
	env.timeout_ms = timeout_ms;
	env.payload.len = berth__v1__watch_events_request__pack(&w, payload);
	env.payload.data = payload;
	*len = berth__v1__rpc_request__get_packed_size(&env);
	buf = malloc(*len);
	assert_non_null(buf);
	berth__v1__rpc_request__pack(&env, buf);
	return buf;
}

/* What done saw, for one submitted call. */
struct answer {
	atomic_int calls;
	int code;
	uint64_t last_sequence;
	pthread_t thread;
	int64_t at_ms;
};

static void
done(void *arg, int code, void *reply, size_t len)
{
	struct answer *a = arg;
	Berth__V1__RpcResponse *resp = reply != NULL ? berth__v1__rpc_response__unpack(NULL, len, reply) : NULL;

	a->code = code;
	a->thread = pthread_self();
	a->at_ms = clock_monotonic_ms();
	if (resp != NULL) {
		Berth__V1__WatchEventsResponse *w = berth__v1__watch_events_response__unpack(NULL,
		    resp->payload.len, resp->payload.data);

		if (w != NULL)
			a->last_sequence = w->last_sequence;
		berth__v1__watch_events_response__free_unpacked(w, NULL);
		berth__v1__rpc_response__free_unpacked(resp, NULL);
	}
	free(reply);
	atomic_fetch_add(&a->calls, 1);
}

static void
submit(struct fixture *f, uint64_t after, uint32_t wait_ms, uint32_t timeout_ms, struct answer *a)
{
	size_t len;
	uint8_t *req = watch_request(after, wait_ms, timeout_ms, &len);

	assert_int_equal(rpc_server_submit(f->srv, f->worker, 0, "test", req, len, done, a), 0);
	free(req);
}

static bool
wait_calls(struct answer *a, int n, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;

	while (atomic_load(&a->calls) < n && clock_monotonic_ms() < until)
		clock_sleep_ms(5);
	return atomic_load(&a->calls) >= n;
}

/* --- tests ---------------------------------------------------------------------- */

/* A call with something to answer is answered on the calling thread. */
static void
test_call_with_an_answer_is_answered_at_once(void **state)
{
	struct fixture *f = start(8);
	struct answer a = { 0 };

	(void)state;
	atomic_store(&app.published, 3);
	submit(f, 1, 5000, 30000, &a);
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_true(pthread_equal(a.thread, pthread_self()));
	assert_int_equal(a.last_sequence, 3);
	assert_int_equal(rpc_server_parked(f->srv), 0);
	stop(f);
}

/* A parked call is answered once, from another thread, when woken. */
static void
test_parked_call_is_answered_when_woken(void **state)
{
	struct fixture *f = start(8);
	struct answer a = { 0 };

	(void)state;
	submit(f, 0, 20000, 30000, &a);
	assert_int_equal(atomic_load(&a.calls), 0);
	assert_int_equal(rpc_server_parked(f->srv), 1);
	/* A wake on another channel, or with nothing new, leaves it waiting. */
	rpc_server_wake(f->srv, CALL_WAKE_NONE);
	rpc_server_wake(f->srv, CALL_WAKE_EVENTS);
	clock_sleep_ms(100);
	assert_int_equal(atomic_load(&a.calls), 0);
	assert_int_equal(rpc_server_parked(f->srv), 1);

	atomic_store(&app.published, 1);
	rpc_server_wake(f->srv, CALL_WAKE_EVENTS);
	assert_true(wait_calls(&a, 1, 5000));
	assert_int_equal(a.code, 0);
	assert_int_equal(a.last_sequence, 1);
	assert_false(pthread_equal(a.thread, pthread_self()));
	clock_sleep_ms(50);
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_int_equal(rpc_server_parked(f->srv), 0);
	stop(f);
}

/*
 * A wake that comes while the call runs (after its handler read, before it
 * is parked) is not lost: the call runs again at once, on its first run and
 * on a re-run alike.
 */
static void
test_wake_while_running_is_not_lost(void **state)
{
	struct fixture *f = start(8);
	struct answer a = { 0 }, b = { 0 };
	int64_t began = clock_monotonic_ms();

	(void)state;
	atomic_store(&app.publish_while_running, 1);
	submit(f, 0, 20000, 30000, &a);
	assert_true(wait_calls(&a, 1, 3000));
	assert_int_equal(a.last_sequence, 1);
	assert_true(a.at_ms - began < 3000);

	/* On a re-run: parked, woken with nothing new, and the news comes during that run. */
	submit(f, 1, 20000, 30000, &b);
	assert_int_equal(rpc_server_parked(f->srv), 1);
	atomic_store(&app.publish_while_running, 1);
	began = clock_monotonic_ms();
	rpc_server_wake(f->srv, CALL_WAKE_EVENTS);
	assert_true(wait_calls(&b, 1, 3000));
	assert_int_equal(b.last_sequence, 2);
	assert_true(b.at_ms - began < 3000);
	stop(f);
}

/* Unwoken, it is answered at the end of its wait, by a run that may not park. */
static void
test_parked_call_is_answered_at_the_end_of_its_wait(void **state)
{
	struct fixture *f = start(8);
	struct answer a = { 0 };
	int64_t t0 = clock_monotonic_ms();

	(void)state;
	submit(f, 0, 300, 30000, &a);
	assert_true(wait_calls(&a, 1, 5000));
	assert_true(a.at_ms - t0 >= 290);
	assert_int_equal(a.code, 0);
	assert_int_equal(atomic_load(&app.could_not_park), 1);
	stop(f);
}

/* The wait never passes the call's deadline. */
static void
test_wait_is_capped_at_the_deadline(void **state)
{
	struct fixture *f = start(8);
	struct answer a = { 0 };
	int64_t t0 = clock_monotonic_ms();

	(void)state;
	submit(f, 0, 60000, 400, &a);
	assert_true(wait_calls(&a, 1, 5000));
	assert_true(a.at_ms - t0 < 2000);
	stop(f);
}

/* Beyond max_parked_calls a call cannot park: it answers at once. */
static void
test_calls_beyond_the_cap_answer_at_once(void **state)
{
	struct fixture *f = start(2);
	struct answer a[3] = { 0 };

	(void)state;
	for (int i = 0; i < 3; i++)
		submit(f, 0, 20000, 30000, &a[i]);
	assert_int_equal(rpc_server_parked(f->srv), 2);
	assert_int_equal(atomic_load(&a[2].calls), 1);
	assert_int_equal(atomic_load(&app.could_not_park), 1);
	stop(f);
	for (int i = 0; i < 2; i++)
		assert_int_equal(atomic_load(&a[i].calls), 1);
}

/* Draining waits for calls in flight, not for parked ones; stopping answers them promptly. */
static void
test_parked_calls_do_not_hold_up_idle_or_stop(void **state)
{
	struct fixture *f = start(8);
	struct answer a = { 0 };
	int64_t t0;

	(void)state;
	submit(f, 0, 20000, 30000, &a);
	assert_int_equal(rpc_server_wait_idle(f->srv, 100), 0);
	t0 = clock_monotonic_ms();
	stop(f);
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_int_equal(a.code, 0);
	assert_true(a.at_ms - t0 < 2000);
}

/* No parking configured: nothing parks. */
static void
test_zero_max_parked_calls_parks_nothing(void **state)
{
	struct fixture *f = start(0);
	struct answer a = { 0 };

	(void)state;
	submit(f, 0, 20000, 30000, &a);
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_int_equal(atomic_load(&app.could_not_park), 1);
	stop(f);
}

struct client_run {
	berth_client *c;
	uint32_t wait_ms;
	int code;
	atomic_bool done;
};

static void *
client_main(void *arg)
{
	struct client_run *r = arg;
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	berth_status st;

	req.wait_ms = r->wait_ms;
	r->code = berth_call(r->c, "WatchEvents", &req.base, &rep, &st);
	berth_reply_free(rep);
	atomic_store(&r->done, true);
	return NULL;
}

/*
 * Over nng: more parked calls than workers and than the context pool
 * holds, and the workers still answer; woken, each gets its answer.
 */
static void
test_nng_calls_park_beyond_the_workers_and_pool(void **state)
{
	enum { N = 24 }; /* 2 workers x (1 + 8) contexts = 18 */
	struct fixture *f = start(64);
	struct client_run runs[N];
	pthread_t threads[N];
	berth_client *health;
	berth_status st;
	int64_t until;

	(void)state;
	for (int i = 0; i < N; i++) {
		runs[i] = (struct client_run){ .wait_ms = 20000 };
		assert_int_equal(berth_open(&runs[i].c, f->url, NULL, &st), 0);
		assert_int_equal(pthread_create(&threads[i], NULL, client_main, &runs[i]), 0);
	}
	until = clock_monotonic_ms() + 5000;
	while (rpc_server_parked(f->srv) < N && clock_monotonic_ms() < until)
		clock_sleep_ms(10);
	assert_int_equal(rpc_server_parked(f->srv), N);
	assert_int_equal(berth_open(&health, f->url, NULL, &st), 0);
	{
		Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
		ProtobufCMessage *rep = NULL;

		assert_int_equal(berth_call(health, "Health", &req.base, &rep, &st), 0);
		berth_reply_free(rep);
	}
	atomic_store(&app.published, 1);
	rpc_server_wake(f->srv, CALL_WAKE_EVENTS);
	for (int i = 0; i < N; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(runs[i].code, 0);
		berth_close(runs[i].c);
	}
	assert_int_equal(rpc_server_parked(f->srv), 0);
	berth_close(health);
	stop(f);
}

/* A client that goes away takes its parked call with it. */
static void
test_connection_gone_drops_its_parked_call(void **state)
{
	struct fixture *f = start(8);
	struct client_run run = { .wait_ms = 20000 };
	pthread_t t;
	berth_status st;
	int64_t until;

	(void)state;
	assert_int_equal(berth_open(&run.c, f->url, NULL, &st), 0);
	assert_int_equal(pthread_create(&t, NULL, client_main, &run), 0);
	until = clock_monotonic_ms() + 5000;
	while (rpc_server_parked(f->srv) < 1 && clock_monotonic_ms() < until)
		clock_sleep_ms(10);
	assert_int_equal(rpc_server_parked(f->srv), 1);
	berth_close(run.c); /* the call fails on the client's side */
	pthread_join(t, NULL);
	until = clock_monotonic_ms() + 5000;
	while (rpc_server_parked(f->srv) > 0 && clock_monotonic_ms() < until)
		clock_sleep_ms(10);
	assert_int_equal(rpc_server_parked(f->srv), 0);
	assert_int_equal(atomic_load(&app.runs), 1); /* dropped, not run again */
	stop(f);
}

/* A client that goes away while its call runs, before it parks: dropped all the same. */
static void
test_connection_gone_while_running_drops_the_call(void **state)
{
	struct fixture *f = start(8);
	struct client_run run = { .wait_ms = 20000 };
	pthread_t t;
	berth_status st;
	int64_t until;

	(void)state;
	atomic_store(&app.hold_next_run, true);
	assert_int_equal(berth_open(&run.c, f->url, NULL, &st), 0);
	assert_int_equal(pthread_create(&t, NULL, client_main, &run), 0);
	until = clock_monotonic_ms() + 5000;
	while (!atomic_load(&app.in_handler) && clock_monotonic_ms() < until)
		clock_sleep_ms(10);
	assert_true(atomic_load(&app.in_handler));
	berth_close(run.c);
	pthread_join(t, NULL);
	clock_sleep_ms(300); /* the server sees the connection gone */
	atomic_store(&app.release, true);
	clock_sleep_ms(300); /* the handler parks the call, which is then dropped */
	until = clock_monotonic_ms() + 3000;
	while (rpc_server_parked(f->srv) > 0 && clock_monotonic_ms() < until)
		clock_sleep_ms(10);
	assert_int_equal(rpc_server_parked(f->srv), 0);
	assert_int_equal(atomic_load(&app.runs), 1); /* dropped, not run again */
	stop(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_with_an_answer_is_answered_at_once),
		cmocka_unit_test(test_parked_call_is_answered_when_woken),
		cmocka_unit_test(test_wake_while_running_is_not_lost),
		cmocka_unit_test(test_parked_call_is_answered_at_the_end_of_its_wait),
		cmocka_unit_test(test_wait_is_capped_at_the_deadline),
		cmocka_unit_test(test_calls_beyond_the_cap_answer_at_once),
		cmocka_unit_test(test_parked_calls_do_not_hold_up_idle_or_stop),
		cmocka_unit_test(test_zero_max_parked_calls_parks_nothing),
		cmocka_unit_test(test_nng_calls_park_beyond_the_workers_and_pool),
		cmocka_unit_test(test_connection_gone_drops_its_parked_call),
		cmocka_unit_test(test_connection_gone_while_running_drops_the_call),
	};

	return cmocka_run_group_tests_name("parking", tests, NULL, NULL);
}
