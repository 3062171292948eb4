/*
 * test_rpc_server.c - the RPC transport in-process (server/rpc_server.c,
 * server/dispatch.c): a server with this file's own handlers, driven by
 * libberth and by raw nng req0 sockets that send whatever bytes they like.
 *
 * Handlers run on worker threads, so they never call cmocka; they record
 * what happened in `app` and the test thread asserts on that.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "berth.h"
#include "core/berthd.h"
#include "clock.h"
#include "rpc/dispatch.h"
#include "base/log.h"
#include "rpc/rpc_server.h"
#include "sp_raw.h"


#define WORKERS 4
#define MAX_REQUEST_BYTES (64 * 1024)
#define DEFAULT_TIMEOUT_MS 30000
#define SLOW_MS 1500
#define HEALTH_PATH "/berth.v1.Berth/Health"
#define PUT_PATH "/berth.v1.Berth/PutTemplate"

/* What the handlers saw; reset before each test. */
struct test_app {
	atomic_int health_calls;
	atomic_int put_calls;
	atomic_int delete_calls;
	atomic_int flaky_calls;
	atomic_bool slow_started;
	atomic_bool slow_finished;
	atomic_int slow_running;     /* slow Health handlers running now */
	atomic_int slow_running_max; /* the most that ever ran at once */
	atomic_bool put_slow_started;
	atomic_bool put_slow_finished;
	atomic_llong remaining_ms; /* call_remaining_ms() at entry of Health "deadline" */
	atomic_int worker_opens;
	atomic_int worker_closes;
	atomic_int fail_worker_open_at; /* worker_open fails for this index; -1 never */
};

static struct test_app app;

/* Waits up to 10 s for `flag`; false if it never came. */
static bool
wait_flag(atomic_bool *flag)
{
	for (int i = 0; i < 10000 && !atomic_load(flag); i++)
		clock_sleep_ms(1);
	return atomic_load(flag);
}

/* --- handlers (worker threads) ------------------------------------------------- */

/*
 * Health: "slow" sleeps SLOW_MS (giving up at the call's deadline),
 * "deadline" records the time left, anything else answers at once.
 */
static int
handle_health(struct call *call, const ProtobufCMessage *request, ProtobufCMessage *reply)
{
	const Berth__V1__HealthRequest *in = (const Berth__V1__HealthRequest *)request;
	Berth__V1__HealthResponse *out = (Berth__V1__HealthResponse *)reply;

	atomic_fetch_add(&app.health_calls, 1);
	if (strcmp(in->service, "slow") == 0) {
		int running = atomic_fetch_add(&app.slow_running, 1) + 1;
		int max = atomic_load(&app.slow_running_max);

		while (running > max && !atomic_compare_exchange_weak(&app.slow_running_max, &max,
		    running))
			;
		atomic_store(&app.slow_started, true);
		for (int waited = 0; waited < SLOW_MS; waited += 10) {
			if (call_expired(call)) {
				atomic_fetch_sub(&app.slow_running, 1);
				return call_fail(call, BERTH__V1__CODE__DEADLINE_EXCEEDED,
				    "slow handler gave up at the deadline");
			}
			clock_sleep_ms(10);
		}
		atomic_fetch_sub(&app.slow_running, 1);
		atomic_store(&app.slow_finished, true);
	} else if (strcmp(in->service, "deadline") == 0) {
		atomic_store(&app.remaining_ms, (long long)call_remaining_ms(call));
	}
	out->status = BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING;
	out->version = "test-1.0";
	out->docker_available = call->app == &app && call->worker != NULL;
	if (call->worker != NULL)
		out->docker_api_version = arena_printf(&call->arena, "worker-%d", *(int *)call->worker);
	return 0;
}

/*
 * PutTemplate (mutating): counts invocations and answers the template with
 * description "invocation N", so a second run would answer differently.
 * Names: "slow..." sleeps 1 s; "flaky" fails UNAVAILABLE the first time;
 * "bad" fails INVALID_ARGUMENT.
 */
static int
handle_put(struct call *call, const ProtobufCMessage *request, ProtobufCMessage *reply)
{
	const Berth__V1__PutTemplateRequest *in = (const Berth__V1__PutTemplateRequest *)request;
	Berth__V1__PutTemplateResponse *out = (Berth__V1__PutTemplateResponse *)reply;
	const char *name = in->template_ != NULL ? in->template_->name : "";
	int n = atomic_fetch_add(&app.put_calls, 1) + 1;

	if (strncmp(name, "slow", 4) == 0) {
		atomic_store(&app.put_slow_started, true);
		clock_sleep_ms(1000);
		atomic_store(&app.put_slow_finished, true);
	}
	if (strcmp(name, "flaky") == 0 && atomic_fetch_add(&app.flaky_calls, 1) == 0)
		return call_fail(call, BERTH__V1__CODE__UNAVAILABLE, "flaky: try again");
	if (strcmp(name, "bad") == 0)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "template.name",
		    "INVALID_NAME", "bad is a bad name (invocation %d)", n);
	out->template_ = ARENA_NEW(&call->arena, Berth__V1__Template);
	berth__v1__template__init(out->template_);
	out->template_->name = arena_strdup(&call->arena, name);
	out->template_->description = arena_printf(&call->arena, "invocation %d", n);
	out->created = 1;
	return 0;
}

static int
handle_delete(struct call *call, const ProtobufCMessage *request, ProtobufCMessage *reply)
{
	(void)call;
	(void)request;
	(void)reply;
	atomic_fetch_add(&app.delete_calls, 1);
	return 0;
}

static const struct rpc_route test_routes[] = {
	{ "Health", handle_health, false },
	{ "PutTemplate", handle_put, true },
	{ "DeleteTemplate", handle_delete, true },
	/* GetStats and the rest: declared in the proto, no route here. */
};

static void *
test_worker_open(void *a)
{
	struct test_app *ta = a;
	int index = atomic_fetch_add(&ta->worker_opens, 1);
	int *state;

	if (index == atomic_load(&ta->fail_worker_open_at)) {
		atomic_fetch_sub(&ta->worker_opens, 1);
		return NULL;
	}
	state = malloc(sizeof(*state));
	if (state != NULL)
		*state = index;
	return state;
}

static void
test_worker_close(void *worker)
{
	atomic_fetch_add(&app.worker_closes, 1);
	free(worker);
}

/* --- fixture ------------------------------------------------------------------- */

struct fixture {
	char url[128];
	struct dispatch_table table;
	struct rpc_server_hooks hooks;
	struct rpc_server_config config;
	const char *urls[1];
	struct rpc_server *srv;
	berth_client *client;
	/*
	 * A raw connection a test holds, closed by teardown if the test failed
	 * first: a reply nng has written in part keeps the server's stop
	 * waiting until the peer reads or goes.
	 */
	int raw_fd;
};

static void
reset_app(void)
{
	memset(&app, 0, sizeof(app));
	atomic_store(&app.fail_worker_open_at, -1);
}

static void
prepare(struct fixture *f)
{
	static atomic_int counter;
	struct error err = { 0 };

	snprintf(f->url, sizeof(f->url), "ipc:///tmp/berth-rpc-test-%d-%d.sock", (int)getpid(),
	    atomic_fetch_add(&counter, 1));
	if (dispatch_table_init(&f->table, test_routes, sizeof(test_routes) / sizeof(test_routes[0]),
		&err) != 0)
		fail_msg("dispatch_table_init: %s", err.message);
	f->hooks = (struct rpc_server_hooks){ &app, test_worker_open, test_worker_close };
	f->urls[0] = f->url;
	f->config = (struct rpc_server_config){
		.urls = f->urls,
		.n_urls = 1,
		.workers = WORKERS,
		.max_request_bytes = MAX_REQUEST_BYTES,
		.default_timeout_ms = DEFAULT_TIMEOUT_MS,
		.ipc = { 0600, -1 },
	};
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	berth_status st;
	struct error err = { 0 };

	if (f == NULL)
		return -1;
	f->raw_fd = -1;
	reset_app();
	prepare(f);
	if (rpc_server_start(&f->srv, &f->config, &f->table, &f->hooks, &err) != 0) {
		fprintf(stderr, "rpc_server_start: %s\n", err.message);
		return -1;
	}
	if (berth_open(&f->client, f->url, NULL, &st) != 0) {
		fprintf(stderr, "berth_open: %s\n", st.message);
		return -1;
	}
	*state = f;
	return 0;
}

/* A fixture without a running server, for start-up tests. */
static int
setup_stopped(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->raw_fd = -1;
	reset_app();
	prepare(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->raw_fd >= 0)
		close(f->raw_fd); /* first: berth_close's nng_close waits on nng's reaper too */
	berth_close(f->client);
	rpc_server_stop(f->srv);
	unlink(f->url + strlen("ipc://"));
	free(f);
	return 0;
}

/* --- raw transport helpers ----------------------------------------------------- */

/* Serialises `m` into malloc'ed memory. */
static uint8_t *
pack_message(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	protobuf_c_message_pack(m, buf);
	return buf;
}

/* An RpcRequest envelope around `payload`, malloc'ed. */
static uint8_t *
pack_envelope(const char *method, const void *payload, size_t payload_len, uint32_t timeout_ms,
    const char *request_id, size_t *len)
{
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;

	env.method = (char *)method;
	env.payload.data = (uint8_t *)payload;
	env.payload.len = payload_len;
	env.timeout_ms = timeout_ms;
	env.request_id = (char *)request_id;
	return pack_message(&env.base, len);
}

struct raw_reply {
	uint8_t *data; /* the reply's bytes, malloc'ed */
	size_t len;
	Berth__V1__RpcResponse *resp; /* decoded; NULL if not an RpcResponse */
};

/*
 * Sends `len` bytes on a fresh req0 socket and waits for the answer.
 * Returns 0 or the nng error (NNG_ETIMEDOUT when nothing came back).
 */
static int
raw_exchange(const char *url, const void *data, size_t len, int timeout_ms, struct raw_reply *out)
{
	nng_socket sock;
	void *buf = NULL;
	size_t got = 0;
	int rv;

	memset(out, 0, sizeof(*out));
	if ((rv = nng_req0_open(&sock)) != 0)
		return rv;
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, timeout_ms);
	if ((rv = nng_dial(sock, url, NULL, 0)) == 0 &&
	    (rv = nng_send(sock, (void *)data, len, 0)) == 0 &&
	    (rv = nng_recv(sock, &buf, &got, NNG_FLAG_ALLOC)) == 0) {
		out->data = malloc(got ? got : 1);
		if (out->data != NULL)
			memcpy(out->data, buf, got);
		out->len = got;
		out->resp = berth__v1__rpc_response__unpack(NULL, got, buf);
		nng_free(buf, got);
	}
	nng_close(sock);
	return rv;
}

static void
raw_reply_free(struct raw_reply *r)
{
	free(r->data);
	berth__v1__rpc_response__free_unpacked(r->resp, NULL);
	memset(r, 0, sizeof(*r));
}

/* Sends `data` raw and expects an RpcResponse with `code`. */
static void
assert_raw_code(const char *url, const void *data, size_t len, int code)
{
	struct raw_reply r;
	int rv = raw_exchange(url, data, len, 10000, &r);

	if (rv != 0)
		fail_msg("raw exchange: %s", nng_strerror(rv));
	assert_non_null(r.resp);
	assert_int_equal(r.resp->code, code);
	assert_true(r.resp->message[0] != '\0');
	assert_int_equal(r.resp->payload.len, 0);
	raw_reply_free(&r);
}

/* Sends an envelope for `method` with an empty payload; expects `code`. */
static void
assert_method_code(const char *url, const char *method, int code)
{
	size_t len;
	uint8_t *env = pack_envelope(method, NULL, 0, 5000, "", &len);

	assert_raw_code(url, env, len, code);
	free(env);
}

/* --- libberth helpers ----------------------------------------------------------- */

static int
call_health(berth_client *c, const char *service, berth_status *st)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	int code;

	req.service = (char *)service;
	code = berth_call(c, "Health", &req.base, &reply, st);
	if (code == 0) {
		Berth__V1__HealthResponse *h = (Berth__V1__HealthResponse *)reply;
		if (h->status != BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING ||
		    strcmp(h->version, "test-1.0") != 0)
			code = -1;
	}
	berth_reply_free(reply);
	return code;
}

static void
assert_server_serves(berth_client *c)
{
	berth_status st;

	if (call_health(c, "", &st) != 0)
		fail_msg("Health failed: %s %s", berth_code_name(st.code), st.message);
}

/* PutTemplate of `name` with `request_id`; *description gets the reply's (malloc'ed). */
static int
call_put(berth_client *c, const char *name, const char *request_id, char **description,
    berth_status *st)
{
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateResponse *reply = NULL;
	int code;

	t.name = (char *)name;
	req.template_ = &t;
	code = berth_call_with_id(c, "PutTemplate", request_id, &req.base,
	    (ProtobufCMessage **)&reply, st);
	if (description != NULL)
		*description = code == 0 ? strdup(reply->template_->description) : NULL;
	berth_reply_free((ProtobufCMessage *)reply);
	return code;
}

/* An envelope for PutTemplate of template `name`, malloc'ed. */
static uint8_t *
put_envelope(const char *name, const char *request_id, size_t *len)
{
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	uint8_t *payload, *env;
	size_t plen;

	t.name = (char *)name;
	req.template_ = &t;
	payload = pack_message(&req.base, &plen);
	env = pack_envelope(PUT_PATH, payload, plen, 10000, request_id, len);
	free(payload);
	return env;
}

/* --- (1) concurrency ------------------------------------------------------------- */

struct health_thread {
	berth_client *client;
	const char *service;
	int code;
	berth_status st;
};

static void *
health_thread_main(void *arg)
{
	struct health_thread *h = arg;

	h->code = call_health(h->client, h->service, &h->st);
	return NULL;
}

static void
test_slow_call_does_not_block_a_fast_one(void **state)
{
	struct fixture *f = *state;
	struct health_thread slow = { f->client, "slow", -1 };
	berth_status st;
	pthread_t t;
	int64_t started;

	assert_int_equal(pthread_create(&t, NULL, health_thread_main, &slow), 0);
	assert_true(wait_flag(&app.slow_started));

	started = clock_monotonic_ms();
	assert_int_equal(call_health(f->client, "", &st), 0);
	/* The fast call finished while the slow one was still in its handler. */
	assert_false(atomic_load(&app.slow_finished));
	assert_true(clock_monotonic_ms() - started < SLOW_MS);

	pthread_join(t, NULL);
	assert_int_equal(slow.code, 0);
	assert_true(atomic_load(&app.slow_finished));
}

/* One connection each: a connection alone may hold only a share of the workers. */
static void
test_as_many_slow_calls_as_workers_run_at_once(void **state)
{
	struct fixture *f = *state;
	struct health_thread slow[WORKERS];
	berth_client *clients[WORKERS];
	pthread_t t[WORKERS];
	berth_status st;
	int64_t started, took;

	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(berth_open(&clients[i], f->url, NULL, &st), 0);
	started = clock_monotonic_ms();
	for (int i = 0; i < WORKERS; i++) {
		slow[i] = (struct health_thread){ clients[i], "slow", -1 };
		assert_int_equal(pthread_create(&t[i], NULL, health_thread_main, &slow[i]), 0);
	}
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(slow[i].code, 0);
		berth_close(clients[i]);
	}
	took = clock_monotonic_ms() - started;
	/* In series they would take WORKERS * 1.5 s = 6 s. */
	assert_true(took < (WORKERS - 1) * SLOW_MS);
	assert_int_equal(atomic_load(&app.health_calls), WORKERS);
}

/* --- (2) at most once per request_id -------------------------------------------- */

static void
test_repeated_request_id_runs_mutating_handler_once(void **state)
{
	struct fixture *f = *state;
	char *first = NULL, *second = NULL;
	berth_status st;

	assert_int_equal(call_put(f->client, "web", "req-1", &first, &st), 0);
	assert_int_equal(call_put(f->client, "web", "req-1", &second, &st), 0);
	assert_int_equal(atomic_load(&app.put_calls), 1);
	assert_string_equal(first, "invocation 1");
	assert_string_equal(second, "invocation 1");
	free(first);
	free(second);

	/* A new id runs again. */
	assert_int_equal(call_put(f->client, "web", "req-2", &first, &st), 0);
	assert_string_equal(first, "invocation 2");
	assert_int_equal(atomic_load(&app.put_calls), 2);
	free(first);
}

static void
test_repeated_request_id_replays_byte_identical_reply(void **state)
{
	struct fixture *f = *state;
	struct raw_reply a, b;
	size_t len;
	uint8_t *env = put_envelope("web", "same-id", &len);

	assert_int_equal(raw_exchange(f->url, env, len, 10000, &a), 0);
	assert_int_equal(raw_exchange(f->url, env, len, 10000, &b), 0);
	assert_non_null(a.resp);
	assert_int_equal(a.resp->code, BERTH__V1__CODE__OK);
	assert_string_equal(a.resp->request_id, "same-id");
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(atomic_load(&app.put_calls), 1);
	raw_reply_free(&a);
	raw_reply_free(&b);
	free(env);
}

struct raw_thread {
	const char *url;
	const uint8_t *data;
	size_t len;
	int rv;
	struct raw_reply reply;
	atomic_bool done;
};

static void *
raw_thread_main(void *arg)
{
	struct raw_thread *r = arg;

	r->rv = raw_exchange(r->url, r->data, r->len, 10000, &r->reply);
	atomic_store(&r->done, true);
	return NULL;
}

static void
test_duplicate_arriving_while_first_runs_waits_and_replays(void **state)
{
	struct fixture *f = *state;
	struct raw_thread first;
	struct raw_reply second;
	pthread_t t;
	size_t len;
	uint8_t *env = put_envelope("slow-web", "dup-while-running", &len);

	memset(&first, 0, sizeof(first));
	first.url = f->url;
	first.data = env;
	first.len = len;
	assert_int_equal(pthread_create(&t, NULL, raw_thread_main, &first), 0);
	assert_true(wait_flag(&app.put_slow_started));

	/* Same bytes, same request_id, while the first is in its handler. */
	assert_int_equal(raw_exchange(f->url, env, len, 10000, &second), 0);
	/* The duplicate could only answer once the first had finished. */
	assert_true(atomic_load(&app.put_slow_finished));
	pthread_join(t, NULL);

	assert_int_equal(first.rv, 0);
	assert_int_equal(atomic_load(&app.put_calls), 1);
	assert_non_null(second.resp);
	assert_int_equal(second.resp->code, BERTH__V1__CODE__OK);
	assert_int_equal(first.reply.len, second.len);
	assert_memory_equal(first.reply.data, second.data, second.len);
	raw_reply_free(&first.reply);
	raw_reply_free(&second);
	free(env);
}

static void
test_duplicate_whose_deadline_passes_while_first_runs_is_deadline_exceeded(void **state)
{
	struct fixture *f = *state;
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	struct raw_thread first;
	struct raw_reply second;
	uint8_t *env, *short_env, *payload;
	size_t len, short_len, plen;
	pthread_t th;

	t.name = "slow-web";
	req.template_ = &t;
	payload = pack_message(&req.base, &plen);
	env = pack_envelope(PUT_PATH, payload, plen, 10000, "dup-busy", &len);
	short_env = pack_envelope(PUT_PATH, payload, plen, 200, "dup-busy", &short_len);

	memset(&first, 0, sizeof(first));
	first.url = f->url;
	first.data = env;
	first.len = len;
	assert_int_equal(pthread_create(&th, NULL, raw_thread_main, &first), 0);
	assert_true(wait_flag(&app.put_slow_started));

	/* The duplicate may wait only 200 ms; the first needs a second. */
	assert_int_equal(raw_exchange(f->url, short_env, short_len, 10000, &second), 0);
	assert_false(atomic_load(&app.put_slow_finished));
	assert_non_null(second.resp);
	assert_int_equal(second.resp->code, BERTH__V1__CODE__DEADLINE_EXCEEDED);
	assert_non_null(strstr(second.resp->message, "still running"));
	pthread_join(th, NULL);
	assert_int_equal(first.rv, 0);
	assert_int_equal(first.reply.resp->code, BERTH__V1__CODE__OK);
	assert_int_equal(atomic_load(&app.put_calls), 1);
	raw_reply_free(&first.reply);
	raw_reply_free(&second);
	free(short_env);
	free(env);
	free(payload);
}

static void
test_empty_request_id_is_never_deduplicated(void **state)
{
	struct fixture *f = *state;
	berth_status st;

	assert_int_equal(call_put(f->client, "web", "", NULL, &st), 0);
	assert_int_equal(call_put(f->client, "web", "", NULL, &st), 0);
	assert_int_equal(atomic_load(&app.put_calls), 2);
}

static void
test_fresh_request_ids_of_berth_call_run_every_time(void **state)
{
	struct fixture *f = *state;
	Berth__V1__DeleteTemplateRequest req = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply;
	berth_status st;

	req.name = "x";
	for (int i = 0; i < 3; i++) {
		assert_int_equal(berth_call(f->client, "DeleteTemplate", &req.base, &reply, &st), 0);
		berth_reply_free(reply);
	}
	assert_int_equal(atomic_load(&app.delete_calls), 3);
}

/*
 * One request id for two different requests: the second used to get the
 * first one's answer and nothing ran for it. Now it is refused, and the
 * first keeps its answer.
 */
static void
test_request_id_reused_with_another_payload_is_refused(void **state)
{
	struct fixture *f = *state;
	char *first = NULL;
	berth_status st;

	assert_int_equal(call_put(f->client, "web", "reused", &first, &st), 0);
	assert_int_equal(call_put(f->client, "api", "reused", NULL, &st),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_string_equal(st.reason, "REQUEST_ID_REUSED");
	assert_non_null(strstr(st.message, "request id reused with a different request"));
	assert_int_equal(atomic_load(&app.put_calls), 1);
	free(first);
	/* The original request with its id still replays its own answer. */
	assert_int_equal(call_put(f->client, "web", "reused", &first, &st), 0);
	assert_string_equal(first, "invocation 1");
	assert_int_equal(atomic_load(&app.put_calls), 1);
	free(first);
}

static void
test_same_request_id_on_another_method_runs_it(void **state)
{
	struct fixture *f = *state;
	Berth__V1__DeleteTemplateRequest req = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply;
	berth_status st;

	req.name = "web";
	assert_int_equal(call_put(f->client, "web", "shared-id", NULL, &st), 0);
	assert_int_equal(
	    berth_call_with_id(f->client, "DeleteTemplate", "shared-id", &req.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_int_equal(atomic_load(&app.put_calls), 1);
	assert_int_equal(atomic_load(&app.delete_calls), 1);
}

static void
test_read_only_method_is_not_deduplicated(void **state)
{
	struct fixture *f = *state;
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *reply;
	berth_status st;

	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    berth_call_with_id(f->client, "Health", "read-id", &req.base, &reply, &st), 0);
		berth_reply_free(reply);
	}
	assert_int_equal(atomic_load(&app.health_calls), 2);
}

static void
test_transient_failure_is_not_replayed(void **state)
{
	struct fixture *f = *state;
	char *description = NULL;
	berth_status st;

	assert_int_equal(call_put(f->client, "flaky", "retry-id", NULL, &st),
	    BERTH__V1__CODE__UNAVAILABLE);
	/* The retry with the same id runs the handler again, and succeeds. */
	assert_int_equal(call_put(f->client, "flaky", "retry-id", &description, &st), 0);
	assert_string_equal(description, "invocation 2");
	assert_int_equal(atomic_load(&app.put_calls), 2);
	free(description);
}

static void
test_definite_failure_is_replayed_with_its_details(void **state)
{
	struct fixture *f = *state;
	berth_status first, second;

	assert_int_equal(call_put(f->client, "bad", "bad-id", NULL, &first),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(call_put(f->client, "bad", "bad-id", NULL, &second),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(atomic_load(&app.put_calls), 1);
	assert_string_equal(first.message, "bad is a bad name (invocation 1)");
	assert_string_equal(second.message, first.message);
	assert_string_equal(second.field, "template.name");
	assert_string_equal(second.reason, "INVALID_NAME");
}

/* --- (3)(4) malformed input ------------------------------------------------------ */

static void
test_garbage_bytes_are_invalid_argument_and_server_keeps_serving(void **state)
{
	static const uint8_t truncated[] = { 0x0a, 0x7f, 'g', 'a', 'r', 'b' }; /* len 127, 4 bytes */
	static const uint8_t bad_varint[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff };
	static const uint8_t bad_wire_type[] = { 0x0f, 0x01 }; /* wire type 7 */
	struct fixture *f = *state;

	assert_raw_code(f->url, truncated, sizeof(truncated), BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_raw_code(f->url, bad_varint, sizeof(bad_varint), BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_raw_code(f->url, bad_wire_type, sizeof(bad_wire_type),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_server_serves(f->client);
	assert_int_equal(atomic_load(&app.health_calls), 1);
}

static void
test_empty_message_is_an_envelope_without_method(void **state)
{
	struct fixture *f = *state;

	assert_raw_code(f->url, "", 0, BERTH__V1__CODE__UNIMPLEMENTED);
	assert_server_serves(f->client);
}

static void
test_garbage_payload_in_valid_envelope_is_invalid_argument(void **state)
{
	static const uint8_t garbage[] = { 0x0a, 0x7f, 'x', 'y' };
	struct fixture *f = *state;
	struct raw_reply r;
	size_t len;
	uint8_t *env = pack_envelope(HEALTH_PATH, garbage, sizeof(garbage), 5000, "gp", &len);

	assert_int_equal(raw_exchange(f->url, env, len, 10000, &r), 0);
	assert_non_null(r.resp);
	assert_int_equal(r.resp->code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r.resp->message, "HealthRequest"));
	assert_string_equal(r.resp->request_id, "gp");
	assert_int_equal(atomic_load(&app.health_calls), 0); /* the handler never ran */
	raw_reply_free(&r);
	free(env);
	assert_server_serves(f->client);
}

static void
test_response_echoes_request_id(void **state)
{
	struct fixture *f = *state;
	struct raw_reply r;
	size_t len;
	uint8_t *env = pack_envelope(HEALTH_PATH, NULL, 0, 5000, "echo-me-123", &len);

	assert_int_equal(raw_exchange(f->url, env, len, 10000, &r), 0);
	assert_int_equal(r.resp->code, BERTH__V1__CODE__OK);
	assert_string_equal(r.resp->request_id, "echo-me-123");
	assert_true(r.resp->payload.len > 0);
	raw_reply_free(&r);
	free(env);
}

static void
test_overlong_request_id_is_invalid_argument(void **state)
{
	struct fixture *f = *state;
	char id[130];
	berth_status st;

	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0'; /* 129 bytes: one past the limit */
	assert_int_equal(call_put(f->client, "web", id, NULL, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "request_id");
	id[128] = '\0'; /* exactly 128 is fine */
	assert_int_equal(call_put(f->client, "web", id, NULL, &st), 0);
	assert_int_equal(atomic_load(&app.put_calls), 1);
}

static void
test_request_id_with_control_characters_is_invalid_argument(void **state)
{
	struct fixture *f = *state;
	berth_status st;

	assert_int_equal(call_put(f->client, "web", "id\nwith newline", NULL, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "request_id");
	assert_int_equal(call_put(f->client, "web", "id\xff", NULL, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(atomic_load(&app.put_calls), 0);
}

/* --- (5) size limit ------------------------------------------------------------- */

static int
put_with_description_of(berth_client *c, size_t bytes, berth_status *st)
{
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	ProtobufCMessage *reply = NULL;
	char *description = malloc(bytes + 1);
	int code;

	assert_non_null(description);
	memset(description, 'd', bytes);
	description[bytes] = '\0';
	t.name = "big";
	t.description = description;
	req.template_ = &t;
	code = berth_call(c, "PutTemplate", &req.base, &reply, st);
	berth_reply_free(reply);
	free(description);
	return code;
}

static void
test_oversized_request_is_resource_exhausted_and_server_keeps_serving(void **state)
{
	struct fixture *f = *state;
	berth_status st;

	assert_int_equal(put_with_description_of(f->client, 100 * 1024, &st),
	    BERTH__V1__CODE__RESOURCE_EXHAUSTED);
	assert_non_null(strstr(st.message, "65536"));
	assert_int_equal(atomic_load(&app.put_calls), 0);
	assert_server_serves(f->client);
}

static void
test_request_just_under_the_limit_is_served(void **state)
{
	struct fixture *f = *state;
	berth_status st;

	assert_int_equal(put_with_description_of(f->client, MAX_REQUEST_BYTES - 1024, &st), 0);
	assert_int_equal(atomic_load(&app.put_calls), 1);
}

/* True when the server closes the connection instead of answering `body`. */
static bool
oversized_message_closes_the_connection(const char *url, const void *body, size_t len)
{
	void *answer = NULL;
	size_t n = 0;
	enum sp_raw_result r = sp_raw_exchange(url, body, len, 5000, &answer, &n);

	free(answer);
	return r == SP_RAW_CLOSED;
}

static void
test_request_beyond_transport_limit_does_not_stop_the_server(void **state)
{
	struct fixture *f = *state;
	size_t big = MAX_REQUEST_BYTES * 4 + 65536; /* past rpc_server's transport maximum */
	uint8_t *payload = calloc(1, big);
	uint8_t *env;
	size_t len;

	assert_non_null(payload);
	env = pack_envelope(HEALTH_PATH, payload, big, 5000, "", &len);
	/*
	 * nng drops such a message with its connection: no answer, the
	 * connection closed. Sent over a plain unix socket speaking SP by hand,
	 * since closing an nng req0 socket with this send half-done can hang
	 * in nng 1.5.2's client (a test-side problem, not berthd's).
	 */
	assert_true(oversized_message_closes_the_connection(f->url, env, len));
	free(env);
	free(payload);
	assert_server_serves(f->client);
}

/* --- (6) unknown and unrouted methods --------------------------------------------- */

static void
test_unknown_method_paths_are_unimplemented(void **state)
{
	struct fixture *f = *state;

	assert_method_code(f->url, "/berth.v1.Berth/Nope", BERTH__V1__CODE__UNIMPLEMENTED);
	assert_method_code(f->url, "/other.Svc/Health", BERTH__V1__CODE__UNIMPLEMENTED);
	assert_method_code(f->url, "/berth.v1.BerthX/Health", BERTH__V1__CODE__UNIMPLEMENTED);
	assert_method_code(f->url, "/berth.v1.Berth/", BERTH__V1__CODE__UNIMPLEMENTED);
	assert_method_code(f->url, "", BERTH__V1__CODE__UNIMPLEMENTED);
	assert_method_code(f->url, "/berth.v1.Berth/Health\xff", BERTH__V1__CODE__UNIMPLEMENTED);
	assert_int_equal(atomic_load(&app.health_calls), 0);
	assert_server_serves(f->client);
}

static void
test_declared_method_without_route_is_unimplemented(void **state)
{
	struct fixture *f = *state;
	Berth__V1__GetStatsRequest req = BERTH__V1__GET_STATS_REQUEST__INIT;
	ProtobufCMessage *reply = (ProtobufCMessage *)0x1;
	berth_status st;

	assert_int_equal(berth_call(f->client, "GetStats", &req.base, &reply, &st),
	    BERTH__V1__CODE__UNIMPLEMENTED);
	assert_null(reply);
	assert_non_null(strstr(st.message, "GetStats"));
	assert_method_code(f->url, "/berth.v1.Berth/ListTemplates", BERTH__V1__CODE__UNIMPLEMENTED);
}

static void
test_route_for_undeclared_method_fails_table_init(void **state)
{
	static const struct rpc_route bad[] = {
		{ "Health", handle_health, false },
		{ "Helth", handle_health, false },
	};
	struct dispatch_table table;
	struct error err = { 0 };

	(void)state;
	assert_int_equal(dispatch_table_init(&table, bad, 2, &err), -1);
	assert_non_null(strstr(err.message, "Helth"));
}

/* --- (7) deadlines ---------------------------------------------------------------- */

static void
test_timeout_shorter_than_the_handler_is_deadline_exceeded(void **state)
{
	struct fixture *f = *state;
	berth_status st;

	berth_set_timeout(f->client, 200);
	assert_int_equal(call_health(f->client, "slow", &st), BERTH__V1__CODE__DEADLINE_EXCEEDED);
	assert_false(atomic_load(&app.slow_finished));
	/* The worker is free again afterwards. */
	berth_set_timeout(f->client, 0);
	assert_server_serves(f->client);
}

static void
test_handler_deadline_comes_from_timeout_ms(void **state)
{
	struct fixture *f = *state;
	berth_status st;
	long long left;

	berth_set_timeout(f->client, 200);
	assert_int_equal(call_health(f->client, "deadline", &st), 0);
	left = atomic_load(&app.remaining_ms);
	assert_true(left > 0);
	assert_true(left <= 200);
}

static void
test_handler_deadline_defaults_when_client_sends_none(void **state)
{
	struct fixture *f = *state;
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	uint8_t *payload, *env;
	size_t plen, len;
	struct raw_reply r;
	long long left;

	req.service = "deadline";
	payload = pack_message(&req.base, &plen);
	env = pack_envelope(HEALTH_PATH, payload, plen, 0, "", &len);
	assert_int_equal(raw_exchange(f->url, env, len, 10000, &r), 0);
	assert_int_equal(r.resp->code, BERTH__V1__CODE__OK);
	left = atomic_load(&app.remaining_ms);
	assert_true(left > DEFAULT_TIMEOUT_MS - 5000);
	assert_true(left <= DEFAULT_TIMEOUT_MS);
	raw_reply_free(&r);
	free(env);
	free(payload);
}

/* --- (8) UTF-8 of request fields ---------------------------------------------------- */

static void
test_invalid_utf8_in_top_level_field_is_invalid_argument_naming_it(void **state)
{
	struct fixture *f = *state;
	berth_status st;

	assert_int_equal(call_health(f->client, "bad \xc0\xaf overlong", &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "service");
	assert_string_equal(st.reason, "INVALID_UTF8");
	assert_non_null(strstr(st.message, "service"));
	assert_int_equal(atomic_load(&app.health_calls), 0);
}

/*
 * Nested fields are reported by their dotted path, as ErrorDetail.field
 * documents ("template.port_range_start") and as validate_template() does.
 */
static void
test_invalid_utf8_in_nested_field_is_invalid_argument_naming_its_path(void **state)
{
	struct fixture *f = *state;
	berth_status st;

	assert_int_equal(call_put(f->client, "web\xff", "", NULL, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.reason, "INVALID_UTF8");
	assert_string_equal(st.field, "template.name");
	assert_int_equal(atomic_load(&app.put_calls), 0);
}

static void
test_invalid_utf8_in_repeated_field_names_its_index(void **state)
{
	struct fixture *f = *state;
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char *env[] = { "A=1", "B=\xed\xa0\x80" }; /* a surrogate */
	ProtobufCMessage *reply = NULL;
	berth_status st;

	t.name = "web";
	t.env = env;
	t.n_env = 2;
	req.template_ = &t;
	assert_int_equal(berth_call(f->client, "PutTemplate", &req.base, &reply, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_null(reply);
	assert_string_equal(st.reason, "INVALID_UTF8");
	assert_string_equal(st.field, "template.env[1]");
	assert_int_equal(atomic_load(&app.put_calls), 0);
}

/* --- (9) drain ---------------------------------------------------------------------- */

static void
test_drain_refuses_mutating_calls_and_serves_reads(void **state)
{
	struct fixture *f = *state;
	Berth__V1__DeleteTemplateRequest req = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply;
	berth_status st;

	assert_false(rpc_server_draining(f->srv));
	rpc_server_drain(f->srv);
	assert_true(rpc_server_draining(f->srv));

	assert_int_equal(call_put(f->client, "web", "drain-1", NULL, &st),
	    BERTH__V1__CODE__UNAVAILABLE);
	assert_non_null(strstr(st.message, "shutting down"));
	req.name = "web";
	assert_int_equal(berth_call(f->client, "DeleteTemplate", &req.base, &reply, &st),
	    BERTH__V1__CODE__UNAVAILABLE);
	assert_int_equal(atomic_load(&app.put_calls), 0);
	assert_int_equal(atomic_load(&app.delete_calls), 0);
	assert_server_serves(f->client);
}

/* --- (10) the generated typed caller ------------------------------------------------- */

struct health_result {
	bool called;
	bool got_reply;
	int status;
	char version[32];
	bool worker_seen;
	char worker[32];
};

static void
on_health(const Berth__V1__HealthResponse *message, void *data)
{
	struct health_result *r = data;

	r->called = true;
	r->got_reply = message != NULL;
	if (message != NULL) {
		r->status = message->status;
		snprintf(r->version, sizeof(r->version), "%s", message->version);
		r->worker_seen = message->docker_available;
		snprintf(r->worker, sizeof(r->worker), "%s", message->docker_api_version);
	}
}

static void
test_typed_caller_works_through_berth_service(void **state)
{
	struct fixture *f = *state;
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	struct health_result r = { 0 };

	berth__v1__berth__health(berth_service(f->client), &req, on_health, &r);
	assert_true(r.called);
	assert_true(r.got_reply);
	assert_int_equal(r.status, BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING);
	assert_string_equal(r.version, "test-1.0");
	assert_int_equal(berth_last_status()->code, BERTH__V1__CODE__OK);
	/* The handler saw the hooks' app and its worker's own state. */
	assert_true(r.worker_seen);
	assert_memory_equal(r.worker, "worker-", 7);
}

static void
get_stats_closure(const Berth__V1__GetStatsResponse *message, void *data)
{
	struct health_result *r = data;

	r->called = true;
	r->got_reply = message != NULL;
}

static void
test_typed_caller_reports_failure_through_last_status(void **state)
{
	struct fixture *f = *state;
	Berth__V1__GetStatsRequest req = BERTH__V1__GET_STATS_REQUEST__INIT;
	struct health_result r = { 0 };

	berth__v1__berth__get_stats(berth_service(f->client), &req, get_stats_closure, &r);
	assert_true(r.called);
	assert_false(r.got_reply);
	assert_int_equal(berth_last_status()->code, BERTH__V1__CODE__UNIMPLEMENTED);
}

/* --- start and stop ---------------------------------------------------------------- */

static void
test_start_on_bad_url_fails_and_cleans_up(void **state)
{
	struct fixture *f = *state;
	const char *urls[] = { "bogus://nowhere" };
	struct error err = { 0 };

	f->config.urls = urls;
	assert_int_equal(rpc_server_start(&f->srv, &f->config, &f->table, &f->hooks, &err),
	    -1);
	f->srv = NULL;
	assert_non_null(strstr(err.message, "bogus://nowhere"));
	assert_int_equal(atomic_load(&app.worker_opens), WORKERS);
	assert_int_equal(atomic_load(&app.worker_closes), WORKERS);
}

static void
test_start_fails_when_a_worker_cannot_be_prepared(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };

	atomic_store(&app.fail_worker_open_at, 2);
	assert_int_equal(rpc_server_start(&f->srv, &f->config, &f->table, &f->hooks, &err),
	    -1);
	f->srv = NULL;
	assert_non_null(strstr(err.message, "worker"));
	/* The two workers prepared before are closed again. */
	assert_int_equal(atomic_load(&app.worker_opens), 2);
	assert_int_equal(atomic_load(&app.worker_closes), 2);
}

/*
 * Only the refusal is checked here: nng's address-in-use probe connects to
 * the first server and hangs up, which on nng 1.5.2 can break that server's
 * listener (see the known-bug test below).
 */
static void
test_second_server_on_same_url_fails(void **state)
{
	struct fixture *f = *state;
	struct rpc_server *second = NULL;
	struct error err = { 0 };

	assert_int_equal(rpc_server_start(&second, &f->config, &f->table, &f->hooks, &err),
	    -1);
	assert_non_null(strstr(err.message, f->url));
}

/* Connects to the ipc socket of `url` and hangs up before the SP handshake. */
static void
connect_and_hang_up(const char *url)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", url + strlen("ipc://"));
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	(void)connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
}

/*
 * KNOWN BUG, skipped unless BERTH_TEST_KNOWN_BUGS is set: with nng 1.5.2
 * (Debian 12's libnng1) a peer that disconnects while another connection
 * is in its SP handshake can leave the listener unable to finish any
 * handshake (nanomsg/nng#1518, fixed in nng 1.6.0 by #1519). Clients then
 * time out, new ones too, until berthd restarts. Anything may connect to
 * berthd's socket (a second berthd probing the address, a monitoring
 * check, a CLI killed while connecting), so berthd needs nng >= 1.6.0 or
 * that fix backported. Fails within a few dozen rounds on nng 1.5.2.
 */
static void
test_listener_survives_peers_that_hang_up_during_handshake(void **state)
{
	struct fixture *f = *state;
	berth_options opts = { NULL, 1000 };

	if (getenv("BERTH_TEST_KNOWN_BUGS") == NULL) {
		print_message("skipped: fails on nng < 1.6.0; BERTH_TEST_KNOWN_BUGS=1 runs it\n");
		skip();
	}
	for (int round = 0; round < 200; round++) {
		berth_client *c;
		berth_status st;
		int code;

		assert_int_equal(berth_open(&c, f->url, &opts, &st), 0);
		connect_and_hang_up(f->url);
		code = call_health(c, "", &st);
		berth_close(c);
		if (code != 0)
			fail_msg("round %d: Health failed: %s %s", round, berth_code_name(st.code),
			    st.message);
	}
}

/* Reads exactly len bytes within 5 s; false on EOF, error or timeout. */
static bool
read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 5000) != 1 || (n = read(fd, p, len)) <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* A raw req0 peer on the ipc socket of `url`: the SP header both ways. -1 on failure. */
static int
raw_ipc_connect(const char *url)
{
	static const uint8_t hello[8] = { 0, 'S', 'P', 0, 0, 0x30 /* req0 */, 0, 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint8_t peer[8];

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", url + strlen("ipc://"));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello) ||
	    !read_full(fd, peer, sizeof(peer)) || memcmp(peer, "\0SP\0", 4) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One request in nng's ipc framing: type 1, 64-bit length, request id, body. */
static bool
raw_ipc_send(int fd, uint32_t request_id, const void *body, size_t len)
{
	uint8_t head[13];
	uint64_t n = (uint64_t)len + 4;
	const uint8_t *p = body;

	head[0] = 1;
	for (int i = 0; i < 8; i++)
		head[1 + i] = (uint8_t)(n >> (56 - 8 * i));
	request_id |= 0x80000000u;
	for (int i = 0; i < 4; i++)
		head[9 + i] = (uint8_t)(request_id >> (24 - 8 * i));
	if (send(fd, head, sizeof(head), MSG_NOSIGNAL) != (ssize_t)sizeof(head))
		return false;
	while (len > 0) {
		ssize_t sent = send(fd, p, len, MSG_NOSIGNAL);

		if (sent <= 0)
			return false;
		p += sent;
		len -= (size_t)sent;
	}
	return true;
}

/*
 * A client that sends requests and never reads the replies: once its
 * connection's buffers are full, the replies to it cannot leave. The
 * workers answering it must give up (after 5 s) instead of waiting for
 * ever, the other clients are answered meanwhile, and the connection of
 * the client that takes no replies is closed.
 */
static void
test_client_that_never_reads_its_replies_does_not_hold_the_workers(void **state)
{
	struct fixture *f = *state;
	char *name = malloc(60000);
	uint8_t *env, buf[65536];
	size_t len;
	int fd, sent = 0;
	bool closed = false;
	int64_t until;

	/*
	 * KNOWN BUG, skipped unless BERTH_TEST_KNOWN_BUGS is set: about one
	 * full run in ten, nng 1.5.2's reaper stays stuck on the connection
	 * closed with a reply written in part and the teardown's nng_close
	 * hangs (seen in CI and reproduced under load). test_chaos_hostile
	 * checks the same behaviour against a real berthd.
	 */
	if (getenv("BERTH_TEST_KNOWN_BUGS") == NULL) {
		free(name);
		print_message("skipped: nng 1.5.2 can hang in the teardown; BERTH_TEST_KNOWN_BUGS=1 "
			      "runs it\n");
		skip();
	}
	/* PutTemplate answers the name back: 60 KB replies fill the socket quickly. */
	assert_non_null(name);
	memset(name, 'n', 59999);
	name[59999] = '\0';
	env = put_envelope(name, "", &len);
	fd = raw_ipc_connect(f->url);
	assert_true(fd >= 0);
	f->raw_fd = fd;
	/* Our sends stall too once the server stops reading: give up on them after 1 s. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ 1, 0 }, sizeof(struct timeval));
	/*
	 * Until the server stops reading or drops us: every worker could have
	 * one to answer, and more wait. (One reply that the connection has
	 * taken in part holds neither a worker nor a place in flight.)
	 */
	for (int i = 0; i < 64 && sent == i; i++)
		sent += raw_ipc_send(fd, (uint32_t)i + 1, env, len);
	assert_true(sent > WORKERS);

	berth_set_timeout(f->client, 15000);
	for (int round = 0; round < 3; round++) {
		int64_t started = clock_monotonic_ms();

		assert_server_serves(f->client);
		assert_true(clock_monotonic_ms() - started < 8000);
		clock_sleep_ms(500);
	}
	/* Closed by the server: whatever it could send, then the end. */
	until = clock_monotonic_ms() + 15000;
	while (!closed && clock_monotonic_ms() < until) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 1000) == 1 && (n = read(fd, buf, sizeof(buf))) <= 0)
			closed = true;
	}
	assert_true(closed);
	close(fd);
	f->raw_fd = -1;
	free(env);
	free(name);
	assert_server_serves(f->client);
}

/* --- fairness: one connection's share of the workers ----------------------------- */

/* As many calls in flight as the fixture's server allows one connection: max(2, WORKERS / 4). */
#define CALLS_PER_CONNECTION (WORKERS / 4 > 2 ? WORKERS / 4 : 2)
#define FLOODERS 4
#define FLOOD_REPLY_BYTES 30000

/*
 * A hostile client, as an nng REQ socket with many contexts would be: it
 * pipelines requests whose replies are 30 KB on one connection, sending
 * whenever the connection takes more and never reading a reply; when
 * berthd closes the connection it connects again and goes on, until told
 * to stop.
 */
struct flooder {
	const char *url;
	const uint8_t *request;
	size_t len;
	atomic_bool stop;
	atomic_int sent;
	atomic_int closed_by_server; /* connections berthd closed */
};

/*
 * Reads what the server sent until it hangs up (at most 5 s), then
 * closes. nng 1.5.2 cannot abandon a reply it has written in part: the
 * closed connection is reaped only once the write ends, and nng's one
 * reaper waits for it meanwhile (so would every later nng_close of this
 * process). A real flooder that never reads leaves that behind in berthd.
 */
static void
drain_and_close(int fd)
{
	uint8_t buf[65536];
	int64_t until = clock_monotonic_ms() + 5000;

	while (clock_monotonic_ms() < until) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		if (poll(&pfd, 1, 100) == 1 && read(fd, buf, sizeof(buf)) <= 0)
			break;
	}
	close(fd);
}

static void *
flooder_main(void *arg)
{
	struct flooder *fl = arg;
	size_t frame_len = 13 + fl->len;
	uint8_t *frame = malloc(frame_len);
	uint64_t n = (uint64_t)fl->len + 4;

	if (frame == NULL)
		return NULL;
	frame[0] = 1;
	for (int i = 0; i < 8; i++)
		frame[1 + i] = (uint8_t)(n >> (56 - 8 * i));
	memcpy(frame + 9, "\x80\0\0\1", 4); /* one request id for all: rep0 does not mind */
	memcpy(frame + 13, fl->request, fl->len);
	while (!atomic_load(&fl->stop)) {
		int fd = raw_ipc_connect(fl->url);
		size_t at = 0;

		if (fd < 0) {
			clock_sleep_ms(10);
			continue;
		}
		while (!atomic_load(&fl->stop)) {
			struct pollfd pfd = { fd, POLLOUT | POLLRDHUP, 0 };
			ssize_t put;

			if (poll(&pfd, 1, 100) == 1 && (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP))) {
				atomic_fetch_add(&fl->closed_by_server, 1);
				break;
			}
			if (!(pfd.revents & POLLOUT))
				continue;
			put = send(fd, frame + at, frame_len - at, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				atomic_fetch_add(&fl->closed_by_server, 1);
				break;
			}
			if (put > 0 && (at += (size_t)put) == frame_len) {
				at = 0;
				atomic_fetch_add(&fl->sent, 1);
			}
		}
		drain_and_close(fd);
	}
	free(frame);
	return NULL;
}

/*
 * FLOODERS connections pipeline requests and never read a reply, and
 * reconnect whenever berthd drops them (which is what nng's REQ does).
 * Another client's Health calls all answer within a timeout shorter than
 * the 5 s a reply may wait for a reader (a server whose workers wait for
 * those replies answers none in time), and berthd closes the flooding
 * connections.
 */
static void
test_clients_that_pipeline_without_reading_do_not_stall_the_others(void **state)
{
	struct fixture *f = *state;
	struct flooder fl[FLOODERS];
	pthread_t t[FLOODERS];
	char *name = malloc(FLOOD_REPLY_BYTES);
	uint8_t *env;
	size_t len;
	int closed = 0, sent = 0, answered = 0;
	berth_status st;

	/*
	 * KNOWN BUG, skipped unless BERTH_TEST_KNOWN_BUGS is set: the asserts
	 * pass (and fail without the per-connection limit: about 13 of 20
	 * Health calls answer), but afterwards nng 1.5.2's reaper stays stuck
	 * on a connection closed with a reply written in part, and the next
	 * nng_close (the fixture's teardown) hangs for good.
	 */
	if (getenv("BERTH_TEST_KNOWN_BUGS") == NULL) {
		free(name);
		print_message("skipped: nng 1.5.2 hangs in the teardown; BERTH_TEST_KNOWN_BUGS=1 runs it\n");
		skip();
	}
	assert_non_null(name);
	memset(name, 'n', FLOOD_REPLY_BYTES - 1);
	name[FLOOD_REPLY_BYTES - 1] = '\0';
	env = put_envelope(name, "", &len);
	for (int i = 0; i < FLOODERS; i++) {
		memset(&fl[i], 0, sizeof(fl[i]));
		fl[i].url = f->url;
		fl[i].request = env;
		fl[i].len = len;
		assert_int_equal(pthread_create(&t[i], NULL, flooder_main, &fl[i]), 0);
	}
	/* The flood is on: every flooder has more requests out than it has workers. */
	for (int i = 0; i < FLOODERS; i++)
		for (int64_t until = clock_monotonic_ms() + 10000;
		    atomic_load(&fl[i].sent) <= WORKERS && clock_monotonic_ms() < until;)
			clock_sleep_ms(5);

	berth_set_timeout(f->client, 3000);
	for (int round = 0; round < 20; round++) {
		if (call_health(f->client, "", &st) == 0)
			answered++;
		else
			print_message("Health %d: %s %s\n", round, berth_code_name(st.code),
			    st.message);
	}
	for (int i = 0; i < FLOODERS; i++) {
		atomic_store(&fl[i].stop, true);
		pthread_join(t[i], NULL);
		closed += atomic_load(&fl[i].closed_by_server);
		sent += atomic_load(&fl[i].sent);
	}
	assert_server_serves(f->client);
	print_message("flood: %d requests sent, %d connections closed by the server; "
		      "%d of 20 Health calls answered\n", sent, closed, answered);
	assert_int_equal(answered, 20);
	assert_true(closed >= FLOODERS); /* each flooder was dropped at least once */
	free(env);
	free(name);
}

/*
 * A program with many threads on one client: twice as many calls at once
 * as there are workers. At most its share of the workers runs them at a
 * time (the rest are answered TOO_MANY_IN_FLIGHT and libberth sends them
 * again), and every call gets through.
 */
static void
test_many_concurrent_calls_on_one_connection_all_get_through(void **state)
{
	struct fixture *f = *state;
	struct health_thread calls[2 * WORKERS];
	pthread_t t[2 * WORKERS];

	for (int i = 0; i < 2 * WORKERS; i++) {
		calls[i] = (struct health_thread){ f->client, i % 2 == 0 ? "slow" : "", -1 };
		assert_int_equal(pthread_create(&t[i], NULL, health_thread_main, &calls[i]), 0);
	}
	for (int i = 0; i < 2 * WORKERS; i++) {
		pthread_join(t[i], NULL);
		if (calls[i].code != 0)
			fail_msg("call %d: %s %s", i, berth_code_name(calls[i].st.code),
			    calls[i].st.message);
	}
	assert_int_equal(atomic_load(&app.health_calls), 2 * WORKERS);
	assert_true(atomic_load(&app.slow_running_max) <= CALLS_PER_CONNECTION);
}

/* A raw client may see the refusal itself: RESOURCE_EXHAUSTED, TOO_MANY_IN_FLIGHT. */
static void
test_request_over_the_connection_limit_is_refused_unrun(void **state)
{
	struct fixture *f = *state;
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	uint8_t *payload, *env, head[9], *body;
	size_t plen, len;
	int fd, refused = 0, ok = 0;

	req.service = "slow";
	payload = pack_message(&req.base, &plen);
	env = pack_envelope(HEALTH_PATH, payload, plen, 10000, "", &len);
	fd = raw_ipc_connect(f->url);
	assert_true(fd >= 0);
	for (int i = 0; i < CALLS_PER_CONNECTION + 1; i++)
		assert_true(raw_ipc_send(fd, (uint32_t)i + 1, env, len));
	/* The one over the limit is answered first, while the others still run. */
	for (int i = 0; i < CALLS_PER_CONNECTION + 1; i++) {
		Berth__V1__RpcResponse *resp;
		uint64_t n = 0;

		assert_true(read_full(fd, head, sizeof(head)));
		for (int b = 0; b < 8; b++)
			n = n << 8 | head[1 + b];
		assert_true(n >= 4 && n < 65536);
		body = malloc(n);
		assert_non_null(body);
		assert_true(read_full(fd, body, n));
		resp = berth__v1__rpc_response__unpack(NULL, n - 4, body + 4);
		assert_non_null(resp);
		if (resp->code == BERTH__V1__CODE__RESOURCE_EXHAUSTED) {
			assert_int_equal(i, 0);
			assert_int_equal(resp->n_details, 1);
			assert_string_equal(resp->details[0]->reason, "TOO_MANY_IN_FLIGHT");
			refused++;
		} else {
			assert_int_equal(resp->code, BERTH__V1__CODE__OK);
			ok++;
		}
		berth__v1__rpc_response__free_unpacked(resp, NULL);
		free(body);
	}
	assert_int_equal(refused, 1);
	assert_int_equal(ok, CALLS_PER_CONNECTION);
	assert_int_equal(atomic_load(&app.health_calls), CALLS_PER_CONNECTION);
	close(fd);
	free(env);
	free(payload);
}

static void
test_stop_waits_for_calls_in_flight_and_closes_workers(void **state)
{
	struct fixture *f = *state;
	struct health_thread slow = { f->client, "slow", -1 };
	pthread_t t;

	assert_int_equal(atomic_load(&app.worker_opens), WORKERS);
	assert_int_equal(pthread_create(&t, NULL, health_thread_main, &slow), 0);
	assert_true(wait_flag(&app.slow_started));
	rpc_server_stop(f->srv);
	f->srv = NULL;
	/* stop returned only after the slow call was done... */
	assert_true(atomic_load(&app.slow_finished));
	pthread_join(t, NULL);
	/* ...and its reply had been sent. */
	assert_int_equal(slow.code, 0);
	assert_int_equal(atomic_load(&app.worker_closes), WORKERS);
}

static void
test_stop_accepts_null(void **state)
{
	(void)state;
	rpc_server_stop(NULL);
}

int
main(void)
{
	int failed;
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define T_STOPPED(name) cmocka_unit_test_setup_teardown(name, setup_stopped, teardown)
	const struct CMUnitTest tests[] = {
		T(test_slow_call_does_not_block_a_fast_one),
		T(test_as_many_slow_calls_as_workers_run_at_once),
		T(test_repeated_request_id_runs_mutating_handler_once),
		T(test_repeated_request_id_replays_byte_identical_reply),
		T(test_duplicate_arriving_while_first_runs_waits_and_replays),
		T(test_duplicate_whose_deadline_passes_while_first_runs_is_deadline_exceeded),
		T(test_empty_request_id_is_never_deduplicated),
		T(test_fresh_request_ids_of_berth_call_run_every_time),
		T(test_request_id_reused_with_another_payload_is_refused),
		T(test_same_request_id_on_another_method_runs_it),
		T(test_read_only_method_is_not_deduplicated),
		T(test_transient_failure_is_not_replayed),
		T(test_definite_failure_is_replayed_with_its_details),
		T(test_garbage_bytes_are_invalid_argument_and_server_keeps_serving),
		T(test_empty_message_is_an_envelope_without_method),
		T(test_garbage_payload_in_valid_envelope_is_invalid_argument),
		T(test_response_echoes_request_id),
		T(test_overlong_request_id_is_invalid_argument),
		T(test_request_id_with_control_characters_is_invalid_argument),
		T(test_oversized_request_is_resource_exhausted_and_server_keeps_serving),
		T(test_request_just_under_the_limit_is_served),
		T(test_request_beyond_transport_limit_does_not_stop_the_server),
		T(test_unknown_method_paths_are_unimplemented),
		T(test_declared_method_without_route_is_unimplemented),
		cmocka_unit_test(test_route_for_undeclared_method_fails_table_init),
		T(test_timeout_shorter_than_the_handler_is_deadline_exceeded),
		T(test_handler_deadline_comes_from_timeout_ms),
		T(test_handler_deadline_defaults_when_client_sends_none),
		T(test_invalid_utf8_in_top_level_field_is_invalid_argument_naming_it),
		T(test_invalid_utf8_in_nested_field_is_invalid_argument_naming_its_path),
		T(test_invalid_utf8_in_repeated_field_names_its_index),
		T(test_drain_refuses_mutating_calls_and_serves_reads),
		T(test_typed_caller_works_through_berth_service),
		T(test_typed_caller_reports_failure_through_last_status),
		T_STOPPED(test_start_on_bad_url_fails_and_cleans_up),
		T_STOPPED(test_start_fails_when_a_worker_cannot_be_prepared),
		T(test_second_server_on_same_url_fails),
		T(test_listener_survives_peers_that_hang_up_during_handshake),
		T(test_client_that_never_reads_its_replies_does_not_hold_the_workers),
		T(test_clients_that_pipeline_without_reading_do_not_stall_the_others),
		T(test_many_concurrent_calls_on_one_connection_all_get_through),
		T(test_request_over_the_connection_limit_is_refused_unrun),
		T(test_stop_waits_for_calls_in_flight_and_closes_workers),
		cmocka_unit_test(test_stop_accepts_null),
	};
#undef T
#undef T_STOPPED

	log_threshold = LL_WARN; /* no per-request lines between test results */
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini(); /* nng's own threads, so valgrind reports only our memory */
	return failed;
}
