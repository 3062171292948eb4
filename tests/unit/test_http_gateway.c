/*
 * test_http_gateway.c - the HTTP layer's pieces in process, without a
 * socket: listener URLs (http_url.c), the Host and Origin rules
 * (http_hosts.c), the status mapping and error bodies (http_answer.c),
 * and JSON + headers to an RpcRequest and an RpcResponse back to JSON
 * (gateway.c). test_gateway.c drives the whole through curl.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http/gateway.h"
#include "http/http_answer.h"
#include "http/http_hosts.h"
#include "http/http_url.h"
#include "rpc_method.h"

static void
test_listener_urls_parse_and_bad_ones_say_why(void **state)
{
	static const char *const bad[] = { "tcp://127.0.0.1:80", "http://127.0.0.1",
		"http://:80", "http://127.0.0.1:65536", "http://127.0.0.1:-1", "http://[::1:80",
		"http://example.com:80", "http://127.0.0.1:80/path", "http://127.0.0.1:8x",
		"http://::1:80" };
	struct http_url u;
	struct error err;

	(void)state;
	assert_int_equal(http_url_parse("http-listen", "http://127.0.0.1:8080", &u, &err), 0);
	assert_false(u.tls);
	assert_true(u.loopback);
	assert_false(u.wildcard);
	assert_int_equal(u.port, 8080);
	assert_int_equal(http_url_parse("http-listen", "https://[::1]:443/", &u, &err), 0);
	assert_true(u.tls);
	assert_true(u.loopback);
	assert_string_equal(u.host, "::1");
	assert_int_equal(http_url_parse("http-listen", "http://0.0.0.0:0", &u, &err), 0);
	assert_true(u.wildcard);
	assert_false(u.loopback);
	assert_int_equal(http_url_parse("http-listen", "http://LOCALHOST:1", &u, &err), 0);
	assert_true(u.loopback);
	assert_int_equal(http_url_parse("http-listen", "http://10.1.2.3:1", &u, &err), 0);
	assert_false(u.loopback);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (http_url_parse("http-listen", bad[i], &u, &err) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(strstr(err.message, "--http-listen"));
	}
}

static void
test_hosts_are_the_listeners_own_and_the_added_ones(void **state)
{
	struct http_url u;
	struct http_hosts h;
	struct error err;

	(void)state;
	assert_int_equal(http_url_parse("http-listen", "http://127.0.0.1:8080", &u, &err), 0);
	http_hosts_init(&h, &u, 8080);
	assert_true(http_hosts_allow_host(&h, "127.0.0.1:8080"));
	assert_true(http_hosts_allow_host(&h, "LOCALHOST:8080"));
	assert_true(http_hosts_allow_host(&h, "[::1]:8080"));
	assert_true(http_hosts_allow_host(&h, "127.0.0.1")); /* no port: the listener's */
	assert_true(http_hosts_allow_host(&h, NULL));        /* HTTP/1.0 */
	assert_false(http_hosts_allow_host(&h, "127.0.0.1:8081"));
	assert_false(http_hosts_allow_host(&h, "attacker.example:8080"));
	assert_false(http_hosts_allow_host(&h, "attacker.example"));
	assert_false(http_hosts_allow_host(&h, ""));
	assert_false(http_hosts_allow_host(&h, "127.0.0.1:8080@evil"));
	assert_false(http_hosts_allow_host(&h, "::1:8080"));
	assert_int_equal(http_hosts_add(&h, "berth.example.org", &err), 0);
	assert_int_equal(http_hosts_add(&h, "proxy.example.org:443", &err), 0);
	assert_int_not_equal(http_hosts_add(&h, "bad host", &err), 0);
	assert_int_not_equal(http_hosts_add(&h, "x:99999", &err), 0);
	assert_true(http_hosts_allow_host(&h, "Berth.Example.Org:8080"));
	assert_true(http_hosts_allow_host(&h, "proxy.example.org:443"));
	assert_false(http_hosts_allow_host(&h, "proxy.example.org:8080"));

	/* A listener on every address answers the machine's own addresses too. */
	assert_int_equal(http_url_parse("http-listen", "http://0.0.0.0:9464", &u, &err), 0);
	http_hosts_init(&h, &u, 9464);
	assert_true(http_hosts_allow_host(&h, "127.0.0.1:9464")); /* lo's address */
	assert_true(http_hosts_allow_host(&h, "localhost:9464"));
	assert_false(http_hosts_allow_host(&h, "0.0.0.0:9464"));
	assert_false(http_hosts_allow_host(&h, "attacker.example:9464"));

	/* A listener on one address names only it. */
	assert_int_equal(http_url_parse("http-listen", "http://10.0.0.5:80", &u, &err), 0);
	http_hosts_init(&h, &u, 80);
	assert_true(http_hosts_allow_host(&h, "10.0.0.5"));
	assert_false(http_hosts_allow_host(&h, "localhost"));
}

static void
test_an_origin_must_be_the_hosts_own(void **state)
{
	struct http_url u;
	struct http_hosts h;
	struct error err;

	(void)state;
	assert_int_equal(http_url_parse("http-listen", "http://127.0.0.1:8080", &u, &err), 0);
	http_hosts_init(&h, &u, 8080);
	assert_true(http_hosts_allow_origin(&h, NULL, "127.0.0.1:8080"));
	assert_true(http_hosts_allow_origin(&h, "http://127.0.0.1:8080", "127.0.0.1:8080"));
	assert_true(http_hosts_allow_origin(&h, "http://LOCALHOST:8080", "localhost:8080"));
	assert_false(http_hosts_allow_origin(&h, "http://localhost:8080", "127.0.0.1:8080"));
	assert_false(http_hosts_allow_origin(&h, "https://127.0.0.1:8080", "127.0.0.1:8080"));
	assert_false(http_hosts_allow_origin(&h, "http://127.0.0.1:8081", "127.0.0.1:8080"));
	assert_false(http_hosts_allow_origin(&h, "null", "127.0.0.1:8080"));
	assert_false(http_hosts_allow_origin(&h, "http://attacker.example", "127.0.0.1:8080"));
	assert_false(http_hosts_allow_origin(&h, "http://127.0.0.1:8080", NULL));
	/* Default ports on both sides. */
	assert_int_equal(http_url_parse("http-listen", "https://127.0.0.1:443", &u, &err), 0);
	http_hosts_init(&h, &u, 443);
	assert_true(http_hosts_allow_origin(&h, "https://localhost", "localhost"));
	assert_true(http_hosts_allow_origin(&h, "https://localhost:443", "localhost"));
}

static void
test_codes_map_to_grpc_gateways_statuses(void **state)
{
	static const struct {
		int code;
		unsigned status;
	} map[] = {
		{ BERTH__V1__CODE__OK, 200 },
		{ BERTH__V1__CODE__CANCELLED, 499 },
		{ BERTH__V1__CODE__UNKNOWN, 500 },
		{ BERTH__V1__CODE__INVALID_ARGUMENT, 400 },
		{ BERTH__V1__CODE__DEADLINE_EXCEEDED, 504 },
		{ BERTH__V1__CODE__NOT_FOUND, 404 },
		{ BERTH__V1__CODE__ALREADY_EXISTS, 409 },
		{ BERTH__V1__CODE__PERMISSION_DENIED, 403 },
		{ BERTH__V1__CODE__RESOURCE_EXHAUSTED, 429 },
		{ BERTH__V1__CODE__FAILED_PRECONDITION, 400 },
		{ BERTH__V1__CODE__ABORTED, 409 },
		{ BERTH__V1__CODE__OUT_OF_RANGE, 400 },
		{ BERTH__V1__CODE__UNIMPLEMENTED, 501 },
		{ BERTH__V1__CODE__INTERNAL, 500 },
		{ BERTH__V1__CODE__UNAVAILABLE, 503 },
		{ BERTH__V1__CODE__DATA_LOSS, 500 },
		{ BERTH__V1__CODE__UNAUTHENTICATED, 401 },
		{ 99, 500 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_int_equal(http_status_of_code(map[i].code), map[i].status);
}

static void
test_an_error_body_has_code_message_and_details(void **state)
{
	Berth__V1__ErrorDetail d = BERTH__V1__ERROR_DETAIL__INIT;
	Berth__V1__ErrorDetail *details[] = { &d };
	struct http_answer a = { 0 };
	json_t *j;

	(void)state;
	d.field = "template.name";
	d.reason = "INVALID_NAME";
	d.description = "bad \"name\"";
	http_answer_error(&a, 0, BERTH__V1__CODE__INVALID_ARGUMENT, "bad \"name\"\n", details, 1);
	assert_int_equal(a.status, 400);
	assert_string_equal(a.content_type, "application/json");
	assert_true(a.api);
	j = json_loadb(a.body, a.len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "code")), "INVALID_ARGUMENT");
	assert_string_equal(json_string_value(json_object_get(j, "message")), "bad \"name\"\n");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j,
										 "details"),
								  0),
				"field")),
	    "template.name");
	json_decref(j);
	http_answer_error_detail(&a, 413, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "", "", "too big");
	assert_int_equal(a.status, 413);
	assert_string_equal(a.body,
	    "{\"code\":\"RESOURCE_EXHAUSTED\",\"message\":\"too big\",\"details\":[]}");
	http_answer_clear(&a);
	http_answer_clear(&a);
	http_answer_clear(NULL);
}

/* The envelope gateway_encode_request made, unpacked; caller frees. */
static Berth__V1__RpcRequest *
encode(const char *method, const char *body, const struct gateway_headers *h, int *code,
    struct error *err)
{
	void *out = NULL;
	size_t len = 0;
	Berth__V1__RpcRequest *env;

	*code = gateway_encode_request((unsigned)rpc_method_find(method), body, strlen(body), h,
	    &out, &len, err);
	if (*code != 0) {
		assert_null(out);
		return NULL;
	}
	env = berth__v1__rpc_request__unpack(NULL, len, out);
	free(out);
	assert_non_null(env);
	return env;
}

static void
test_json_and_headers_become_the_envelope(void **state)
{
	struct gateway_headers h = { "Bearer  berth_abc", "2500", "key-1" };
	Berth__V1__RpcRequest *env;
	Berth__V1__GetServiceRequest *req;
	struct error err;
	int code;

	(void)state;
	env = encode("GetService", "{\"service_id\":\"demo_1\",\"registry_only\":true}", &h, &code,
	    &err);
	assert_int_equal(code, 0);
	assert_string_equal(env->method, "/berth.v1.Berth/GetService");
	assert_string_equal(env->token, "berth_abc");
	assert_int_equal(env->timeout_ms, 2500);
	assert_string_equal(env->request_id, "key-1");
	req = berth__v1__get_service_request__unpack(NULL, env->payload.len, env->payload.data);
	assert_non_null(req);
	assert_string_equal(req->service_id, "demo_1");
	assert_true(req->registry_only);
	berth__v1__get_service_request__free_unpacked(req, NULL);
	berth__v1__rpc_request__free_unpacked(env, NULL);

	/* An empty body is the empty message; no headers, no token. */
	h = (struct gateway_headers){ NULL, NULL, NULL };
	env = encode("Health", "", &h, &code, &err);
	assert_int_equal(code, 0);
	assert_int_equal(env->payload.len, 0);
	assert_string_equal(env->token, "");
	assert_int_equal(env->timeout_ms, 0);
	berth__v1__rpc_request__free_unpacked(env, NULL);
}

static void
test_bad_json_and_bad_headers_are_refused(void **state)
{
	static const struct {
		const char *body, *authorization, *timeout;
		int code;
		const char *field;
	} cases[] = {
		{ "{\"service_id\":", NULL, NULL, BERTH__V1__CODE__INVALID_ARGUMENT, "" },
		{ "{\"nope\":1}", NULL, NULL, BERTH__V1__CODE__INVALID_ARGUMENT, "nope" },
		{ "{\"service_id\":7}", NULL, NULL, BERTH__V1__CODE__INVALID_ARGUMENT, "service_id" },
		{ "[]", NULL, NULL, BERTH__V1__CODE__INVALID_ARGUMENT, "" },
		{ "{}", "Basic dTpw", NULL, BERTH__V1__CODE__UNAUTHENTICATED, "" },
		{ "{}", "Bearer", NULL, BERTH__V1__CODE__UNAUTHENTICATED, "" },
		{ "{}", NULL, "0", BERTH__V1__CODE__INVALID_ARGUMENT, "X-Berth-Timeout-Ms" },
		{ "{}", NULL, "-5", BERTH__V1__CODE__INVALID_ARGUMENT, "X-Berth-Timeout-Ms" },
		{ "{}", NULL, "4294967296", BERTH__V1__CODE__INVALID_ARGUMENT, "X-Berth-Timeout-Ms" },
		{ "{}", NULL, "12ms", BERTH__V1__CODE__INVALID_ARGUMENT, "X-Berth-Timeout-Ms" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gateway_headers h = { cases[i].authorization, cases[i].timeout, NULL };
		struct error err;
		int code;

		error_clear(&err);
		assert_null(encode("GetService", cases[i].body, &h, &code, &err));
		assert_int_equal(code, cases[i].code);
		assert_string_equal(err.field, cases[i].field);
	}
}

/* The encoded RpcResponse with `code`, and the payload of `reply` when given. */
static void *
response(int code, const char *message, const ProtobufCMessage *reply, size_t *len)
{
	Berth__V1__RpcResponse r = BERTH__V1__RPC_RESPONSE__INIT;
	uint8_t payload[256];
	void *out;

	r.code = (Berth__V1__Code)code;
	r.message = (char *)message;
	if (reply != NULL) {
		r.payload.len = protobuf_c_message_pack(reply, payload);
		r.payload.data = payload;
	}
	*len = berth__v1__rpc_response__get_packed_size(&r);
	out = malloc(*len + 1);
	berth__v1__rpc_response__pack(&r, out);
	return out;
}

static void
test_the_reply_becomes_json_and_an_error_its_status(void **state)
{
	Berth__V1__HealthResponse health = BERTH__V1__HEALTH_RESPONSE__INIT;
	struct http_answer a = { 0 };
	unsigned index = (unsigned)rpc_method_find("Health");
	size_t len;
	void *bytes;
	json_t *j;

	(void)state;
	health.version = "9.9";
	health.status = BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING;
	bytes = response(0, "", &health.base, &len);
	gateway_decode_response(index, bytes, len, &a);
	free(bytes);
	assert_int_equal(a.status, 200);
	j = json_loadb(a.body, a.len, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "version")), "9.9");
	assert_string_equal(json_string_value(json_object_get(j, "status")), "SERVING");
	assert_null(strchr(a.body, '\n')); /* compact */
	json_decref(j);

	bytes = response(BERTH__V1__CODE__NOT_FOUND, "no such service", NULL, &len);
	gateway_decode_response(index, bytes, len, &a);
	free(bytes);
	assert_int_equal(a.status, 404);
	assert_non_null(strstr(a.body, "\"code\":\"NOT_FOUND\""));

	gateway_decode_response(index, NULL, 0, &a); /* the server ran out of memory */
	assert_int_equal(a.status, 429);
	gateway_decode_response(index, "\xff\xff", 2, &a); /* not an RpcResponse */
	assert_int_equal(a.status, 500);
	http_answer_clear(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listener_urls_parse_and_bad_ones_say_why),
		cmocka_unit_test(test_hosts_are_the_listeners_own_and_the_added_ones),
		cmocka_unit_test(test_an_origin_must_be_the_hosts_own),
		cmocka_unit_test(test_codes_map_to_grpc_gateways_statuses),
		cmocka_unit_test(test_an_error_body_has_code_message_and_details),
		cmocka_unit_test(test_json_and_headers_become_the_envelope),
		cmocka_unit_test(test_bad_json_and_bad_headers_are_refused),
		cmocka_unit_test(test_the_reply_becomes_json_and_an_error_its_status),
	};

	return cmocka_run_group_tests_name("http_gateway", tests, NULL, NULL);
}
