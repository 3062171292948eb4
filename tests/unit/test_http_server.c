/*
 * test_http_server.c - one HTTP listener (server/http/http_server.c) in
 * process, on loopback, with a fake in place of rpc_server_submit that
 * parks every call until the test answers it from a thread of its own,
 * as a long poll is answered. libcurl is the client.
 *
 * What it proves: calls waiting for their answer hold no worker (more of
 * them wait at once than there are workers) and are answered when the
 * answer comes from another thread; a listener stopped with calls still
 * waiting answers them 503 and takes their late answers without harm
 * (ASan watches); the console's files come from the asset hook with the
 * security headers; /metrics goes through its hook with the token.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "clock.h"
#include "http/http_server.h"

#define WORKERS 2
#define CLIENTS 6 /* more than WORKERS */

/* --- the fake RPC server: every call parks ------------------------------------------ */

struct parked {
	rpc_done_fn done;
	void *arg;
};

static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;
static struct parked parked[64];
static int n_parked;

static int
park_submit(struct rpc_server *rpc, void *worker, int peer_family, const char *peer,
    const void *data, size_t len, rpc_done_fn done, void *arg)
{
	(void)rpc;
	(void)worker;
	(void)peer_family;
	(void)peer;
	(void)data;
	(void)len;
	pthread_mutex_lock(&parked_lock);
	parked[n_parked++] = (struct parked){ done, arg };
	pthread_mutex_unlock(&parked_lock);
	return 0; /* done comes later */
}

static int
parked_count(void)
{
	int n;

	pthread_mutex_lock(&parked_lock);
	n = n_parked;
	pthread_mutex_unlock(&parked_lock);
	return n;
}

/* Answers every parked call with an OK HealthResponse saying version "late". */
static void
answer_parked(void)
{
	Berth__V1__HealthResponse health = BERTH__V1__HEALTH_RESPONSE__INIT;
	Berth__V1__RpcResponse r = BERTH__V1__RPC_RESPONSE__INIT;
	uint8_t payload[128];

	health.version = "late";
	r.payload.data = payload;
	r.payload.len = protobuf_c_message_pack(&health.base, payload);
	pthread_mutex_lock(&parked_lock);
	for (int i = 0; i < n_parked; i++) {
		size_t len = berth__v1__rpc_response__get_packed_size(&r);
		void *reply = malloc(len + 1);

		berth__v1__rpc_response__pack(&r, reply);
		parked[i].done(parked[i].arg, 0, reply, len); /* takes reply */
	}
	n_parked = 0;
	pthread_mutex_unlock(&parked_lock);
}

static void *
answer_later_main(void *arg)
{
	clock_sleep_ms(*(int *)arg);
	answer_parked();
	return NULL;
}

/* --- the listener ----------------------------------------------------------------- */

static atomic_bool shutting_down;

static bool
asset(const char *path, const char **type, const void **data, size_t *len)
{
	static const char index_html[] = "<!doctype html><title>berth</title>";

	if (strcmp(path, "/") != 0)
		return false;
	*type = "text/html; charset=utf-8";
	*data = index_html;
	*len = sizeof(index_html) - 1;
	return true;
}

static int
metrics(void *app, void *worker, const char *token, bool need_token, char **page, size_t *len,
    struct error *err)
{
	(void)app;
	(void)worker;
	if (need_token && (token == NULL || strcmp(token, "good") != 0))
		return error_set(err, BERTH__V1__CODE__UNAUTHENTICATED, "a viewer token, please");
	*page = strdup("berth_build_info 1\n");
	*len = strlen(*page);
	return 0;
}

static const struct http_server_hooks hooks = { .shutting_down = &shutting_down,
	.submit = park_submit,
	.metrics = metrics,
	.asset = asset };

static struct http_server *
start(void)
{
	struct http_server_config c = {
		.option = "http-listen",
		.url = "http://127.0.0.1:0",
		.api = true,
		.metrics = true,
		.metrics_need_token = true,
		.max_request_bytes = 4096,
		.max_connections = 64,
		.timeout_s = 10,
		.workers = WORKERS,
	};
	struct http_server *s;
	struct error err;

	if (http_server_start(&s, &c, &hooks, &err) != 0)
		fail_msg("http_server_start: %s", err.message);
	return s;
}

/* --- a client ----------------------------------------------------------------------- */

struct request {
	uint16_t port;
	const char *path;
	bool post;
	const char *authorization;
	long status;
	char body[4096];
	size_t len;
	char headers[4096];
	size_t headers_len;
	pthread_t thread;
};

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	struct request *r = arg;
	size_t take = size * n;

	if (take > sizeof(r->body) - 1 - r->len)
		take = sizeof(r->body) - 1 - r->len;
	memcpy(r->body + r->len, data, take);
	r->len += take;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t
collect_header(char *data, size_t size, size_t n, void *arg)
{
	struct request *r = arg;
	size_t take = size * n;

	if (take > sizeof(r->headers) - 1 - r->headers_len)
		take = sizeof(r->headers) - 1 - r->headers_len;
	memcpy(r->headers + r->headers_len, data, take);
	r->headers_len += take;
	r->headers[r->headers_len] = '\0';
	return size * n;
}

static void *
perform(void *arg)
{
	struct request *r = arg;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char url[256], auth[128];
	CURL *curl = curl_easy_init();

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", r->port, r->path);
	if (r->authorization != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: %s", r->authorization);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	if (r->post)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{}");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
	r->status = 0;
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(h);
	return NULL;
}

static bool
wait_parked(int n, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;

	while (parked_count() < n && clock_monotonic_ms() < until)
		clock_sleep_ms(10);
	return parked_count() >= n;
}

/* --- tests --------------------------------------------------------------------------- */

static void
test_waiting_calls_hold_no_worker_and_late_answers_arrive(void **state)
{
	struct http_server *s = start();
	struct request r[CLIENTS];

	(void)state;
	for (int i = 0; i < CLIENTS; i++) {
		r[i] = (struct request){ .port = http_server_port(s), .path = "/v1/Health", .post = true };
		pthread_create(&r[i].thread, NULL, perform, &r[i]);
	}
	/* All of them reached the RPC server although only WORKERS workers exist. */
	assert_true(wait_parked(CLIENTS, 10000));
	answer_parked(); /* from this thread, not a worker */
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(r[i].thread, NULL);
		assert_int_equal(r[i].status, 200);
		assert_non_null(strstr(r[i].body, "\"version\":\"late\""));
	}
	http_server_stop(s);
}

static void
test_a_stop_answers_waiting_calls_and_takes_their_late_answers(void **state)
{
	struct http_server *s = start();
	struct request r[3];
	pthread_t late;
	int delay_ms = 300;

	(void)state;
	for (int i = 0; i < 3; i++) {
		r[i] = (struct request){ .port = http_server_port(s), .path = "/v1/Health", .post = true };
		pthread_create(&r[i].thread, NULL, perform, &r[i]);
	}
	assert_true(wait_parked(3, 10000));
	/* The answers come while the stop waits for them. */
	pthread_create(&late, NULL, answer_later_main, &delay_ms);
	http_server_stop(s);
	pthread_join(late, NULL);
	for (int i = 0; i < 3; i++) {
		pthread_join(r[i].thread, NULL);
		assert_int_equal(r[i].status, 503);
		assert_non_null(strstr(r[i].body, "\"code\":\"UNAVAILABLE\""));
	}
}

static void
test_console_files_come_from_the_asset_hook(void **state)
{
	struct http_server *s = start();
	struct request r = { .port = http_server_port(s), .path = "/" };

	(void)state;
	perform(&r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "<!doctype html><title>berth</title>");
	assert_non_null(strcasestr(r.headers, "Content-Type: text/html; charset=utf-8\r\n"));
	assert_non_null(strcasestr(r.headers, "Content-Security-Policy: default-src 'self'"));
	assert_non_null(strcasestr(r.headers, "X-Content-Type-Options: nosniff\r\n"));
	assert_non_null(strcasestr(r.headers, "Referrer-Policy: no-referrer\r\n"));
	r = (struct request){ .port = http_server_port(s), .path = "/app.js" };
	perform(&r);
	assert_int_equal(r.status, 404);
	r = (struct request){ .port = http_server_port(s), .path = "/", .post = true };
	perform(&r);
	assert_int_equal(r.status, 404);
	http_server_stop(s);
}

static void
test_metrics_go_through_their_hook_with_the_token(void **state)
{
	struct http_server *s = start();
	struct request r = { .port = http_server_port(s), .path = "/metrics" };

	(void)state;
	perform(&r);
	assert_int_equal(r.status, 401);
	assert_non_null(strcasestr(r.headers, "WWW-Authenticate: Bearer\r\n"));
	r = (struct request){ .port = http_server_port(s), .path = "/metrics", .authorization = "Bearer good" };
	perform(&r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "berth_build_info 1\n");
	r = (struct request){ .port = http_server_port(s), .path = "/healthz" };
	perform(&r);
	assert_int_equal(r.status, 200);
	atomic_store(&shutting_down, true);
	r = (struct request){ .port = http_server_port(s), .path = "/healthz" };
	perform(&r);
	assert_int_equal(r.status, 503);
	atomic_store(&shutting_down, false);
	http_server_stop(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waiting_calls_hold_no_worker_and_late_answers_arrive),
		cmocka_unit_test(test_a_stop_answers_waiting_calls_and_takes_their_late_answers),
		cmocka_unit_test(test_console_files_come_from_the_asset_hook),
		cmocka_unit_test(test_metrics_go_through_their_hook_with_the_token),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
