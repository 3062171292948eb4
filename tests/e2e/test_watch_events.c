/*
 * test_watch_events.c - WatchEvents, berth's events as a long poll over the
 * RPC: a late client gets what happened before it came; sequences and
 * events survive a restart (SIGTERM and kill -9); a client too far behind
 * is told OUT_OF_RANGE with the oldest sequence kept; a waiting poll wakes
 * when an event is published; a hundred waiting polls (ipc and tcp with a
 * token) hold no worker of two; parked polls count toward their
 * connection's in-flight limit; a shutdown answers waiting polls at once;
 * hostile sizes and waits are capped.
 *
 * A real berthd and the real Docker engine; events come from launching and
 * removing demo services. Every container carries the daemon's data-dir
 * label and is removed by the teardown, also on failure.
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

#include "berth.h"
#include "clock.h"
#include "e2e.h"

static struct e2e_daemon dmn;
static bool dmn_up;
static uint16_t base_port;

/* One WatchEvents call; the reply (caller frees) or NULL with st set. */
static Berth__V1__WatchEventsResponse *
watch(berth_client *c, uint64_t after, uint32_t max, uint32_t wait_ms, const char *service_id,
    berth_status *st)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	Berth__V1__WatchEventsResponse *r = NULL;

	req.after_sequence = after;
	req.max_events = max;
	req.wait_ms = wait_ms;
	req.service_id = (char *)(service_id != NULL ? service_id : "");
	if (berth_call(c, "WatchEvents", &req.base, (ProtobufCMessage **)&r, st) != 0)
		return NULL;
	return r;
}

static Berth__V1__WatchEventsResponse *
watch_ok(berth_client *c, uint64_t after, uint32_t max, uint32_t wait_ms, const char *service_id)
{
	berth_status st;
	Berth__V1__WatchEventsResponse *r = watch(c, after, max, wait_ms, service_id, &st);

	if (r == NULL)
		fail_msg("WatchEvents: %s: %s", berth_code_name(st.code), st.message);
	return r;
}

/* The newest sequence berthd has (0 when none). */
static uint64_t
last_sequence(berth_client *c)
{
	Berth__V1__WatchEventsResponse *r = watch_ok(c, 0, 1, 0, NULL);
	uint64_t last = r->last_sequence;

	berth_reply_free(&r->base);
	return last;
}

/* Launches demo/<instance> (one SERVICE_LAUNCHED event); its service id into id. */
static void
launch(const char *instance, char *id, size_t len)
{
	berth_status st;
	Berth__V1__LaunchServiceResponse *r = e2e_launch(dmn.client, "demo", instance, 0, &st);

	if (r == NULL)
		fail_msg("launch %s: %s: %s", instance, berth_code_name(st.code), st.message);
	if (id != NULL)
		snprintf(id, len, "%s", r->service->service_id);
	berth_reply_free(&r->base);
}

/* A fresh berthd with the demo template and `args`. */
static void
start(const char *const *args)
{
	assert_int_equal(e2e_daemon_start(&dmn, args), 0);
	dmn_up = true;
	assert_int_equal(e2e_put_demo_template(dmn.client, "demo", base_port, base_port + 19), 0);
}

static int
teardown_test(void **state)
{
	(void)state;
	if (dmn_up)
		e2e_daemon_destroy(&dmn, true);
	dmn_up = false;
	base_port = (uint16_t)(base_port + 20);
	return 0;
}

static int
setup_group(void **state)
{
	(void)state;
	if (e2e_demo_context() == NULL || e2e_docker() == NULL)
		return -1;
	base_port = (uint16_t)(27000 + (getpid() % 50) * 200);
	return 0;
}

/* --- a poll in a thread ------------------------------------------------------ */

struct poll_run {
	berth_client *c;
	uint64_t after;
	uint32_t wait_ms;
	const char *service_id;
	pthread_t thread;
	atomic_bool done;
	int code;
	size_t n_events;
	uint64_t first_sequence;
	int64_t answered_ms; /* monotonic */
};

static void *
poll_main(void *arg)
{
	struct poll_run *p = arg;
	berth_status st;
	Berth__V1__WatchEventsResponse *r = watch(p->c, p->after, 0, p->wait_ms, p->service_id, &st);

	p->answered_ms = clock_monotonic_ms();
	p->code = r != NULL ? 0 : st.code;
	if (r != NULL) {
		p->n_events = r->n_events;
		p->first_sequence = r->n_events > 0 ? r->events[0]->sequence : 0;
		berth_reply_free(&r->base);
	}
	atomic_store(&p->done, true);
	return NULL;
}

static void
poll_start(struct poll_run *p)
{
	atomic_init(&p->done, false);
	assert_int_equal(pthread_create(&p->thread, NULL, poll_main, p), 0);
}

/* --- tests ---------------------------------------------------------------------- */

/* What happened before a client came is there for it, in order, filtered on request. */
static void
test_late_client_gets_past_events(void **state)
{
	char a[128], b[128];
	Berth__V1__WatchEventsResponse *r;
	berth_client *late;

	(void)state;
	start(NULL);
	launch("one", a, sizeof(a));
	launch("two", b, sizeof(b));
	assert_int_equal(e2e_remove_service(dmn.client, a, true, false), 0);

	assert_int_equal(e2e_daemon_connect(&dmn, 0), 0);
	late = dmn.client;
	r = watch_ok(late, 0, 0, 0, NULL);
	assert_true(r->n_events >= 3);
	for (size_t i = 1; i < r->n_events; i++)
		assert_true(r->events[i]->sequence > r->events[i - 1]->sequence);
	assert_int_equal(r->cursor, r->events[r->n_events - 1]->sequence);
	assert_int_equal(r->last_sequence, r->cursor);
	assert_true(r->oldest_sequence >= 1 && r->oldest_sequence <= r->events[0]->sequence);
	berth_reply_free(&r->base);

	/* Only b's: its launch; the cursor still moves past a's removal. */
	r = watch_ok(late, 0, 0, 0, b);
	assert_int_equal(r->n_events, 1);
	assert_int_equal(r->events[0]->type, BERTH__V1__EVENT__TYPE__SERVICE_LAUNCHED);
	assert_string_equal(r->events[0]->service_id, b);
	assert_int_equal(r->cursor, r->last_sequence);
	berth_reply_free(&r->base);

	/* max_events pages. */
	r = watch_ok(late, 0, 1, 0, NULL);
	assert_int_equal(r->n_events, 1);
	assert_int_equal(r->cursor, r->events[0]->sequence);
	berth_reply_free(&r->base);
}

/* A poll waiting for the next event gets it when it is published, not at the end of its wait. */
static void
test_waiting_poll_wakes_when_an_event_is_published(void **state)
{
	struct poll_run p = { 0 };
	berth_client *c;
	int64_t published;

	(void)state;
	start(NULL);
	assert_int_equal(berth_open(&c, dmn.proc.url, NULL, NULL), 0);
	p.c = c;
	p.after = last_sequence(dmn.client);
	p.wait_ms = 20000;
	poll_start(&p);
	clock_sleep_ms(300);
	assert_false(atomic_load(&p.done));
	published = clock_monotonic_ms();
	launch("wake", NULL, 0);
	assert_true(E2E_WAIT_UNTIL(atomic_load(&p.done), 10000));
	pthread_join(p.thread, NULL);
	assert_int_equal(p.code, 0);
	assert_int_equal(p.n_events, 1);
	assert_int_equal(p.first_sequence, p.after + 1);
	print_message("woken %lld ms after the launch began (the launch included)\n",
	    (long long)(p.answered_ms - published));
	berth_close(c);
}

/* Sequences go on after SIGTERM and after kill -9; the events kept are still there. */
static void
test_restart_keeps_sequences_and_events(void **state)
{
	const char *const args[] = { "--on-exit", "keep", NULL };
	Berth__V1__WatchEventsResponse *r;
	uint64_t before, after_term, after_kill;
	char id[128];

	(void)state;
	start(args);
	launch("kept", id, sizeof(id));
	before = last_sequence(dmn.client);
	assert_true(before >= 1);

	assert_int_equal(berthd_proc_stop(&dmn.proc, 30), 0);
	assert_int_equal(e2e_daemon_restart(&dmn, args), 0);
	r = watch_ok(dmn.client, 0, 0, 0, id);
	assert_true(r->n_events >= 1);
	assert_int_equal(r->events[0]->type, BERTH__V1__EVENT__TYPE__SERVICE_LAUNCHED);
	berth_reply_free(&r->base);
	after_term = last_sequence(dmn.client);
	assert_true(after_term > before); /* the shutdown's events, and any from the start */

	/* kill -9 after the writer had its time: nothing it wrote is lost, nothing repeats. */
	assert_int_equal(e2e_remove_service(dmn.client, id, true, false), 0);
	after_kill = last_sequence(dmn.client);
	clock_sleep_ms(500);
	berthd_proc_kill(&dmn.proc);
	assert_int_equal(e2e_daemon_restart(&dmn, args), 0);
	r = watch_ok(dmn.client, after_term, 0, 0, id);
	assert_true(r->n_events >= 1);
	assert_int_equal(r->events[0]->type, BERTH__V1__EVENT__TYPE__SERVICE_REMOVED);
	berth_reply_free(&r->base);
	launch("fresh", NULL, 0);
	r = watch_ok(dmn.client, after_kill, 0, 0, NULL);
	assert_true(r->n_events >= 1);
	assert_true(r->events[r->n_events - 1]->sequence > after_kill);
	berth_reply_free(&r->base);
}

/* With --events-keep 10, a cursor from before the oldest kept is OUT_OF_RANGE, saying which. */
static void
test_out_of_range_after_pruning(void **state)
{
	const char *const args[] = { "--events-keep", "10", NULL };
	const Berth__V1__ErrorDetail *const *details;
	char ids[6][128], want[64];
	Berth__V1__WatchEventsResponse *r;
	berth_status st;
	uint64_t oldest;

	(void)state;
	start(args);
	for (int i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		launch(name, ids[i], sizeof(ids[i]));
	}
	for (int i = 0; i < 6; i++)
		assert_int_equal(e2e_remove_service(dmn.client, ids[i], true, false), 0);
	r = watch_ok(dmn.client, 0, 0, 0, NULL);
	assert_int_equal(r->n_events, 10);
	oldest = r->oldest_sequence;
	assert_true(oldest > 2);
	berth_reply_free(&r->base);

	assert_null(watch(dmn.client, 1, 0, 0, NULL, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__OUT_OF_RANGE);
	assert_string_equal(st.field, "after_sequence");
	assert_string_equal(st.reason, "EVENTS_NOT_KEPT");
	assert_int_equal(berth_last_error_details(&details), 1);
	snprintf(want, sizeof(want), "oldest_sequence=%llu", (unsigned long long)oldest);
	assert_string_equal(details[0]->description, want);
	/* Right before the oldest is still fine. */
	r = watch_ok(dmn.client, oldest - 1, 0, 0, NULL);
	assert_int_equal(r->events[0]->sequence, oldest);
	berth_reply_free(&r->base);
}

#define POLLS 100

/*
 * A hundred polls wait (half over ipc, half over tcp with a viewer token)
 * on a berthd with two workers, which still answers other calls at once;
 * one event answers them all.
 */
static void
test_hundred_parked_polls_hold_no_worker(void **state)
{
	static struct poll_run polls[POLLS];
	static berth_client *clients[POLLS];
	char tcp[64], token[128];
	berth_options opts = { 0 };
	uint64_t after;
	int64_t t0;

	(void)state;
	/* e2e_daemon_start listens on its own ipc:// URL; tcp:// comes on top, tokens on. */
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%u", (unsigned)e2e_free_port());
	{
		const char *const extra[] = { "--workers", "2", "--listen", tcp, "--ipc-admin", "on",
			NULL };

		assert_int_equal(e2e_daemon_start(&dmn, extra), 0);
		dmn_up = true;
	}
	assert_int_equal(e2e_put_demo_template(dmn.client, "demo", base_port, base_port + 19), 0);
	assert_int_equal(e2e_create_token(&dmn, "watcher", "viewer", token, sizeof(token)), 0);
	opts.token = token;
	after = last_sequence(dmn.client);
	for (int i = 0; i < POLLS; i++) {
		berth_status st;
		const char *url = i % 2 == 0 ? dmn.proc.url : tcp;

		if (berth_open(&clients[i], url, &opts, &st) != 0)
			fail_msg("open %s: %s", url, st.message);
		polls[i] = (struct poll_run){ .c = clients[i], .after = after, .wait_ms = 25000 };
		poll_start(&polls[i]);
	}
	clock_sleep_ms(1500);
	for (int i = 0; i < POLLS; i++)
		assert_false(atomic_load(&polls[i].done));

	/* Two workers, a hundred polls: other calls still answer promptly. */
	for (int i = 0; i < 5; i++) {
		Berth__V1__ListTemplatesRequest req = BERTH__V1__LIST_TEMPLATES_REQUEST__INIT;
		ProtobufCMessage *rep = NULL;
		berth_status st;

		t0 = clock_monotonic_ms();
		assert_int_equal(berth_call(dmn.client, "ListTemplates", &req.base, &rep, &st), 0);
		print_message("ListTemplates with %d polls parked: %lld ms\n", POLLS,
		    (long long)(clock_monotonic_ms() - t0));
		assert_true(clock_monotonic_ms() - t0 < 2000);
		berth_reply_free(rep);
	}
	t0 = clock_monotonic_ms();
	launch("many", NULL, 0);
	for (int i = 0; i < POLLS; i++) {
		assert_true(E2E_WAIT_UNTIL(atomic_load(&polls[i].done), 15000));
		pthread_join(polls[i].thread, NULL);
		assert_int_equal(polls[i].code, 0);
		assert_int_equal(polls[i].n_events, 1);
		berth_close(clients[i]);
	}
	print_message("%d polls answered %lld ms after the launch began\n", POLLS,
	    (long long)(clock_monotonic_ms() - t0));
}

/* Polls parked on one connection hold its in-flight places (2 with --workers 2). */
static void
test_parked_polls_count_toward_the_connection_limit(void **state)
{
	const char *const args[] = { "--workers", "2", NULL };
	struct poll_run p[2] = { 0 };
	Berth__V1__ListTemplatesRequest req = BERTH__V1__LIST_TEMPLATES_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	berth_client *c;
	berth_status st;

	(void)state;
	start(args);
	assert_int_equal(berth_open(&c, dmn.proc.url, NULL, &st), 0);
	for (int i = 0; i < 2; i++) {
		p[i] = (struct poll_run){ .c = c, .after = last_sequence(dmn.client), .wait_ms = 20000 };
		poll_start(&p[i]);
	}
	clock_sleep_ms(800);
	berth_set_timeout(c, 1500);
	assert_int_not_equal(berth_call(c, "ListTemplates", &req.base, &rep, &st), 0);
	assert_true(st.code == BERTH__V1__CODE__RESOURCE_EXHAUSTED ||
	    st.code == BERTH__V1__CODE__DEADLINE_EXCEEDED);
	print_message("third call on the connection: %s: %s\n", berth_code_name(st.code), st.message);
	/* Another connection is not held up. */
	assert_int_equal(berth_call(dmn.client, "ListTemplates", &req.base, &rep, &st), 0);
	berth_reply_free(rep);
	launch("limit", NULL, 0);
	for (int i = 0; i < 2; i++) {
		assert_true(E2E_WAIT_UNTIL(atomic_load(&p[i].done), 10000));
		pthread_join(p[i].thread, NULL);
		assert_int_equal(p[i].code, 0);
	}
	berth_set_timeout(c, 10000);
	assert_int_equal(berth_call(c, "ListTemplates", &req.base, &rep, &st), 0);
	berth_reply_free(rep);
	berth_close(c);
}

/* A shutdown answers a poll still waiting at once (empty, with its cursor), not at its end. */
static void
test_shutdown_answers_parked_polls_promptly(void **state)
{
	struct poll_run p = { 0 };
	berth_client *c;
	int64_t asked;

	(void)state;
	start(NULL);
	assert_int_equal(berth_open(&c, dmn.proc.url, NULL, NULL), 0);
	/* A service nobody has: the shutdown's own events do not answer it. */
	p = (struct poll_run){ .c = c, .after = last_sequence(dmn.client), .wait_ms = 25000, .service_id = "nobody_1" };
	poll_start(&p);
	clock_sleep_ms(500);
	asked = clock_monotonic_ms();
	assert_int_equal(berthd_proc_stop(&dmn.proc, 30), 0);
	assert_true(E2E_WAIT_UNTIL(atomic_load(&p.done), 10000));
	pthread_join(p.thread, NULL);
	print_message("poll answered %lld ms after SIGTERM: %s\n",
	    (long long)(p.answered_ms - asked), berth_code_name(p.code));
	assert_true(p.answered_ms - asked < 10000);
	assert_int_equal(p.code, 0);
	assert_int_equal(p.n_events, 0);
	berth_close(c);
}

/* Hostile sizes and waits: capped, answered before the call's deadline. */
static void
test_hostile_values_are_capped(void **state)
{
	Berth__V1__WatchEventsResponse *r;
	berth_status st;
	int64_t t0;

	(void)state;
	start(NULL);
	launch("h", NULL, 0);
	r = watch_ok(dmn.client, 0, UINT32_MAX, 0, NULL);
	assert_true(r->n_events >= 1 && r->n_events <= 1000);
	berth_reply_free(&r->base);

	/* A wait of 49 days on a call of 2 s ends before the call's deadline. */
	berth_set_timeout(dmn.client, 2000);
	t0 = clock_monotonic_ms();
	r = watch(dmn.client, UINT64_MAX - 1, 0, UINT32_MAX, NULL, &st);
	if (r == NULL)
		fail_msg("WatchEvents: %s: %s", berth_code_name(st.code), st.message);
	assert_int_equal(r->n_events, 0);
	assert_true(clock_monotonic_ms() - t0 < 2500);
	assert_true(clock_monotonic_ms() - t0 >= 1000);
	berth_reply_free(&r->base);
	berth_set_timeout(dmn.client, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_late_client_gets_past_events, teardown_test),
		cmocka_unit_test_teardown(test_waiting_poll_wakes_when_an_event_is_published,
		    teardown_test),
		cmocka_unit_test_teardown(test_restart_keeps_sequences_and_events, teardown_test),
		cmocka_unit_test_teardown(test_out_of_range_after_pruning, teardown_test),
		cmocka_unit_test_teardown(test_hundred_parked_polls_hold_no_worker, teardown_test),
		cmocka_unit_test_teardown(test_parked_polls_count_toward_the_connection_limit,
		    teardown_test),
		cmocka_unit_test_teardown(test_shutdown_answers_parked_polls_promptly, teardown_test),
		cmocka_unit_test_teardown(test_hostile_values_are_capped, teardown_test),
	};

	return cmocka_run_group_tests_name("watch_events", tests, setup_group, NULL);
}
