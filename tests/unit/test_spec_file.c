/*
 * test_spec_file.c - berth.yaml into a berth.v1.Spec (client/cli/spec_file.c):
 * every Template field by its proto name and type, instances as a count
 * or names, the line of every value, and each kind of mistake refused at
 * its line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_file.h"

static struct spec_file
parse_ok(const char *text)
{
	struct spec_file f;
	struct error err;

	if (spec_file_parse(text, strlen(text), "t.yaml", &f, &err) != 0)
		fail_msg("parse failed: %s", err.message);
	return f;
}

/* The message of a refused text. */
static void
parse_fails(const char *text, const char *want)
{
	struct spec_file f;
	struct error err;

	assert_int_equal(spec_file_parse(text, strlen(text), "t.yaml", &f, &err),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	if (strstr(err.message, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.message, want);
	assert_null(f.spec);
}

static void
test_every_field_is_read_with_its_proto_type(void **state)
{
	struct spec_file f = parse_ok("templates:\n"
				      "  web:\n"
				      "    image: web:v1\n"
				      "    container_port: 8080\n"
				      "    port_range_start: 9000\n"
				      "    user: 1000\n"
				      "    init: true\n"
				      "    cpu_limit: 0.5\n"
				      "    memory_limit_bytes: 67108864\n"
				      "    env: [A=1, 'B=two words']\n"
				      "    health: {kind: http, http_path: /health, interval_s: 7}\n");
	const Berth__V1__Template *t;

	(void)state;
	assert_int_equal(f.spec->n_templates, 1);
	t = f.spec->templates[0]->template_;
	assert_string_equal(t->name, "web");
	assert_string_equal(t->image, "web:v1");
	assert_int_equal(t->container_port, 8080);
	assert_int_equal(t->port_range_start, 9000);
	assert_string_equal(t->user, "1000"); /* a string field stays a string */
	assert_true(t->init);
	assert_true(t->cpu_limit > 0.49 && t->cpu_limit < 0.51);
	assert_int_equal(t->memory_limit_bytes, 67108864);
	assert_int_equal(t->n_env, 2);
	assert_string_equal(t->env[1], "B=two words");
	assert_non_null(t->health);
	assert_string_equal(t->health->kind, "http");
	assert_int_equal(t->health->interval_s, 7);
	/* instances absent: one */
	assert_int_equal(f.spec->templates[0]->instances, 1);
	assert_int_equal(f.spec->templates[0]->n_instance_names, 0);
	spec_file_free(&f);
}

static void
test_instances_are_a_count_or_names(void **state)
{
	struct spec_file f = parse_ok("templates:\n"
				      "  a: {image: x, instances: 5}\n"
				      "  b:\n"
				      "    image: x\n"
				      "    instances:\n"
				      "      - blue\n"
				      "      - green\n");

	(void)state;
	assert_int_equal(f.spec->n_templates, 2);
	assert_int_equal(f.spec->templates[0]->instances, 5);
	assert_int_equal(f.spec->templates[1]->n_instance_names, 2);
	assert_string_equal(f.spec->templates[1]->instance_names[1], "green");
	assert_int_equal(spec_file_line(&f, "templates.b.instances[1]"), 7);
	spec_file_free(&f);
}

static void
test_lines_of_values_and_their_closest_parent(void **state)
{
	struct spec_file f = parse_ok("# a comment\n"
				      "templates:\n"
				      "  web:\n"
				      "    image: web:v1\n"
				      "    port_range_start: 9000\n"
				      "    port_range_end: 8000\n"
				      "    env:\n"
				      "      - A=1\n"
				      "      - B=2\n"
				      "    health:\n"
				      "      kind: http\n"
				      "      interval_s: 99999\n");

	(void)state;
	assert_int_equal(spec_file_line(&f, "templates.web"), 3);
	assert_int_equal(spec_file_line(&f, "templates.web.port_range_end"), 6);
	assert_int_equal(spec_file_line(&f, "templates.web.env[1]"), 9);
	assert_int_equal(spec_file_line(&f, "templates.web.health.interval_s"), 12);
	/* Not in the file: the closest value above it. */
	assert_int_equal(spec_file_line(&f, "templates.web.env[7]"), 7);
	assert_int_equal(spec_file_line(&f, "templates.web.health.retries"), 10);
	assert_int_equal(spec_file_line(&f, "templates.web"), 3);
	assert_int_equal(spec_file_line(&f, "nothing"), 0);
	spec_file_free(&f);
}

static void
test_unknown_keys_are_refused_at_their_line(void **state)
{
	(void)state;
	parse_fails("templates:\n  web:\n    image: x\n    imgae: y\n",
	    "t.yaml:4: templates.web.imgae: unknown field");
	parse_fails("templates:\n  web:\n    image: x\n    health: {kind: http, bogus: 1}\n",
	    "t.yaml:4: templates.web.health.bogus: unknown field");
	parse_fails("version: 3\ntemplates: {}\n", "t.yaml:1: version: unknown key");
}

static void
test_wrong_types_and_ranges_are_refused_at_their_line(void **state)
{
	(void)state;
	parse_fails("templates:\n  web:\n    image: x\n    container_port: eighty\n",
	    "t.yaml:4: templates.web.container_port: must be a whole number");
	parse_fails("templates:\n  web:\n    image: x\n    env: A=1\n",
	    "t.yaml:4: templates.web.env: must be a list");
	parse_fails("templates:\n  web:\n    image: x\n    init: maybe\n",
	    "t.yaml:4: templates.web.init: must be true or false");
	parse_fails("templates:\n  web:\n    image: x\n    container_port: 99999999999\n",
	    "t.yaml:4: templates.web.container_port");
	parse_fails("templates:\n  web:\n    image: x\n    instances: -1\n",
	    "t.yaml:4: templates.web.instances");
	parse_fails("templates:\n  web:\n    image: x\n    image: y\n", "given twice");
	parse_fails("templates:\n  web: {image: [\n", "t.yaml:");
	parse_fails("", "empty");
}

static void
test_the_example_file_parses(void **state)
{
	struct spec_file f;
	struct error err;

	(void)state;
	if (spec_file_load("client/cli/examples/berth.yaml", &f, &err) != 0)
		fail_msg("%s", err.message);
	assert_int_equal(f.spec->n_templates, 2);
	assert_string_equal(f.spec->templates[0]->template_->name, "web");
	assert_int_equal(f.spec->templates[0]->instances, 3);
	assert_int_equal(f.spec->templates[1]->n_instance_names, 2);
	assert_non_null(f.spec->templates[1]->template_->health);
	spec_file_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_field_is_read_with_its_proto_type),
		cmocka_unit_test(test_instances_are_a_count_or_names),
		cmocka_unit_test(test_lines_of_values_and_their_closest_parent),
		cmocka_unit_test(test_unknown_keys_are_refused_at_their_line),
		cmocka_unit_test(test_wrong_types_and_ranges_are_refused_at_their_line),
		cmocka_unit_test(test_the_example_file_parses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
