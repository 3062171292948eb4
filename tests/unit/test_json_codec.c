/*
 * test_json_codec.c - common/json_codec.c as a whole codec: JSON text
 * printed from a message parses back into the same message (the same
 * packed bytes), and bad documents fail naming the dotted path of the
 * offending value. test_cli_json.c covers the details of each direction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"

/* --- helpers --------------------------------------------------------------- */

/* The message's wire bytes; *len set. Caller frees. */
static uint8_t *
packed(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(m, buf), *len);
	return buf;
}

/*
 * Prints `m`, parses the text back as the same type and checks that both
 * pack to the same bytes. The parsed copy is freed the way unpacked
 * messages are.
 */
static void
assert_round_trips(const ProtobufCMessage *m)
{
	ProtobufCMessage *back = NULL;
	struct error err;
	uint8_t *a, *b;
	size_t na, nb;
	char *text;

	assert_int_equal(json_codec_print(m, &text, &err), 0);
	assert_non_null(text);
	if (json_codec_parse(text, strlen(text), m->descriptor, &back, &err) != 0)
		fail_msg("parse failed: %s (field %s)\n%s", err.message, err.field, text);
	assert_int_equal(err.code, 0);
	assert_ptr_equal(back->descriptor, m->descriptor);
	a = packed(m, &na);
	b = packed(back, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a);
	free(b);
	free(text);
	protobuf_c_message_free_unpacked(back, NULL);
}

/* Parses `text` as `desc`, expecting INVALID_ARGUMENT at `field` with `part` in the message. */
static void
assert_parse_fails(const char *text, const ProtobufCMessageDescriptor *desc, const char *field,
    const char *part)
{
	ProtobufCMessage *msg = (ProtobufCMessage *)1;
	struct error err;

	assert_int_equal(json_codec_parse(text, strlen(text), desc, &msg, &err),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_null(msg);
	assert_int_equal(err.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(err.field, field);
	assert_string_equal(err.reason, "INVALID_JSON");
	if (strstr(err.message, part) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.message, part);
}

/* --- round trips ------------------------------------------------------------- */

static void
test_template_with_every_field_set_round_trips(void **state)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char *env[] = { "A=1", "B=two words", "C=\xc3\xa9t\xc3\xa9" };
	char *command[] = { "sh", "-c", "echo \"hi\" 'there'\n\ttab" };
	char *constraints[] = { "node.role==worker", "node.labels.zone==eu" };
	char *secret_env[] = { "DB_PASSWORD=***", "API_KEY=***" };
	char *health_command[] = { "/bin/check", "--quick" };
	Berth__V1__HealthCheck health = BERTH__V1__HEALTH_CHECK__INIT;
	const ProtobufCMessageDescriptor *d = &berth__v1__template__descriptor;

	(void)state;
	t.name = "web";
	t.description = "A web server \xe2\x9c\x93 with \"quotes\" and \\ backslashes";
	t.image = "registry.example.org:5000/web:1.2";
	t.build_context = "/srv/web";
	t.container_port = 80;
	t.port_range_start = 9000;
	t.port_range_end = 65535;
	t.mount_path = "/data";
	t.env = env;
	t.n_env = 3;
	t.command = command;
	t.n_command = 3;
	t.stop_timeout_s = 30;
	t.publish_mode = "host";
	t.replicas = 4294967295u;
	t.constraints = constraints;
	t.n_constraints = 2;
	t.cpu_limit = 0.1 + 0.2; /* not exactly 0.3: every bit must survive */
	t.memory_limit_bytes = UINT64_MAX; /* printed as a string, above INT64_MAX */
	t.secret_env = secret_env;
	t.n_secret_env = 2;
	t.init = true;
	t.user = "1000:1000";
	t.restart = "always";
	t.max_restarts = 7;
	t.restart_window_s = 120;
	health.kind = "http";
	health.http_path = "/healthz?deep=1";
	health.exec_command = health_command;
	health.n_exec_command = 2;
	health.interval_s = 5;
	health.timeout_s = 2;
	health.retries = 3;
	health.start_period_s = 30;
	t.health = &health;
	t.revision = 3;

	/* The test must really set every field: a new one in the proto fails it here. */
	assert_int_equal(d->n_fields, 24);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const char *member = (const char *)&t + d->fields[i].offset;
		const char *quantifier = (const char *)&t + d->fields[i].quantifier_offset;

		if (d->fields[i].label == PROTOBUF_C_LABEL_REPEATED)
			assert_true(*(const size_t *)quantifier > 0);
		else if (d->fields[i].type == PROTOBUF_C_TYPE_STRING)
			assert_true((*(char *const *)member)[0] != '\0');
		else if (d->fields[i].type == PROTOBUF_C_TYPE_DOUBLE)
			assert_true(*(const double *)member != 0);
		else if (d->fields[i].type == PROTOBUF_C_TYPE_UINT64)
			assert_true(*(const uint64_t *)member != 0);
		else if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			assert_non_null(*(void *const *)member);
		else
			assert_true(*(const uint32_t *)member != 0);
	}
	assert_round_trips(&t.base);
}

/*
 * What `berth --json template show` prints of a template with secrets
 * (berthd answers "KEY=***") reads back, for `template add --from-json`, as
 * the same entries under the proto's field name: sent again, they keep the
 * stored values.
 */
static void
test_template_secret_env_prints_masked_and_reads_back_unchanged(void **state)
{
	Berth__V1__GetTemplateResponse r = BERTH__V1__GET_TEMPLATE_RESPONSE__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char *env[] = { "PLAIN=1" }, *secret_env[] = { "API_KEY=***", "DB_PASSWORD=***" };
	ProtobufCMessage *back = NULL;
	Berth__V1__Template *bt;
	struct error err;
	json_t *j, *arr;
	char *text;

	(void)state;
	t.name = "web";
	t.image = "web:1";
	t.container_port = 80;
	t.port_range_start = 9000;
	t.env = env;
	t.n_env = 1;
	t.secret_env = secret_env;
	t.n_secret_env = 2;
	r.template_ = &t;
	assert_int_equal(json_codec_print(&r.base, &text, &err), 0);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	arr = json_object_get(json_object_get(j, "template"), "secret_env");
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(json_array_get(arr, 0)), "API_KEY=***");
	assert_string_equal(json_string_value(json_array_get(arr, 1)), "DB_PASSWORD=***");
	/* The template object alone, as --from-json reads it. */
	assert_int_equal(json_codec_to_message(json_object_get(j, "template"),
			     &berth__v1__template__descriptor, &back, &err),
	    0);
	bt = (Berth__V1__Template *)back;
	assert_int_equal(bt->n_secret_env, 2);
	assert_string_equal(bt->secret_env[0], "API_KEY=***");
	assert_string_equal(bt->secret_env[1], "DB_PASSWORD=***");
	assert_int_equal(bt->n_env, 1);
	assert_string_equal(bt->env[0], "PLAIN=1");
	protobuf_c_message_free_unpacked(back, NULL);
	json_decref(j);
	free(text);
}

static void
test_service_with_container_and_tasks_round_trips(void **state)
{
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	Berth__V1__ContainerState c = BERTH__V1__CONTAINER_STATE__INIT;
	Berth__V1__Task t1 = BERTH__V1__TASK__INIT, t2 = BERTH__V1__TASK__INIT;
	Berth__V1__Task *tasks[] = { &t1, &t2 };

	(void)state;
	s.service_id = "web_instance_1";
	s.template_ = "web";
	s.container_name = "berth-web-instance_1";
	s.container_id = "0123456789abcdef";
	s.port = 9000;
	s.instance = "instance_1";
	s.instance_number = 1;
	s.project_dir = "/var/lib/berth/web/instance_1";
	s.created_at = "2026-12-04T17:00:00Z";
	s.status = "running";
	s.url = "http://127.0.0.1:9000";
	s.container = &c;
	c.state = "running";
	c.exit_code = -1;
	c.started_at = "2026-12-04T17:00:01Z";
	c.cpu_percent = 12.345678901234567;
	c.memory_bytes = 5000000000ull;
	c.memory_limit_bytes = 1ull << 40;
	t1.id = "task1";
	t1.node = "node-a";
	t1.state = "running";
	t1.desired_state = "running";
	t2.id = "task2";
	t2.error = "no suitable node";
	s.tasks = tasks;
	s.n_tasks = 2;
	s.volume = "berth-web-instance_1";
	assert_round_trips(&s.base);
}

static void
test_list_services_response_round_trips(void **state)
{
	Berth__V1__ListServicesResponse r = BERTH__V1__LIST_SERVICES_RESPONSE__INIT;
	Berth__V1__Service s1 = BERTH__V1__SERVICE__INIT, s2 = BERTH__V1__SERVICE__INIT;
	Berth__V1__Service s3 = BERTH__V1__SERVICE__INIT;
	Berth__V1__ContainerState c = BERTH__V1__CONTAINER_STATE__INIT;
	Berth__V1__Service *services[] = { &s1, &s2, &s3 };

	(void)state;
	/* Empty first: zero fields are printed too and must read back as unset. */
	assert_round_trips(&r.base);
	s1.service_id = "a_instance_1";
	s1.port = 8000;
	s1.container = &c;
	c.state = "exited";
	c.exit_code = 137;
	s2.service_id = "b_instance_2";
	s2.status = "stopped";
	s3.service_id = "c_x";
	r.services = services;
	r.n_services = 3;
	assert_round_trips(&r.base);
}

static void
test_enums_and_bytes_round_trip(void **state)
{
	Berth__V1__HealthResponse h = BERTH__V1__HEALTH_RESPONSE__INIT;
	Berth__V1__RpcResponse r = BERTH__V1__RPC_RESPONSE__INIT;
	uint8_t bytes[] = { 0, 1, 2, 0xfe, 0xff };

	(void)state;
	h.status = BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__NOT_SERVING;
	h.docker_available = 1;
	h.version = "0.2.0";
	assert_round_trips(&h.base);
	h.status = 42; /* not in the descriptor: printed and read as a number */
	assert_round_trips(&h.base);
	for (size_t len = 0; len <= sizeof(bytes); len++) {
		r.payload.data = bytes;
		r.payload.len = len;
		assert_round_trips(&r.base);
	}
}

/* --- parse errors ------------------------------------------------------------ */

static void
test_unknown_key_names_its_dotted_path(void **state)
{
	(void)state;
	assert_parse_fails("{\"template\": {\"name\": \"web\", \"bogus\": 1}}",
	    &berth__v1__put_template_request__descriptor, "template.bogus", "unknown field");
	assert_parse_fails("{\"services\": [{}, {\"container\": {\"colour\": \"red\"}}]}",
	    &berth__v1__list_services_response__descriptor, "services[1].container.colour",
	    "unknown field \"colour\"");
}

static void
test_wrong_type_names_its_dotted_path(void **state)
{
	const ProtobufCMessageDescriptor *put = &berth__v1__put_template_request__descriptor;

	(void)state;
	assert_parse_fails("{\"template\": {\"container_port\": \"eighty\"}}", put,
	    "template.container_port", "template.container_port must be an integer");
	assert_parse_fails("{\"template\": {\"env\": [\"A=1\", 2]}}", put, "template.env[1]",
	    "must be a string");
	assert_parse_fails("{\"template\": {\"memory_limit_bytes\": \"18446744073709551616\"}}", put,
	    "template.memory_limit_bytes", "integer");
	assert_parse_fails("{\"template\": \"web\"}", put, "template", "must be a JSON object");
}

static void
test_bad_enum_name_names_the_field_and_the_values(void **state)
{
	(void)state;
	assert_parse_fails("{\"status\": \"SLEEPY\"}", &berth__v1__health_response__descriptor,
	    "status", "\"SLEEPY\" is not a value of berth.v1.HealthResponse.ServingStatus");
	assert_parse_fails("{\"status\": true}", &berth__v1__health_response__descriptor, "status",
	    "must be a name or number");
}

static void
test_bad_syntax_says_where(void **state)
{
	(void)state;
	assert_parse_fails("{\"name\": \"web\",\n \"image\" 1}", &berth__v1__template__descriptor,
	    "", "line 2");
	assert_parse_fails("{\"name\": \"a\", \"name\": \"b\"}", &berth__v1__template__descriptor, "",
	    "duplicate");
}

static void
test_64_bit_integers_read_as_numbers_or_strings(void **state)
{
	const char doc[] = "{\"memory_bytes\": 5000000000, \"memory_limit_bytes\": "
			   "\"18446744073709551615\", \"exit_code\": \"-3\"}";
	Berth__V1__ContainerState *c;
	ProtobufCMessage *msg;
	struct error err;

	(void)state;
	assert_int_equal(json_codec_parse(doc, strlen(doc), &berth__v1__container_state__descriptor,
			     &msg, &err), 0);
	c = (Berth__V1__ContainerState *)msg;
	assert_true(c->memory_bytes == 5000000000ull);
	assert_true(c->memory_limit_bytes == UINT64_MAX);
	assert_int_equal(c->exit_code, -3);
	protobuf_c_message_free_unpacked(msg, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_with_every_field_set_round_trips),
		cmocka_unit_test(test_template_secret_env_prints_masked_and_reads_back_unchanged),
		cmocka_unit_test(test_service_with_container_and_tasks_round_trips),
		cmocka_unit_test(test_list_services_response_round_trips),
		cmocka_unit_test(test_enums_and_bytes_round_trip),
		cmocka_unit_test(test_unknown_key_names_its_dotted_path),
		cmocka_unit_test(test_wrong_type_names_its_dotted_path),
		cmocka_unit_test(test_bad_enum_name_names_the_field_and_the_values),
		cmocka_unit_test(test_bad_syntax_says_where),
		cmocka_unit_test(test_64_bit_integers_read_as_numbers_or_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
