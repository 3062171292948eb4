/*
 * test_cli_json.c - the generic protobuf-c <-> JSON codec behind the CLI's
 * --json and --from-json (common/json_codec.c), driven only by the
 * generated descriptors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"

/* --- helpers --------------------------------------------------------------- */

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);

	if (j == NULL)
		fail_msg("bad test JSON: %s", err.text);
	return j;
}

/* Converts text to a message of type desc; returns the code, st filled. */
static int
decode(const char *text, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
    struct error *st)
{
	json_t *j = parse(text);
	int rc = json_codec_to_message(j, desc, out, st);

	json_decref(j);
	return rc;
}

static void
assert_decode_fails(const char *text, const ProtobufCMessageDescriptor *desc,
    const char *field, const char *message_part)
{
	ProtobufCMessage *msg = (ProtobufCMessage *)1;
	struct error st;

	assert_int_equal(decode(text, desc, &msg, &st), BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_null(msg);
	assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, field);
	if (strstr(st.message, message_part) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", st.message, message_part);
}

static bool
same_packed(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a);
	size_t nb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
	bool same;

	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	same = na == nb && memcmp(pa, pb, na) == 0;
	free(pa);
	free(pb);
	return same;
}

/* --- message to JSON ------------------------------------------------------- */

static void
test_to_json_has_every_field_even_zero_and_empty(void **state)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	json_t *j;

	(void)state;
	j = json_codec_from_message(&t.base);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), berth__v1__template__descriptor.n_fields);
	for (unsigned i = 0; i < berth__v1__template__descriptor.n_fields; i++)
		assert_non_null(json_object_get(j, berth__v1__template__descriptor.fields[i].name));
	assert_string_equal(json_string_value(json_object_get(j, "name")), "");
	assert_true(json_is_integer(json_object_get(j, "container_port")));
	assert_int_equal(json_integer_value(json_object_get(j, "port_range_end")), 0);
	assert_true(json_is_array(json_object_get(j, "env")));
	assert_int_equal(json_array_size(json_object_get(j, "env")), 0);
	json_decref(j);
}

static void
test_to_json_uses_proto_field_names_and_values(void **state)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char *env[] = { "A=1", "B=two" };
	json_t *j;

	(void)state;
	t.name = "web";
	t.image = "nginx:latest";
	t.container_port = 80;
	t.port_range_start = 9000;
	t.port_range_end = 9010;
	t.env = env;
	t.n_env = 2;
	j = json_codec_from_message(&t.base);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "web");
	assert_string_equal(json_string_value(json_object_get(j, "image")), "nginx:latest");
	assert_int_equal(json_integer_value(json_object_get(j, "port_range_start")), 9000);
	assert_int_equal(json_integer_value(json_object_get(j, "port_range_end")), 9010);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "env"), 1)), "B=two");
	json_decref(j);
}

static void
test_to_json_writes_enums_by_name_and_unknown_ones_by_number(void **state)
{
	Berth__V1__HealthResponse h = BERTH__V1__HEALTH_RESPONSE__INIT;
	json_t *j;

	(void)state;
	h.status = BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING;
	h.docker_available = 1;
	j = json_codec_from_message(&h.base);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "SERVING");
	assert_true(json_is_true(json_object_get(j, "docker_available")));
	json_decref(j);

	h.status = 42;
	j = json_codec_from_message(&h.base);
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 42);
	json_decref(j);
}

static void
test_to_json_nests_messages_and_repeated_messages(void **state)
{
	Berth__V1__GetStatusResponse r = BERTH__V1__GET_STATUS_RESPONSE__INIT;
	Berth__V1__GetStatsResponse stats = BERTH__V1__GET_STATS_RESPONSE__INIT;
	Berth__V1__TemplateCount count = BERTH__V1__TEMPLATE_COUNT__INIT;
	Berth__V1__TemplateCount *counts[] = { &count };
	Berth__V1__Service s1 = BERTH__V1__SERVICE__INIT, s2 = BERTH__V1__SERVICE__INIT;
	Berth__V1__Service *services[] = { &s1, &s2 };
	Berth__V1__ContainerState c = BERTH__V1__CONTAINER_STATE__INIT;
	uint32_t ports[] = { 8000, 8001 };
	json_t *j, *svc;

	(void)state;
	stats.total_services = 2;
	stats.used_ports = ports;
	stats.n_used_ports = 2;
	count.template_ = "buckets";
	count.total = 2;
	stats.templates = counts;
	stats.n_templates = 1;
	r.statistics = &stats;
	s1.service_id = "buckets_instance_1";
	s1.container = &c;
	c.state = "running";
	c.exit_code = -1;
	c.cpu_percent = 12.5;
	s2.service_id = "buckets_instance_2";
	r.services = services;
	r.n_services = 2;

	j = json_codec_from_message(&r.base);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "statistics"),
	    "total_services")), 2);
	assert_int_equal(json_integer_value(json_array_get(
	    json_object_get(json_object_get(j, "statistics"), "used_ports"), 1)), 8001);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	    json_object_get(j, "statistics"), "templates"), 0), "template")), "buckets");
	svc = json_array_get(json_object_get(j, "services"), 0);
	assert_string_equal(json_string_value(json_object_get(svc, "service_id")),
	    "buckets_instance_1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(svc, "container"),
	    "state")), "running");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(svc, "container"),
	    "exit_code")), -1);
	assert_true(json_real_value(json_object_get(json_object_get(svc, "container"),
	    "cpu_percent")) == 12.5);
	/* An unset message field is still a key: null. */
	svc = json_array_get(json_object_get(j, "services"), 1);
	assert_true(json_is_null(json_object_get(svc, "container")));
	json_decref(j);
}

static void
test_to_json_writes_uint64_as_number_and_the_top_half_as_string(void **state)
{
	Berth__V1__ContainerState c = BERTH__V1__CONTAINER_STATE__INIT;
	json_t *j;

	(void)state;
	c.memory_bytes = 5000000000ull;
	c.memory_limit_bytes = UINT64_MAX;
	j = json_codec_from_message(&c.base);
	assert_true(json_is_integer(json_object_get(j, "memory_bytes")));
	assert_int_equal(json_integer_value(json_object_get(j, "memory_bytes")), 5000000000ll);
	assert_string_equal(json_string_value(json_object_get(j, "memory_limit_bytes")),
	    "18446744073709551615");
	json_decref(j);
}

static void
test_to_json_writes_bytes_as_base64_and_reads_them_back(void **state)
{
	Berth__V1__RpcResponse r = BERTH__V1__RPC_RESPONSE__INIT, *back;
	ProtobufCMessage *msg;
	struct error st;
	json_t *j;

	(void)state;
	r.payload.data = (uint8_t *)"hello";
	r.payload.len = 5;
	j = json_codec_from_message(&r.base);
	assert_string_equal(json_string_value(json_object_get(j, "payload")), "aGVsbG8=");
	assert_int_equal(json_codec_to_message(j, &berth__v1__rpc_response__descriptor, &msg, &st), 0);
	back = (Berth__V1__RpcResponse *)msg;
	assert_int_equal(back->payload.len, 5);
	assert_memory_equal(back->payload.data, "hello", 5);
	protobuf_c_message_free_unpacked(msg, NULL);
	json_decref(j);
}

static void
test_to_json_spells_nan_and_infinity_as_strings(void **state)
{
	Berth__V1__ContainerState c = BERTH__V1__CONTAINER_STATE__INIT;
	json_t *j;

	(void)state;
	c.cpu_percent = NAN;
	j = json_codec_from_message(&c.base);
	assert_string_equal(json_string_value(json_object_get(j, "cpu_percent")), "NaN");
	json_decref(j);
	c.cpu_percent = -INFINITY;
	j = json_codec_from_message(&c.base);
	assert_string_equal(json_string_value(json_object_get(j, "cpu_percent")), "-Infinity");
	json_decref(j);
}

static void
test_to_json_replaces_invalid_utf8_instead_of_failing(void **state)
{
	Berth__V1__GetServiceLogsResponse r = BERTH__V1__GET_SERVICE_LOGS_RESPONSE__INIT;
	json_t *j;

	(void)state;
	r.logs = "ok \xff\xfe end";
	j = json_codec_from_message(&r.base);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "logs")),
	    "ok \xef\xbf\xbd\xef\xbf\xbd end");
	json_decref(j);
}

/* --- JSON to message ------------------------------------------------------- */

static void
test_template_round_trips_through_json(void **state)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT, *back;
	char *env[] = { "A=1", "B=two words" };
	char *command[] = { "sh", "-c", "echo 'hi'" };
	ProtobufCMessage *msg;
	struct error st;
	json_t *j;

	(void)state;
	t.name = "web";
	t.description = "A web server \xc3\xa9";
	t.image = "nginx:latest";
	t.build_context = "/srv/web";
	t.container_port = 80;
	t.port_range_start = 9000;
	t.port_range_end = 9099;
	t.mount_path = "/data";
	t.env = env;
	t.n_env = 2;
	t.command = command;
	t.n_command = 3;
	t.stop_timeout_s = 30;

	j = json_codec_from_message(&t.base);
	assert_int_equal(json_codec_to_message(j, &berth__v1__template__descriptor, &msg, &st), 0);
	json_decref(j);
	back = (Berth__V1__Template *)msg;
	assert_string_equal(back->name, "web");
	assert_string_equal(back->description, t.description);
	assert_string_equal(back->build_context, "/srv/web");
	assert_int_equal(back->port_range_end, 9099);
	assert_int_equal(back->n_env, 2);
	assert_string_equal(back->env[1], "B=two words");
	assert_int_equal(back->n_command, 3);
	assert_string_equal(back->command[2], "echo 'hi'");
	assert_int_equal(back->stop_timeout_s, 30);
	assert_true(same_packed(&t.base, msg));
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void
test_nested_message_round_trips_through_json(void **state)
{
	Berth__V1__GetServiceResponse r = BERTH__V1__GET_SERVICE_RESPONSE__INIT;
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	Berth__V1__ContainerState c = BERTH__V1__CONTAINER_STATE__INIT;
	ProtobufCMessage *msg;
	struct error st;
	json_t *j;

	(void)state;
	s.service_id = "db_instance_1";
	s.port = 8010;
	s.container = &c;
	c.state = "exited";
	c.exit_code = 137;
	c.cpu_percent = 0.25;
	c.memory_bytes = 1ull << 40;
	r.service = &s;
	j = json_codec_from_message(&r.base);
	assert_int_equal(json_codec_to_message(j, &berth__v1__get_service_response__descriptor, &msg,
	    &st), 0);
	json_decref(j);
	assert_true(same_packed(&r.base, msg));
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void
test_from_json_accepts_camel_case_null_and_numeric_strings(void **state)
{
	Berth__V1__Template *t;
	ProtobufCMessage *msg;
	struct error st;

	(void)state;
	assert_int_equal(decode("{\"name\": \"x\", \"containerPort\": 8080, "
				"\"port_range_start\": \"9000\", \"description\": null, "
				"\"env\": null, \"stopTimeoutS\": 5}",
			     &berth__v1__template__descriptor, &msg, &st),
	    0);
	t = (Berth__V1__Template *)msg;
	assert_int_equal(t->container_port, 8080);
	assert_int_equal(t->port_range_start, 9000);
	assert_string_equal(t->description, "");
	assert_int_equal(t->n_env, 0);
	assert_int_equal(t->stop_timeout_s, 5);
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void
test_from_json_reads_enums_by_name_or_number(void **state)
{
	ProtobufCMessage *msg;
	struct error st;

	(void)state;
	assert_int_equal(decode("{\"status\": \"NOT_SERVING\"}",
			     &berth__v1__health_response__descriptor, &msg, &st), 0);
	assert_int_equal(((Berth__V1__HealthResponse *)msg)->status,
	    BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__NOT_SERVING);
	protobuf_c_message_free_unpacked(msg, NULL);
	assert_int_equal(decode("{\"status\": 1}", &berth__v1__health_response__descriptor, &msg,
			     &st), 0);
	assert_int_equal(((Berth__V1__HealthResponse *)msg)->status,
	    BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING);
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void
test_from_json_refuses_unknown_keys_naming_them(void **state)
{
	(void)state;
	assert_decode_fails("{\"name\": \"x\", \"colour\": \"red\"}",
	    &berth__v1__template__descriptor, "colour", "unknown field \"colour\"");
	assert_decode_fails("{\"service\": {\"container\": {\"state\": \"x\", \"bogus\": 1}}}",
	    &berth__v1__get_service_response__descriptor, "service.container.bogus",
	    "unknown field \"bogus\" in berth.v1.ContainerState");
}

static void
test_from_json_refuses_wrong_types_naming_the_field(void **state)
{
	const ProtobufCMessageDescriptor *t = &berth__v1__template__descriptor;

	(void)state;
	assert_decode_fails("{\"container_port\": \"abc\"}", t, "container_port", "integer");
	assert_decode_fails("{\"container_port\": true}", t, "container_port", "integer");
	assert_decode_fails("{\"container_port\": -1}", t, "container_port", "between 0 and");
	assert_decode_fails("{\"container_port\": 4294967296}", t, "container_port",
	    "between 0 and 4294967295");
	assert_decode_fails("{\"container_port\": 1.5}", t, "container_port", "integer");
	assert_decode_fails("{\"name\": 7}", t, "name", "must be a string");
	assert_decode_fails("{\"env\": \"A=1\"}", t, "env", "must be an array");
	assert_decode_fails("{\"env\": [\"A=1\", 2]}", t, "env[1]", "must be a string");
	assert_decode_fails("[1, 2]", t, "", "must be a JSON object");
	assert_decode_fails("{\"docker_available\": 1}", &berth__v1__health_response__descriptor,
	    "docker_available", "true or false");
	assert_decode_fails("{\"status\": \"SLEEPY\"}", &berth__v1__health_response__descriptor,
	    "status", "SERVING");
	assert_decode_fails("{\"service\": []}", &berth__v1__get_service_response__descriptor,
	    "service", "must be a JSON object");
	assert_decode_fails("{\"payload\": \"not base64!\"}", &berth__v1__rpc_response__descriptor,
	    "payload", "base64");
}

static void
test_from_json_refuses_a_field_given_twice_in_two_spellings(void **state)
{
	(void)state;
	assert_decode_fails("{\"mount_path\": \"/a\", \"mountPath\": \"/b\"}",
	    &berth__v1__template__descriptor, "mountPath", "given twice");
}

static void
test_from_json_frees_everything_when_it_fails_half_way(void **state)
{
	(void)state;
	/* Strings, arrays and nested messages are built before the error: valgrind checks. */
	assert_decode_fails("{\"name\": \"x\", \"env\": [\"A=1\", \"B=2\"], \"command\": [\"a\", {}]}",
	    &berth__v1__template__descriptor, "command[1]", "must be a string");
	assert_decode_fails("{\"services\": [{\"service_id\": \"a\", \"container\": {\"state\": \"x\"}},"
			    " {\"service_id\": \"b\", \"port\": \"x\"}]}",
	    &berth__v1__list_services_response__descriptor, "services[1].port", "integer");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_json_has_every_field_even_zero_and_empty),
		cmocka_unit_test(test_to_json_uses_proto_field_names_and_values),
		cmocka_unit_test(test_to_json_writes_enums_by_name_and_unknown_ones_by_number),
		cmocka_unit_test(test_to_json_nests_messages_and_repeated_messages),
		cmocka_unit_test(test_to_json_writes_uint64_as_number_and_the_top_half_as_string),
		cmocka_unit_test(test_to_json_writes_bytes_as_base64_and_reads_them_back),
		cmocka_unit_test(test_to_json_spells_nan_and_infinity_as_strings),
		cmocka_unit_test(test_to_json_replaces_invalid_utf8_instead_of_failing),
		cmocka_unit_test(test_template_round_trips_through_json),
		cmocka_unit_test(test_nested_message_round_trips_through_json),
		cmocka_unit_test(test_from_json_accepts_camel_case_null_and_numeric_strings),
		cmocka_unit_test(test_from_json_reads_enums_by_name_or_number),
		cmocka_unit_test(test_from_json_refuses_unknown_keys_naming_them),
		cmocka_unit_test(test_from_json_refuses_wrong_types_naming_the_field),
		cmocka_unit_test(test_from_json_refuses_a_field_given_twice_in_two_spellings),
		cmocka_unit_test(test_from_json_frees_everything_when_it_fails_half_way),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
