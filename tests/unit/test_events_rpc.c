/*
 * test_events_rpc.c - the WatchEvents handler (server/api/events_rpc.c) on
 * a struct call, without a transport: what it answers at once, what it
 * parks and for how long (hostile waits capped at 30 s and before the
 * call's deadline), max_events capped, OUT_OF_RANGE for a cursor older
 * than what is kept.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api/api.h"
#include "clock.h"
#include "core/berthd.h"
#include "core/event_log.h"
#include "registry_fixture.h"

static struct berthd daemon_state;

static void
append(uint64_t seq)
{
	Berth__V1__Event ev = BERTH__V1__EVENT__INIT;

	ev.sequence = seq;
	ev.time = "2026-01-01T00:00:00.000Z";
	ev.service_id = "s";
	ev.template_ = "t";
	event_log_append(daemon_state.event_log, &ev);
}

static int
setup(void **state)
{
	struct registry_fixture *f;
	struct error err = { 0 };
	uint64_t last;

	if (registry_fixture_setup(state) != 0)
		return -1;
	f = *state;
	if (event_log_open(&daemon_state.event_log, f->path, 10, &last, &err) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	event_log_close(daemon_state.event_log);
	daemon_state.event_log = NULL;
	return registry_fixture_teardown(state);
}

/* Runs the handler on a fresh call with `timeout_ms` left; returns its code. */
static int
run(struct call *call, Berth__V1__WatchEventsRequest *req, Berth__V1__WatchEventsResponse *resp,
    int64_t timeout_ms, bool may_park)
{
	call_init(call, "WatchEvents", &daemon_state, NULL, timeout_ms);
	call->may_park = may_park;
	berth__v1__watch_events_response__init(resp);
	return rpc_watch_events(call, &req->base, &resp->base);
}

static void
test_answers_at_once_when_events_are_kept(void **state)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	Berth__V1__WatchEventsResponse resp;
	struct call call;

	(void)state;
	for (uint64_t i = 1; i <= 5; i++)
		append(i);
	req.wait_ms = 10000;
	req.after_sequence = 2;
	assert_int_equal(run(&call, &req, &resp, 60000, true), 0);
	assert_false(call.parked);
	assert_int_equal(resp.n_events, 3);
	assert_int_equal(resp.cursor, 5);
	assert_int_equal(resp.oldest_sequence, 1);
	assert_int_equal(resp.last_sequence, 5);
	call_finish(&call);
}

static void
test_hostile_wait_is_capped_at_30_s_and_before_the_deadline(void **state)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	Berth__V1__WatchEventsResponse resp;
	struct call call;
	int64_t now;

	(void)state;
	req.wait_ms = UINT32_MAX;
	now = clock_monotonic_ms();
	assert_int_equal(run(&call, &req, &resp, 600000, true), 0);
	assert_true(call.parked);
	assert_int_equal(call.park_channel, CALL_WAKE_EVENTS);
	assert_true(call.park_until_ms - now <= 30000 + 50);
	assert_true(call.park_until_ms - now >= 29000);
	call_finish(&call);

	/* A call with 2 s left waits less than that. */
	now = clock_monotonic_ms();
	assert_int_equal(run(&call, &req, &resp, 2000, true), 0);
	assert_true(call.parked);
	assert_true(call.park_until_ms < call.deadline_ms);
	assert_true(call.park_until_ms - now >= 1500);
	call_finish(&call);

	/* Unable to park (the transport's cap, the end of the wait): an empty answer now. */
	assert_int_equal(run(&call, &req, &resp, 2000, false), 0);
	assert_false(call.parked);
	assert_int_equal(resp.n_events, 0);
	call_finish(&call);
}

static void
test_zero_wait_never_parks(void **state)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	Berth__V1__WatchEventsResponse resp;
	struct call call;

	(void)state;
	assert_int_equal(run(&call, &req, &resp, 60000, true), 0);
	assert_false(call.parked);
	call_finish(&call);
}

static void
test_max_events_pages_and_a_huge_one_is_harmless(void **state)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	Berth__V1__WatchEventsResponse resp;
	struct call call;

	(void)state;
	for (uint64_t i = 1; i <= 10; i++)
		append(i);
	req.max_events = 3;
	assert_int_equal(run(&call, &req, &resp, 60000, true), 0);
	assert_int_equal(resp.n_events, 3);
	assert_int_equal(resp.cursor, 3);
	call_finish(&call);
	req.max_events = UINT32_MAX;
	assert_int_equal(run(&call, &req, &resp, 60000, true), 0);
	assert_int_equal(resp.n_events, 10);
	call_finish(&call);
}

static void
test_cursor_older_than_the_oldest_kept_is_out_of_range(void **state)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	Berth__V1__WatchEventsResponse resp;
	struct call call;

	(void)state;
	for (uint64_t i = 1; i <= 15; i++)
		append(i); /* keep 10: 6..15 */
	req.after_sequence = 4;
	assert_int_equal(run(&call, &req, &resp, 60000, true), BERTH__V1__CODE__OUT_OF_RANGE);
	assert_int_equal(call.n_details, 1);
	assert_string_equal(call.details[0]->field, "after_sequence");
	assert_string_equal(call.details[0]->reason, "EVENTS_NOT_KEPT");
	assert_string_equal(call.details[0]->description, "oldest_sequence=6");
	call_finish(&call);
	req.after_sequence = 5;
	assert_int_equal(run(&call, &req, &resp, 60000, true), 0);
	assert_int_equal(resp.events[0]->sequence, 6);
	call_finish(&call);
	req.after_sequence = 0; /* from the oldest kept */
	assert_int_equal(run(&call, &req, &resp, 60000, true), 0);
	assert_int_equal(resp.n_events, 10);
	call_finish(&call);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answers_at_once_when_events_are_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_wait_is_capped_at_30_s_and_before_the_deadline,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_wait_never_parks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_events_pages_and_a_huge_one_is_harmless, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_older_than_the_oldest_kept_is_out_of_range,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("events_rpc", tests, NULL, NULL);
}
