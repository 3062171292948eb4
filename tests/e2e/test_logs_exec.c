/*
 * test_logs_exec.c - GetServiceLogs (stream, timestamps, since, cursor,
 * follow, ended) and ExecService (exit codes, stderr, truncation, bytes
 * that are not UTF-8, timeout, the cap on execs at once, a stopped
 * container, roles), through libberth and the `berth` CLI (logs -f on two
 * services, exec's exit status, events --json), against a real berthd and
 * the demo image.
 *
 * The demo prints a line on stdout per HTTP request and "say NAME" on
 * stderr for GET /say/NAME; `berth-demo emit ...` is the command exec
 * runs (the image has no shell). The image is built under a tag of this
 * suite's own (removed first), so it always has those features whatever
 * an older berth-demo:e2e on the engine lacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "http.h"
#include "timestamp.h"
#include "engine/docker.h"

#define IMAGE "berth-demo:e2e-logs"
#define RANGE_FIRST 19300
#define RANGE_LAST 19339

static struct e2e_daemon dmn;
static char tpl[40];
static char viewer_token[128];

/* --- helpers -------------------------------------------------------------------- */

static int
setup(void **state)
{
	/* Few events kept, so that a replay from sequence 1 is soon OUT_OF_RANGE. */
	const char *args[] = { "--auth", "on", "--ipc-admin", "on", "--events-keep", "10", NULL };
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	struct error err;

	(void)state;
	snprintf(tpl, sizeof(tpl), "lx%d", (int)getpid());
	if (e2e_docker() != NULL)
		docker_image_remove(e2e_docker(), IMAGE, true, 30000, &err); /* built afresh */
	if (e2e_daemon_start(&dmn, args) != 0)
		return -1;
	e2e_demo_template(&t, tpl, RANGE_FIRST, RANGE_LAST);
	t.image = IMAGE;
	if (e2e_put_template(dmn.client, &t, NULL) != 0 ||
	    e2e_create_token(&dmn, "view", "viewer", viewer_token, sizeof(viewer_token)) != 0) {
		e2e_daemon_destroy(&dmn, true);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	e2e_daemon_destroy(&dmn, true);
	return 0;
}

static int
remove_all(void **state)
{
	(void)state;
	e2e_remove_all_services(dmn.client);
	return 0;
}

/* A launched instance: its id and port. */
struct svc {
	char id[128];
	uint16_t port;
};

static struct svc
launch(void)
{
	berth_status st;
	Berth__V1__LaunchServiceResponse *r = e2e_launch(dmn.client, tpl, "", 0, &st);
	struct svc s;
	char *body = NULL;

	if (r == NULL)
		fail_msg("launch: %s: %s", berth_code_name(st.code), st.message);
	snprintf(s.id, sizeof(s.id), "%s", r->service->service_id);
	s.port = (uint16_t)r->service->port;
	berth_reply_free(&r->base);
	/* Listening, so its start-up line (stderr) is written. */
	assert_true(E2E_WAIT_UNTIL(http_get(s.port, "/health", 2000, &body) == 200, 30000));
	free(body);
	return s;
}

/* GET /say/<name>: "say <name>" on stderr, a request line on stdout. */
static void
say(const struct svc *s, const char *name)
{
	char path[128], *body = NULL;

	snprintf(path, sizeof(path), "/say/%s", name);
	assert_int_equal(http_get(s->port, path, 5000, &body), 200);
	free(body);
}

static Berth__V1__GetServiceLogsResponse *
logs_call(berth_client *c, Berth__V1__GetServiceLogsRequest *req, berth_status *st)
{
	ProtobufCMessage *r = NULL;

	if (berth_call(c, "GetServiceLogs", &req->base, &r, st) != 0)
		return NULL;
	return (Berth__V1__GetServiceLogsResponse *)r;
}

static Berth__V1__GetServiceLogsResponse *
logs_ok(Berth__V1__GetServiceLogsRequest *req)
{
	berth_status st;
	Berth__V1__GetServiceLogsResponse *r = logs_call(dmn.client, req, &st);

	if (r == NULL)
		fail_msg("GetServiceLogs: %s: %s", berth_code_name(st.code), st.message);
	return r;
}

static size_t
count_of(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void
assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

static Berth__V1__ExecServiceResponse *
exec_call(berth_client *c, const char *id, const char *const *argv, uint32_t timeout_ms,
    berth_status *st)
{
	Berth__V1__ExecServiceRequest req = BERTH__V1__EXEC_SERVICE_REQUEST__INIT;
	ProtobufCMessage *r = NULL;
	size_t n = 0;

	while (argv[n] != NULL)
		n++;
	req.service_id = (char *)id;
	req.command = (char **)argv;
	req.n_command = n;
	req.timeout_ms = timeout_ms;
	if (berth_call(c, "ExecService", &req.base, &r, st) != 0)
		return NULL;
	return (Berth__V1__ExecServiceResponse *)r;
}

static void
stop_service(const char *id)
{
	Berth__V1__StopServiceRequest req = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	ProtobufCMessage *r = NULL;
	berth_status st;

	req.service_id = (char *)id;
	if (berth_call(dmn.client, "StopService", &req.base, &r, &st) != 0)
		fail_msg("stop %s: %s: %s", id, berth_code_name(st.code), st.message);
	berth_reply_free(r);
}

/* --- logs ----------------------------------------------------------------------- */

/* stream picks stdout or stderr; timestamps are RFC 3339; since is inclusive. */
static void
test_logs_filter_by_stream_stamp_lines_and_start_at_since(void **state)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	Berth__V1__GetServiceLogsResponse *r;
	struct svc s = launch();
	char second[64], unix_since[40];
	struct timestamp t;

	(void)state;
	say(&s, "one");
	say(&s, "two");
	say(&s, "three");
	req.service_id = s.id;
	req.stream = BERTH__V1__LOG_STREAM__LOG_STREAM_STDERR;
	r = logs_ok(&req);
	assert_contains(r->logs, "say one\nsay two\nsay three\n");
	assert_null(strstr(r->logs, "GET /say"));
	assert_false(r->ended);
	berth_reply_free(&r->base);

	req.stream = BERTH__V1__LOG_STREAM__LOG_STREAM_STDOUT;
	r = logs_ok(&req);
	assert_int_equal(count_of(r->logs, "GET /say/"), 3);
	assert_null(strstr(r->logs, "say one\n"));
	berth_reply_free(&r->base);

	/* Every line stamped; the stamp of "say two" starts a read from there. */
	req.stream = BERTH__V1__LOG_STREAM__LOG_STREAM_STDERR;
	req.timestamps = true;
	r = logs_ok(&req);
	for (const char *p = r->logs; *p != '\0'; p = strchr(p, '\n') + 1) {
		const char *space = strchr(p, ' ');
		assert_non_null(space);
		assert_true(timestamp_parse_rfc3339(p, (size_t)(space - p), &t));
		if (strncmp(space + 1, "say two\n", 8) == 0)
			snprintf(second, sizeof(second), "%.*s", (int)(space - p), p);
	}
	berth_reply_free(&r->base);
	req.timestamps = false;
	req.since = second;
	r = logs_ok(&req);
	if (!e2e_podman_gap("Podman 4.3 stamps log lines to the whole second: a since inside a "
		"second also returns that second's earlier lines"))
		assert_string_equal(r->logs, "say two\nsay three\n");
	berth_reply_free(&r->base);
	/* The same instant in Unix seconds. */
	assert_true(timestamp_parse(second, &t));
	timestamp_format_unix(&t, unix_since, sizeof(unix_since));
	req.since = unix_since;
	r = logs_ok(&req);
	if (getenv("BERTH_TEST_ENGINE") == NULL || strcmp(getenv("BERTH_TEST_ENGINE"), "podman") != 0)
		assert_string_equal(r->logs, "say two\nsay three\n"); /* the gap above */
	berth_reply_free(&r->base);
}

/* Garbage in since, cursor and stream is INVALID_ARGUMENT naming the field. */
static void
test_logs_refuse_garbage_since_cursor_and_stream(void **state)
{
	static const char *const bad_since[] = { "yesterday", "2026-13-01T00:00:00Z", "-5",
		"1.2.3", "2026-12-05T10:00:00", "99999999999999999999", " 1" };
	static const char *const bad_cursor[] = { "x", "c1.", "c1.1.2", "c1.1.2.3.4",
		"c1.1.1000000000.0", "c2.1.1.1", "c1.-1.0.0", "c1.1.1.99999999999" };
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	struct svc s = launch();
	berth_status st;

	(void)state;
	req.service_id = s.id;
	for (size_t i = 0; i < sizeof(bad_since) / sizeof(bad_since[0]); i++) {
		req.since = (char *)bad_since[i];
		assert_null(logs_call(dmn.client, &req, &st));
		assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
		assert_string_equal(st.field, "since");
	}
	req.since = "";
	for (size_t i = 0; i < sizeof(bad_cursor) / sizeof(bad_cursor[0]); i++) {
		req.cursor = (char *)bad_cursor[i];
		assert_null(logs_call(dmn.client, &req, &st));
		assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
		assert_string_equal(st.field, "cursor");
	}
	req.cursor = "";
	req.stream = 7;
	assert_null(logs_call(dmn.client, &req, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "stream");
}

struct sayer {
	const struct svc *s;
	int from, to, pause_ms;
};

static void *
sayer_main(void *arg)
{
	struct sayer *w = arg;
	char name[32], path[64], *body;

	for (int i = w->from; i < w->to; i++) {
		clock_sleep_ms(w->pause_ms);
		snprintf(name, sizeof(name), "f%d", i);
		snprintf(path, sizeof(path), "/say/%s", name);
		body = NULL;
		http_get(w->s->port, path, 5000, &body);
		free(body);
	}
	return NULL;
}

/*
 * Follow with the cursor while lines are written: each line exactly once,
 * in order; a poll with nothing new is held until a line comes; a quiet
 * one waits about wait_ms and keeps the cursor.
 */
static void
test_follow_with_a_cursor_returns_each_line_once_and_waits_for_new_ones(void **state)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	Berth__V1__GetServiceLogsResponse *r;
	struct svc s = launch();
	struct sayer w = { &s, 0, 20, 50 };
	char *cursor, *all;
	size_t all_len = 0;
	pthread_t thread;
	int64_t started, took;

	(void)state;
	req.service_id = s.id;
	req.stream = BERTH__V1__LOG_STREAM__LOG_STREAM_STDERR;
	req.tail = 1;
	r = logs_ok(&req);
	cursor = strdup(r->cursor);
	berth_reply_free(&r->base);
	all = calloc(1, 1);

	/* Nothing new for a while: held about wait_ms, then empty with the same cursor. */
	req.follow = true;
	req.wait_ms = 1500;
	req.cursor = cursor;
	started = clock_monotonic_ms();
	r = logs_ok(&req);
	took = clock_monotonic_ms() - started;
	assert_string_equal(r->logs, "");
	assert_string_equal(r->cursor, cursor);
	assert_true(took >= 1000);
	berth_reply_free(&r->base);

	/* A line that comes during the wait ends it early. */
	w.from = 100, w.to = 101, w.pause_ms = 500;
	assert_int_equal(pthread_create(&thread, NULL, sayer_main, &w), 0);
	req.wait_ms = 20000;
	started = clock_monotonic_ms();
	r = logs_ok(&req);
	took = clock_monotonic_ms() - started;
	pthread_join(thread, NULL);
	assert_string_equal(r->logs, "say f100\n");
	assert_true(took < 15000);
	free(cursor);
	cursor = strdup(r->cursor);
	berth_reply_free(&r->base);

	/* Twenty lines written while we poll: each exactly once, in order. */
	w.from = 0, w.to = 20, w.pause_ms = 30;
	assert_int_equal(pthread_create(&thread, NULL, sayer_main, &w), 0);
	req.wait_ms = 2000;
	for (int polls = 0; polls < 200 && count_of(all, "say ") < 20; polls++) {
		req.cursor = cursor;
		r = logs_ok(&req);
		all = realloc(all, all_len + strlen(r->logs) + 1);
		memcpy(all + all_len, r->logs, strlen(r->logs) + 1);
		all_len += strlen(r->logs);
		free(cursor);
		cursor = strdup(r->cursor);
		berth_reply_free(&r->base);
	}
	pthread_join(thread, NULL);
	{
		char expect[512] = "";
		for (int i = 0; i < 20; i++)
			snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect),
			    "say f%d\n", i);
		assert_string_equal(all, expect);
	}
	free(all);
	free(cursor);
}

/* After a stop: the last lines, then ended (a follower stops). */
static void
test_follow_says_ended_once_the_container_stopped(void **state)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	Berth__V1__GetServiceLogsResponse *r;
	struct svc s = launch();
	char *cursor;

	(void)state;
	req.service_id = s.id;
	req.tail = 1;
	r = logs_ok(&req);
	assert_false(r->ended);
	cursor = strdup(r->cursor);
	berth_reply_free(&r->base);
	stop_service(s.id);
	req.follow = true;
	req.wait_ms = 5000;
	req.cursor = cursor;
	r = logs_ok(&req);
	assert_true(r->ended);
	assert_contains(r->logs, "stop signal");
	berth_reply_free(&r->base);
	free(cursor);
}

/* --- exec ------------------------------------------------------------------------ */

static void
test_exec_returns_exit_code_stdout_stderr_and_replaces_bad_bytes(void **state)
{
	const char *argv[] = { "/berth-demo", "emit", "out", "hello", "err", "oops", "exit", "3",
		NULL };
	const char *bin[] = { "/berth-demo", "emit", "bin", NULL };
	Berth__V1__ExecServiceResponse *r;
	struct svc s = launch();
	berth_status st;

	(void)state;
	r = exec_call(dmn.client, s.id, argv, 0, &st);
	assert_non_null(r);
	assert_int_equal(r->exit_code, 3);
	assert_string_equal(r->stdout, "hello\n");
	assert_string_equal(r->stderr, "oops\n");
	assert_false(r->truncated);
	berth_reply_free(&r->base);

	r = exec_call(dmn.client, s.id, bin, 0, &st);
	assert_non_null(r);
	assert_int_equal(r->exit_code, 0);
	assert_string_equal(r->stdout, "\xef\xbf\xbd" "a" "\xef\xbf\xbd" "b" "\xef\xbf\xbd" "\n");
	berth_reply_free(&r->base);
}

static void
test_exec_output_is_cut_at_one_mebibyte_per_stream(void **state)
{
	const char *argv[] = { "/berth-demo", "emit", "fill", "1500000", "err", "still here",
		"exit", "0", NULL };
	Berth__V1__ExecServiceResponse *r;
	struct svc s = launch();
	berth_status st;

	(void)state;
	r = exec_call(dmn.client, s.id, argv, 60000, &st);
	if (r == NULL)
		fail_msg("exec: %s: %s", berth_code_name(st.code), st.message);
	assert_true(r->truncated);
	assert_int_equal(strlen(r->stdout), 1 << 20);
	assert_string_equal(r->stderr, "still here\n");
	berth_reply_free(&r->base);
}

static void
test_exec_timeout_says_the_command_may_still_run(void **state)
{
	const char *argv[] = { "/berth-demo", "emit", "sleep", "5000", NULL };
	struct svc s = launch();
	berth_status st;
	int64_t started = clock_monotonic_ms();

	(void)state;
	assert_null(exec_call(dmn.client, s.id, argv, 1000, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__DEADLINE_EXCEEDED);
	assert_contains(st.message, "may still be running");
	assert_true(clock_monotonic_ms() - started < 4500);
}

struct sleeper {
	berth_client *client; /* its own: a connection carries at most 4 calls at once */
	const char *id;
	berth_status st;
	int code;
};

static void *
sleeper_main(void *arg)
{
	const char *argv[] = { "/berth-demo", "emit", "sleep", "4000", NULL };
	struct sleeper *z = arg;
	Berth__V1__ExecServiceResponse *r = exec_call(z->client, z->id, argv, 20000, &z->st);

	z->code = r != NULL ? 0 : z->st.code;
	berth_reply_free(r ? &r->base : NULL);
	return NULL;
}

/* Four execs in one container at once; the fifth is RESOURCE_EXHAUSTED, another container's runs. */
static void
test_exec_caps_commands_at_once_per_container(void **state)
{
	const char *quick[] = { "/berth-demo", "emit", "out", "hi", NULL };
	struct svc s = launch(), other = launch();
	struct sleeper z[4];
	pthread_t threads[4];
	Berth__V1__ExecServiceResponse *r;
	berth_status st;
	int refused = 0;

	(void)state;
	for (int i = 0; i < 4; i++) {
		z[i] = (struct sleeper){ .id = s.id };
		assert_int_equal(berth_open(&z[i].client, dmn.proc.url,
				     &(berth_options){ .timeout_ms = 60000 }, &st),
		    0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, sleeper_main, &z[i]), 0);
	clock_sleep_ms(1500); /* all four have started (generous: they sleep 4 s) */
	for (int tries = 0; tries < 3 && refused == 0; tries++) {
		r = exec_call(dmn.client, s.id, quick, 0, &st);
		if (r == NULL && st.code == BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			refused++;
		berth_reply_free(r ? &r->base : NULL);
	}
	r = exec_call(dmn.client, other.id, quick, 0, &st);
	assert_non_null(r);
	assert_string_equal(r->stdout, "hi\n");
	berth_reply_free(&r->base);
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		berth_close(z[i].client);
		assert_int_equal(z[i].code, 0);
	}
	assert_int_equal(refused, 1);
	/* The slots are free again. */
	r = exec_call(dmn.client, s.id, quick, 0, &st);
	assert_non_null(r);
	berth_reply_free(&r->base);
}

static void
test_exec_refuses_bad_commands_stopped_containers_and_viewers(void **state)
{
	const char *empty[] = { "", NULL };
	const char *quick[] = { "/berth-demo", "emit", "out", "hi", NULL };
	static const char *huge[300];
	Berth__V1__ExecServiceRequest req = BERTH__V1__EXEC_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	struct svc s = launch();
	berth_client *viewer;
	berth_status st;

	(void)state;
	req.service_id = s.id;
	assert_int_equal(berth_call(dmn.client, "ExecService", &req.base, &reply, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "command");
	assert_null(exec_call(dmn.client, s.id, empty, 0, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	for (int i = 0; i < 299; i++)
		huge[i] = "x";
	assert_null(exec_call(dmn.client, s.id, huge, 0, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_null(exec_call(dmn.client, "no_such_service", quick, 0, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__NOT_FOUND);

	assert_int_equal(berth_open(&viewer, dmn.proc.url,
			     &(berth_options){ .token = viewer_token, .timeout_ms = 30000 }, &st),
	    0);
	assert_null(exec_call(viewer, s.id, quick, 0, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__PERMISSION_DENIED);
	berth_close(viewer);

	stop_service(s.id);
	assert_null(exec_call(dmn.client, s.id, quick, 0, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__FAILED_PRECONDITION);
}

/* --- the CLI ------------------------------------------------------------------------ */

struct cli_run {
	const char *const *argv;
	char *out, *err;
	int status;
};

static void *
cli_main(void *arg)
{
	struct cli_run *c = arg;

	c->status = berth_cli_argv(c->argv, &c->out, &c->err);
	return NULL;
}

/* berth logs -f on two services: each line once, prefixed; ends when both stopped. */
static void
test_cli_logs_follow_interleaves_two_services_with_prefixes(void **state)
{
	struct svc a = launch(), b = launch();
	const char *argv[] = { "--url", dmn.proc.url, "logs", "-f", "--stderr", "--tail", "1",
		a.id, b.id, NULL };
	struct cli_run run = { .argv = argv };
	char line[256];
	pthread_t thread;

	(void)state;
	assert_int_equal(pthread_create(&thread, NULL, cli_main, &run), 0);
	clock_sleep_ms(1000);
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "a%d", i);
		say(&a, line);
		snprintf(line, sizeof(line), "b%d", i);
		say(&b, line);
	}
	clock_sleep_ms(1000);
	stop_service(a.id);
	stop_service(b.id);
	pthread_join(thread, NULL);
	if (run.status != 0)
		fail_msg("berth logs -f: %d\n%s", run.status, run.err);
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "%s | say a%d\n", a.id, i);
		if (count_of(run.out, line) != 1)
			fail_msg("not once: %s in:\n%s\nerr:%s", line, run.out, run.err);
		snprintf(line, sizeof(line), "%s | say b%d\n", b.id, i);
		if (count_of(run.out, line) != 1)
			fail_msg("not once: %s in:\n%s\nerr:%s", line, run.out, run.err);
	}
	assert_null(strstr(run.out, "\033[")); /* not a terminal: no colour */
	if (!e2e_podman_gap("Podman's conmon can write a container's last lines after the "
		"container is reported exited: a follower may end before them"))
		assert_int_equal(count_of(run.out, "stop signal"), 2);
	free(run.out);
	free(run.err);
}

static void
test_cli_exec_passes_output_and_exit_status_on(void **state)
{
	struct svc s = launch();
	char *out = NULL, *err = NULL;

	(void)state;
	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "exec", s.id, "--", "/berth-demo",
			     "emit", "out", "hello", "err", "oops", "exit", "42", NULL),
	    42);
	assert_string_equal(out, "hello\n");
	assert_string_equal(err, "oops\n");
	free(out);
	free(err);
	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "exec", s.id, "--", "/berth-demo",
			     "emit", "out", "fine", NULL),
	    0);
	assert_string_equal(out, "fine\n");
	free(out);
	free(err);
	/* A viewer: PERMISSION_DENIED is exit 6. */
	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "--token", viewer_token, "exec", s.id,
			     "--", "/berth-demo", "emit", NULL),
	    6);
	free(out);
	free(err);
	/* No "--": a usage error. */
	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "exec", s.id, "/berth-demo", NULL), 1);
	free(out);
	free(err);
}

/* berth --json events: one JSON object per line, replayed from a sequence. */
static void
test_cli_events_json_is_one_object_per_line(void **state)
{
	char *out = NULL, *err = NULL, *line;
	int lines = 0;

	(void)state;
	launch();
	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "--json", "events", "--since-sequence",
			     "0", "--count", "3", "--wait", "30", NULL),
	    0);
	for (line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		json_error_t jerr;
		json_t *j = json_loads(line, 0, &jerr);
		if (j == NULL)
			fail_msg("not one JSON object: %s (%s)", line, jerr.text);
		assert_true(json_is_integer(json_object_get(j, "sequence")));
		assert_true(json_is_string(json_object_get(j, "type")));
		json_decref(j);
		lines++;
	}
	assert_int_equal(lines, 3);
	free(out);
	free(err);
}

/* A replay from a sequence no longer kept: the loss is told, the stream goes on. */
static void
test_cli_events_says_how_many_were_lost_and_goes_on(void **state)
{
	char *out = NULL, *err = NULL;

	(void)state;
	for (int i = 0; i < 4; i++) { /* a launch and a removal each: more than 10 events */
		struct svc s = launch();
		assert_int_equal(e2e_remove_service(dmn.client, s.id, true, false), 0);
	}
	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "events", "--since-sequence", "1",
			     "--count", "1", "--wait", "30", NULL),
	    0);
	if (strstr(err, "events were lost") == NULL)
		fail_msg("no loss reported:\n%s", err);
	assert_non_null(strchr(out, '\n'));
	free(out);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_logs_filter_by_stream_stamp_lines_and_start_at_since,
		    remove_all),
		cmocka_unit_test_teardown(test_logs_refuse_garbage_since_cursor_and_stream, remove_all),
		cmocka_unit_test_teardown(
		    test_follow_with_a_cursor_returns_each_line_once_and_waits_for_new_ones, remove_all),
		cmocka_unit_test_teardown(test_follow_says_ended_once_the_container_stopped, remove_all),
		cmocka_unit_test_teardown(test_exec_returns_exit_code_stdout_stderr_and_replaces_bad_bytes,
		    remove_all),
		cmocka_unit_test_teardown(test_exec_output_is_cut_at_one_mebibyte_per_stream, remove_all),
		cmocka_unit_test_teardown(test_exec_timeout_says_the_command_may_still_run, remove_all),
		cmocka_unit_test_teardown(test_exec_caps_commands_at_once_per_container, remove_all),
		cmocka_unit_test_teardown(test_exec_refuses_bad_commands_stopped_containers_and_viewers,
		    remove_all),
		cmocka_unit_test_teardown(test_cli_logs_follow_interleaves_two_services_with_prefixes,
		    remove_all),
		cmocka_unit_test_teardown(test_cli_exec_passes_output_and_exit_status_on, remove_all),
		cmocka_unit_test_teardown(test_cli_events_json_is_one_object_per_line, remove_all),
		cmocka_unit_test_teardown(test_cli_events_says_how_many_were_lost_and_goes_on,
		    remove_all),
	};

	return cmocka_run_group_tests_name("logs_exec", tests, setup, teardown);
}
