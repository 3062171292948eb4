/*
 * test_service_logs.c - GetServiceLogs' domain logic (core/service_logs.c)
 * over a scripted backend: a cursor loses and repeats no line even when
 * several lines share a timestamp (Docker's own stamps never do, so only a
 * fake log can show it), the 1 MiB bound of one answer and the cursor
 * going on from it, a tail whose window starts inside a shared instant,
 * ended, and the follow long poll parking or answering at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/berthd.h"
#include "core/service_logs.h"
#include "registry_fixture.h"

#define BIG (400 * 1024) /* three lines of this pass the 1 MiB bound */

static struct berthd daemon_state;

/* The scripted log: line i is "L<i>" (padded to `size` bytes) at stamps[i]. */
static struct {
	struct timestamp stamps[16];
	size_t n;
	size_t size;
	const char *state;
	char *text; /* one line's bytes, rebuilt per entry */
} log_script;

static int
fake_inspect(struct backend *b, const char *id, struct docker_container *out, int64_t timeout_ms,
    struct error *err)
{
	(void)b, (void)id, (void)timeout_ms, (void)err;
	memset(out, 0, sizeof(*out));
	snprintf(out->state, sizeof(out->state), "%s", log_script.state);
	return 0;
}

/* As Docker: since and until inclusive, then the last `tail`. */
static int
fake_log_entries(struct backend *b, const char *id, const struct docker_logs_query *q,
    docker_log_fn fn, void *arg, int64_t timeout_ms, struct error *err)
{
	size_t selected[16], n = 0, first = 0;

	(void)b, (void)id, (void)timeout_ms, (void)err;
	for (size_t i = 0; i < log_script.n; i++) {
		if (q->has_since && timestamp_compare(&log_script.stamps[i], &q->since) < 0)
			continue;
		if (q->has_until && timestamp_compare(&log_script.stamps[i], &q->until) > 0)
			continue;
		selected[n++] = i;
	}
	if (q->tail > 0 && n > q->tail)
		first = n - q->tail;
	for (size_t k = first; k < n; k++) {
		size_t i = selected[k];
		struct docker_log_entry e = { .stream = 1, .time = log_script.stamps[i],
			.stamp = "", .text = log_script.text, .len = log_script.size };
		int rc;

		memset(log_script.text, '.', log_script.size);
		snprintf(log_script.text, 16, "L%zu", i);
		log_script.text[strlen(log_script.text)] = '.';
		log_script.text[log_script.size - 1] = '\n';
		if ((rc = fn(arg, &e)) != 0)
			return rc < 0 ? BERTH__V1__CODE__RESOURCE_EXHAUSTED : 0;
	}
	return 0;
}

static const struct backend_ops fake_ops = {
	.name = "fake",
	.inspect = fake_inspect,
	.log_entries = fake_log_entries,
};

static int
setup(void **state)
{
	struct registry_fixture *f;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	bool created;

	if (registry_fixture_setup(state) != 0)
		return -1;
	f = *state;
	daemon_state.backend.ops = &fake_ops;
	t.name = "web";
	t.image = "example/web:1";
	t.container_port = 80;
	t.port_range_start = 9000;
	s.service_id = "web_instance_1";
	s.template_ = "web";
	s.container_name = "web_instance_1";
	s.container_id = "";
	s.port = 9000;
	s.instance = "instance_1";
	s.instance_number = 1;
	s.project_dir = "/tmp/x";
	s.status = "running";
	if (registry_template_put(f->reg, &t, &created) != 0 ||
	    registry_service_insert(f->reg, &s) != 0)
		return -1;
	log_script.text = malloc(BIG);
	return log_script.text != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	free(log_script.text);
	return registry_fixture_teardown(state);
}

/* Six lines: stamps 10, 20, 20, 20, 20, 30 (four share one instant). */
static void
script(size_t size, const char *container_state)
{
	static const int64_t secs[] = { 10, 20, 20, 20, 20, 30 };

	log_script.n = 6;
	for (size_t i = 0; i < 6; i++)
		log_script.stamps[i] = (struct timestamp){ 1764928800 + secs[i], 5 };
	log_script.size = size;
	log_script.state = container_state;
}

/* GetServiceLogs on a fresh call; the answer's strings are copied into out_*. */
static int
run(struct registry_fixture *f, Berth__V1__GetServiceLogsRequest *req, bool may_park,
    char **logs, char **cursor, bool *ended, bool *parked)
{
	Berth__V1__GetServiceLogsResponse resp = BERTH__V1__GET_SERVICE_LOGS_RESPONSE__INIT;
	struct call call;
	int code;

	call_init(&call, "GetServiceLogs", &daemon_state, f->reg, 60000);
	call.may_park = may_park;
	code = service_logs(&call, req, &resp);
	*parked = call.parked;
	*logs = strdup(resp.logs != NULL ? resp.logs : "");
	*cursor = strdup(resp.cursor != NULL ? resp.cursor : "");
	*ended = resp.ended;
	call_finish(&call);
	return code;
}

/* Which lines ("L3") a text holds, in order, as "0,1,2,". */
static void
line_numbers(const char *text, char *out, size_t len)
{
	out[0] = '\0';
	for (const char *p = text; (p = strchr(p, 'L')) != NULL; p++) {
		size_t at = strlen(out);
		snprintf(out + at, len - at, "%ld,", strtol(p + 1, NULL, 10));
		p = strchr(p, '\n');
		if (p == NULL)
			break;
	}
}

/* Forward from the start in answers of at most 1 MiB: every line once, in order. */
static void
test_a_cursor_inside_a_shared_instant_loses_and_repeats_nothing(void **state)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	char *logs, *cursor = strdup("c1.0.000000000.0"), seen[128] = "", got[64];
	bool ended, parked;

	script(BIG, "running");
	req.service_id = "web_instance_1";
	for (int i = 0; i < 10; i++) {
		req.cursor = cursor;
		assert_int_equal(run(*state, &req, false, &logs, &cursor, &ended, &parked), 0);
		free(req.cursor);
		assert_true(strlen(logs) <= SERVICE_LOGS_ANSWER_MAX);
		line_numbers(logs, got, sizeof(got));
		strcat(seen, got);
		free(logs);
		if (got[0] == '\0')
			break;
	}
	assert_string_equal(seen, "0,1,2,3,4,5,");
	free(cursor);
}

/* A tail whose first line shares the last one's instant counts that instant whole. */
static void
test_a_tail_inside_a_shared_instant_gives_an_exact_cursor(void **state)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	char *logs, *cursor, got[64];
	bool ended, parked;

	script(8, "running");
	log_script.n = 5; /* the last four share stamp 20 */
	req.service_id = "web_instance_1";
	req.tail = 2;
	assert_int_equal(run(*state, &req, false, &logs, &cursor, &ended, &parked), 0);
	line_numbers(logs, got, sizeof(got));
	assert_string_equal(got, "3,4,");
	assert_string_equal(cursor, "c1.1764928820.000000005.4");
	free(logs);
	log_script.n = 6;
	req.tail = 0;
	req.cursor = cursor;
	assert_int_equal(run(*state, &req, false, &logs, &cursor, &ended, &parked), 0);
	line_numbers(logs, got, sizeof(got));
	assert_string_equal(got, "5,");
	free(req.cursor);
	free(logs);
	free(cursor);
}

/* Nothing after the cursor: parked when it may be, else an empty answer with the same cursor. */
static void
test_follow_parks_or_answers_at_once_with_the_cursor(void **state)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	char *logs, *cursor;
	bool ended, parked;

	script(8, "running");
	req.service_id = "web_instance_1";
	req.follow = true;
	req.wait_ms = 5000;
	req.cursor = "c1.1764928830.000000005.1";
	assert_int_equal(run(*state, &req, true, &logs, &cursor, &ended, &parked), 0);
	assert_true(parked);
	free(logs);
	free(cursor);
	assert_int_equal(run(*state, &req, false, &logs, &cursor, &ended, &parked), 0);
	assert_false(parked);
	assert_string_equal(logs, "");
	assert_string_equal(cursor, req.cursor);
	assert_false(ended);
	free(logs);
	free(cursor);
	/* Stopped: ended, and never parked. */
	log_script.state = "exited";
	assert_int_equal(run(*state, &req, true, &logs, &cursor, &ended, &parked), 0);
	assert_false(parked);
	assert_true(ended);
	free(logs);
	free(cursor);
}

/* A read cut at the bound is not ended even when the container has stopped. */
static void
test_a_cut_answer_is_not_ended(void **state)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	char *logs, *cursor;
	bool ended, parked;

	script(BIG, "exited");
	req.service_id = "web_instance_1";
	req.cursor = "c1.0.000000000.0";
	assert_int_equal(run(*state, &req, false, &logs, &cursor, &ended, &parked), 0);
	assert_false(ended);
	free(logs);
	free(cursor);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_cursor_inside_a_shared_instant_loses_and_repeats_nothing),
		cmocka_unit_test(test_a_tail_inside_a_shared_instant_gives_an_exact_cursor),
		cmocka_unit_test(test_follow_parks_or_answers_at_once_with_the_cursor),
		cmocka_unit_test(test_a_cut_answer_is_not_ended),
	};

	return cmocka_run_group_tests_name("service_logs", tests, setup, teardown);
}
