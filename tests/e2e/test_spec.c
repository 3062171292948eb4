/*
 * test_spec.c - spec files with `berth plan` and `berth apply` (PlanSpec,
 * ApplySpec) against a real berthd and Docker: apply from nothing, again
 * with no changes, one field changed (exactly that update, and a rollout
 * of the outdated instances), twenty mistakes each at its line, unknown
 * keys refused, prune, a plan that changed since it was shown refused,
 * and apply refusing to go on without --yes when nobody can be asked.
 *
 * Ports 18750-18799. The group teardown removes every container of the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static struct e2e_daemon daemon_under_test;

static int
setup(void **state)
{
	(void)state;
	return e2e_daemon_start(&daemon_under_test, NULL);
}

static int
teardown(void **state)
{
	(void)state;
	e2e_daemon_destroy(&daemon_under_test, true);
	return 0;
}

static int
remove_all(void **state)
{
	(void)state;
	e2e_remove_all_services(daemon_under_test.client);
	return 0;
}

/* Writes a spec file in berthd's directory; "@CTX@" is the demo's build context. */
static const char *
write_spec(const char *name, const char *text)
{
	static char path[PATH_MAX];
	const char *ctx = e2e_demo_context();
	FILE *f;

	assert_non_null(ctx);
	snprintf(path, sizeof(path), "%s/%s", daemon_under_test.proc.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	for (const char *p = text; *p != '\0'; p++) {
		if (strncmp(p, "@CTX@", 5) == 0) {
			fputs(ctx, f);
			p += 4;
		} else {
			fputc(*p, f);
		}
	}
	fclose(f);
	return path;
}

/* A demo template's fields, indented for a spec; then the caller's own. */
#define DEMO_FIELDS(first, last)             \
	"    image: " E2E_DEMO_IMAGE "\n"    \
	"    build_context: @CTX@\n"         \
	"    container_port: 8000\n"         \
	"    port_range_start: " #first "\n" \
	"    port_range_end: " #last "\n"    \
	"    mount_path: /data\n"            \
	"    stop_timeout_s: 2\n"            \
	"    restart: \"no\"\n"

/* Runs berth with args; its exit status, stdout and stderr (freed by the caller). */
static int
run(char **out, char **err, const char *a1, const char *a2, const char *a3, const char *a4,
    const char *a5)
{
	int rc = berth_cli(&daemon_under_test.proc, out, err, a1, a2, a3, a4, a5, NULL);

	printf("berth %s %s %s %s -> %d\n--- stdout\n%s--- stderr\n%s", a1,
	    a2 != NULL ? a2 : "", a3 != NULL ? a3 : "", a4 != NULL ? a4 : "", rc, *out, *err);
	return rc;
}

static void
assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" not in:\n%s", needle, haystack);
}

static int
count_lines(const char *s, const char *prefix)
{
	int n = 0;

	for (const char *p = s; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

/* Whether service `id` exists and runs. */
static bool
service_runs(const char *id)
{
	char status[32];

	return e2e_service_status(daemon_under_test.client, id, status, sizeof(status)) == 0 &&
	    strcmp(status, "running") == 0;
}

static const char *const base_spec = "templates:\n"
				     "  specweb:\n" DEMO_FIELDS(18750, 18769) "    instances: 2\n"
									      "  specapi:\n" DEMO_FIELDS(18770, 18779) "    health: {kind: http, http_path: /health, interval_s: 2}\n"
														       "    instances: [blue]\n";

static void
test_apply_from_nothing_then_again_changes_nothing(void **state)
{
	const char *path = write_spec("base.yaml", base_spec);
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
	assert_contains(out, "+ template specweb");
	assert_contains(out, "+ template specapi");
	assert_contains(out, "+ launch specweb_instance_1");
	assert_contains(out, "+ launch specweb_instance_2");
	assert_contains(out, "+ launch specapi_blue");
	assert_contains(out, "Plan: 5 to add, 0 to change, 0 to remove.");
	free(out);
	free(err);

	assert_int_equal(run(&out, &err, "apply", "-f", path, "--yes", NULL), 0);
	assert_contains(out, "launched specweb_instance_2");
	assert_contains(out, "launched specapi_blue");
	free(out);
	free(err);
	assert_true(service_runs("specweb_instance_1"));
	assert_true(service_runs("specweb_instance_2"));
	assert_true(service_runs("specapi_blue"));

	/* The same file again: nothing to do, by plan and by apply. */
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
	assert_string_equal(out, "No changes.\n");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "apply", "-f", path, NULL, NULL), 0);
	assert_string_equal(out, "No changes.\n");
	free(out);
	free(err);
}

static void
test_one_field_changed_is_exactly_that_update_and_a_rollout(void **state)
{
	const char *path = write_spec("base.yaml", base_spec);
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "apply", "-f", path, "--yes", NULL), 0);
	free(out);
	free(err);
	/* One env entry more for specweb: what its containers are made of. */
	path = write_spec("env.yaml", "templates:\n"
				      "  specweb:\n" DEMO_FIELDS(18750, 18769) "    env: [GREETING=hello]\n"
									       "    instances: 2\n"
									       "  specapi:\n" DEMO_FIELDS(18770, 18779) "    health: {kind: http, http_path: /health, interval_s: 2}\n"
															"    instances: [blue]\n");
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
	assert_contains(out, "~ template specweb: env\n");
	assert_contains(out, "~ rollout specweb (2 outdated)\n");
	assert_int_equal(count_lines(out, "+ ") + count_lines(out, "- ") + count_lines(out, "~ "),
	    2);
	free(out);
	free(err);
	/*
	 * Applied: the template changes, and the rollout starts (with
	 * core/rollout.h in the tree) or is reported as not applied.
	 */
	assert_int_equal(run(&out, &err, "apply", "-f", path, "--yes", NULL), 0);
	assert_contains(out, "~ template specweb: env");
	if (strstr(out, "rollout specweb started") == NULL) {
		assert_contains(out, "! rollout specweb: not applied");
		assert_contains(out, "berth rollout specweb");
		free(out);
		free(err);
		/* The instances stay outdated: a rollout is all that is left. */
		assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
		assert_contains(out, "~ rollout specweb (2 outdated)\n");
		assert_null(strstr(out, "template specweb"));
	} else {
		/* The rollout replaces both: then nothing is left to do. */
		bool done = false;

		for (int i = 0; i < 180 && !done; i++) {
			free(out);
			free(err);
			assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
			done = strcmp(out, "No changes.\n") == 0;
			if (!done)
				usleep(500 * 1000);
		}
		assert_true(done);
	}
	free(out);
	free(err);
	/* A description alone is an update too, and no rollout. */
	path = write_spec("desc.yaml", "templates:\n"
				       "  specapi:\n" DEMO_FIELDS(18770, 18779) "    description: the API\n"
										"    health: {kind: http, http_path: /health, interval_s: 2}\n"
										"    instances: [blue]\n");
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
	assert_contains(out, "~ template specapi: description\n");
	assert_null(strstr(out, "rollout"));
	free(out);
	free(err);
}

static void
test_twenty_mistakes_are_each_reported_at_their_line(void **state)
{
	char text[8192], want[256];
	size_t len = 0;
	int line = 1, lines[20], k = 0;
	const char *path;
	char *out, *err;

	(void)state;
	len += (size_t)snprintf(text + len, sizeof(text) - len, "templates:\n");
	line++;
	/* Five templates, four mistakes each: image, container_port, mount_path, stop_timeout_s. */
	for (int t = 0; t < 5; t++) {
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "  bad%d:\n"
		    "    image: \"Not An Image!\"\n"
		    "    container_port: 0\n"
		    "    port_range_start: 18780\n"
		    "    mount_path: relative/path\n"
		    "    stop_timeout_s: 99999\n",
		    t);
		lines[k++] = line + 1;
		lines[k++] = line + 2;
		lines[k++] = line + 4;
		lines[k++] = line + 5;
		line += 6;
	}
	path = write_spec("mistakes.yaml", text);
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 2);
	k = 0;
	for (int t = 0; t < 5; t++) {
		const char *fields[] = { "image", "container_port", "mount_path", "stop_timeout_s" };

		for (int m = 0; m < 4; m++, k++) {
			snprintf(want, sizeof(want), "%s:%d: templates.bad%d.%s", path, lines[k], t,
			    fields[m]);
			assert_contains(err, want);
		}
	}
	assert_contains(err, "the spec has 20 mistakes; nothing was changed");
	free(out);
	free(err);
	/* Nothing was stored. */
	assert_int_equal(run(&out, &err, "template", "show", "bad0", NULL, NULL), 3);
	free(out);
	free(err);
}

static void
test_unknown_keys_are_refused(void **state)
{
	const char *path = write_spec("unknown.yaml", "templates:\n"
						      "  specweb:\n" DEMO_FIELDS(18750, 18769) "    replicaz: 3\n");
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "apply", "-f", path, "--yes", NULL), 2);
	assert_contains(err, "unknown.yaml:11: templates.specweb.replicaz: unknown field");
	free(out);
	free(err);
}

static void
test_prune_removes_instances_the_spec_does_not_name(void **state)
{
	const char *path = write_spec("base.yaml", base_spec);
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "apply", "-f", path, "--yes", NULL), 0);
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "launch", "specapi", "green", NULL, NULL), 0);
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
	assert_contains(out, "! unmanaged specapi_green");
	assert_contains(out, "No changes.");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "plan", "-f", path, "--prune", NULL), 0);
	assert_contains(out, "- remove specapi_green (not in the spec)");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "apply", "-f", path, "--prune", "--yes"), 0);
	assert_contains(out, "removed specapi_green");
	free(out);
	free(err);
	assert_false(service_runs("specapi_green"));
	assert_true(service_runs("specapi_blue"));
	/* A count never removes a named instance: such a plan is refused at its line. */
	path = write_spec("count.yaml", "templates:\n"
					"  specapi:\n" DEMO_FIELDS(18770, 18779) "    health: {kind: http, http_path: /health, interval_s: 2}\n"
										 "    instances: 0\n");
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 2);
	assert_contains(err, "count.yaml:12: templates.specapi.instances: 0 is fewer than");
	free(out);
	free(err);
}

static void
test_a_plan_that_changed_since_it_was_shown_is_refused(void **state)
{
	Berth__V1__PlanSpecRequest plan = BERTH__V1__PLAN_SPEC_REQUEST__INIT;
	Berth__V1__ApplySpecRequest apply = BERTH__V1__APPLY_SPEC_REQUEST__INIT;
	Berth__V1__SpecTemplate st = BERTH__V1__SPEC_TEMPLATE__INIT;
	Berth__V1__SpecTemplate *sts[] = { &st };
	Berth__V1__Spec spec = BERTH__V1__SPEC__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_client *c = daemon_under_test.client;
	ProtobufCMessage *reply = NULL;
	berth_status s;
	char fp[80], *out, *err;

	(void)state;
	e2e_demo_template(&t, "specfp", 18790, 18799);
	st.template_ = &t;
	st.instances = 1;
	spec.templates = sts;
	spec.n_templates = 1;
	plan.spec = &spec;
	assert_int_equal(berth_call(c, "PlanSpec", &plan.base, &reply, &s), 0);
	snprintf(fp, sizeof(fp), "%s", ((Berth__V1__PlanSpecResponse *)reply)->fingerprint);
	assert_int_equal(strlen(fp), 64);
	berth_reply_free(reply);
	/* Someone else makes the template first. */
	assert_int_equal(e2e_put_demo_template(c, "specfp", 18790, 18799), 0);
	apply.spec = &spec;
	apply.fingerprint = fp;
	assert_int_equal(berth_call(c, "ApplySpec", &apply.base, &reply, &s),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_string_equal(s.reason, "PLAN_CHANGED");
	assert_int_equal(run(&out, &err, "ls", NULL, NULL, NULL, NULL), 0);
	assert_null(strstr(out, "specfp_"));
	free(out);
	free(err);
	/* The plan of now applies. */
	assert_int_equal(berth_call(c, "PlanSpec", &plan.base, &reply, &s), 0);
	snprintf(fp, sizeof(fp), "%s", ((Berth__V1__PlanSpecResponse *)reply)->fingerprint);
	berth_reply_free(reply);
	assert_int_equal(berth_call(c, "ApplySpec", &apply.base, &reply, &s), 0);
	assert_int_equal(((Berth__V1__ApplySpecResponse *)reply)->n_applied, 1);
	berth_reply_free(reply);
	assert_true(service_runs("specfp_instance_1"));
}

static void
test_apply_without_yes_refuses_when_it_cannot_ask(void **state)
{
	const char *path = write_spec("ask.yaml", "templates:\n"
						  "  specask:\n" DEMO_FIELDS(18780, 18789) "    instances: 1\n");
	char *out, *err;

	(void)state;
	if (isatty(STDIN_FILENO))
		skip();
	assert_int_equal(run(&out, &err, "apply", "-f", path, NULL, NULL), 2);
	assert_contains(out, "+ template specask");
	assert_contains(err, "run it with --yes");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "template", "show", "specask", NULL, NULL), 3);
	free(out);
	free(err);
}

/* A secret's new value is a change, shown as changed and never by value. */
static void
test_secrets_are_shown_as_changed_never_by_value(void **state)
{
	const char *path = write_spec("sec.yaml", "templates:\n"
						  "  specsec:\n" DEMO_FIELDS(18780, 18789) "    secret_env: [TOKEN=first-value]\n"
											   "    instances: 0\n");
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "apply", "-f", path, "--yes", NULL), 0);
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
	assert_string_equal(out, "No changes.\n");
	free(out);
	free(err);
	path = write_spec("sec2.yaml", "templates:\n"
				       "  specsec:\n" DEMO_FIELDS(18780, 18789) "    secret_env: [TOKEN=second-value]\n"
										"    instances: 0\n");
	assert_int_equal(run(&out, &err, "plan", "-f", path, NULL, NULL), 0);
	assert_contains(out, "~ template specsec: secret_env\n");
	assert_contains(out, "secret_env changed");
	assert_null(strstr(out, "first-value"));
	assert_null(strstr(out, "second-value"));
	free(out);
	free(err);
}

/* The example shipped with the CLI is a spec berthd accepts. */
static void
test_the_example_file_plans(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "plan", "-f", "client/cli/examples/berth.yaml", NULL, NULL),
	    0);
	assert_contains(out, "+ template web (image berth-demo:latest)");
	assert_contains(out, "+ launch web_instance_3");
	assert_contains(out, "+ launch api_green");
	free(out);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_apply_from_nothing_then_again_changes_nothing,
		    remove_all),
		cmocka_unit_test_teardown(test_one_field_changed_is_exactly_that_update_and_a_rollout,
		    remove_all),
		cmocka_unit_test(test_twenty_mistakes_are_each_reported_at_their_line),
		cmocka_unit_test(test_unknown_keys_are_refused),
		cmocka_unit_test_teardown(test_prune_removes_instances_the_spec_does_not_name,
		    remove_all),
		cmocka_unit_test_teardown(test_a_plan_that_changed_since_it_was_shown_is_refused,
		    remove_all),
		cmocka_unit_test(test_apply_without_yes_refuses_when_it_cannot_ask),
		cmocka_unit_test(test_secrets_are_shown_as_changed_never_by_value),
		cmocka_unit_test(test_the_example_file_plans),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
