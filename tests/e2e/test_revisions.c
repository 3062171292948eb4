/*
 * test_revisions.c - template revisions against a real berthd and Docker:
 * a changed template leaves its services outdated (ls marks them, history
 * lists the revisions), template set changes only the fields it names, a
 * container deleted behind berth's back comes back from its own revision
 * and image (not the template's current one), GetTemplate of a past
 * revision, and UpdateTemplate's refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "e2e.h"

#define RANGE_FIRST 18640
#define RANGE_LAST 18659

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

static void
assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

/* `docker inspect -f FORMAT ID` into out (all of it); 0 or -1. */
static int
inspect(const char *id, const char *format, char *out, size_t len)
{
	char cmd[512];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "docker inspect -f '%s' %s 2>/dev/null", format, id);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	return pclose(p) == 0 && n > 0 ? 0 : -1;
}

/* The demo template `name` with env MODE=mode. */
static int
put_demo(const char *name, const char *mode, berth_status *st)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char entry[64];
	char *env[] = { "DEMO_DIR=/data", entry };

	snprintf(entry, sizeof(entry), "MODE=%s", mode);
	e2e_demo_template(&t, name, RANGE_FIRST, RANGE_LAST);
	t.env = env;
	t.n_env = 2;
	return e2e_put_template(daemon_under_test.client, &t, st);
}

static Berth__V1__Service *
get_service(const char *id, Berth__V1__GetServiceResponse **reply)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	berth_status st;

	req.service_id = (char *)id;
	req.registry_only = true;
	if (berth_call(daemon_under_test.client, "GetService", &req.base,
		(ProtobufCMessage **)reply, &st) != 0)
		fail_msg("GetService %s: %s", id, st.message);
	return (*reply)->service;
}

/* `berth ARGS...` (NULL-terminated) on the daemon; fails unless it exits want_status. Its stdout. */
static char *
cli(int want_status, ...)
{
	const char *argv[16] = { "--url", daemon_under_test.proc.url };
	char *out = NULL, *err = NULL;
	size_t n = 2;
	va_list ap;
	int rc;

	va_start(ap, want_status);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	if ((rc = berth_cli_argv(argv, &out, &err)) != want_status)
		fail_msg("berth %s %s %s: exit %d, want %d\n%s%s", argv[2], n > 3 ? argv[3] : "",
		    n > 4 ? argv[4] : "", rc, want_status, out, err);
	free(err);
	return out;
}

/*
 * put -> launch 3 -> put with a changed env: all three outdated in ls and
 * GetService, history has two revisions, the newest summarising the change.
 */
static void
test_changed_template_leaves_its_services_outdated(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__LaunchServiceResponse *r[3];
	Berth__V1__GetServiceResponse *g;
	Berth__V1__Service *s;
	berth_status st;
	char *out;

	(void)state;
	assert_int_equal(put_demo("rev", "one", &st), 0);
	for (int i = 0; i < 3; i++) {
		if ((r[i] = e2e_launch(c, "rev", "", 0, &st)) == NULL)
			fail_msg("launch: %s", st.message);
		assert_int_equal(r[i]->service->revision, 1);
		assert_false(r[i]->service->outdated);
		/* The container's image by ID: the config digest Docker reports. */
		assert_true(strncmp(r[i]->service->image_id, "sha256:", 7) == 0);
	}
	out = cli(0, "ls", "--template", "rev", NULL);
	assert_null(strstr(out, "outdated"));
	free(out);

	assert_int_equal(put_demo("rev", "two", &st), 0);
	out = cli(0, "ls", "--template", "rev", NULL);
	assert_contains(out, "REV");
	for (int i = 0; i < 3; i++) {
		s = get_service(r[i]->service->service_id, &g);
		assert_int_equal(s->revision, 1);
		assert_true(s->outdated);
		assert_string_equal(s->image_id, r[i]->service->image_id);
		berth_reply_free(&g->base);
	}
	/* One "1*" per service, and the footnote. */
	{
		int marks = 0;
		for (const char *p = out; (p = strstr(p, " 1* ")) != NULL; p++)
			marks++;
		assert_int_equal(marks, 3);
	}
	assert_contains(out, "* outdated");
	free(out);

	out = cli(0, "template", "history", "rev", NULL);
	assert_contains(out, "REVISION");
	assert_contains(out, "env changed");
	assert_contains(out, "created");
	assert_true(strstr(out, "env changed") < strstr(out, "created")); /* newest first */
	free(out);

	/* info says it too. */
	out = cli(0, "info", r[0]->service->service_id, NULL);
	assert_contains(out, "outdated");
	assert_contains(out, r[0]->service->image_id);
	free(out);

	/* The same put again makes no revision. */
	assert_int_equal(put_demo("rev", "two", &st), 0);
	out = cli(0, "--json", "template", "history", "rev", NULL);
	{
		json_error_t jerr;
		json_t *j = json_loads(out, 0, &jerr);

		assert_non_null(j);
		assert_int_equal(json_array_size(json_object_get(j, "revisions")), 2);
		json_decref(j);
	}
	free(out);
	for (int i = 0; i < 3; i++)
		berth_reply_free(&r[i]->base);
}

/* template set: one field changes, the others stay; a new revision; reset fields on add. */
static void
test_template_set_changes_only_the_fields_named(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__GetTemplateRequest req = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	Berth__V1__GetTemplateResponse *g;
	berth_status st;
	char *out;

	(void)state;
	assert_int_equal(put_demo("setme", "one", &st), 0);
	free(cli(0, "template", "set", "setme", "--memory", "64m", NULL));
	out = cli(0, "template", "set", "setme", "--stop-timeout", "7", "--description", "seven", NULL);
	assert_contains(out, "updated (revision 3)");
	assert_contains(out, "stop_timeout_s");
	assert_contains(out, "description");
	free(out);

	req.name = "setme";
	assert_int_equal(berth_call(c, "GetTemplate", &req.base, (ProtobufCMessage **)&g, &st), 0);
	assert_int_equal(g->template_->revision, 3);
	assert_int_equal(g->template_->stop_timeout_s, 7);
	assert_int_equal(g->template_->memory_limit_bytes, 64u << 20);
	assert_string_equal(g->template_->description, "seven");
	assert_string_equal(g->template_->image, E2E_DEMO_IMAGE);
	assert_int_equal(g->template_->n_env, 2);
	assert_string_equal(g->template_->env[1], "MODE=one");
	assert_int_equal(g->template_->port_range_start, RANGE_FIRST);
	berth_reply_free(&g->base);

	/* Setting what is already there changes nothing, and makes no revision. */
	out = cli(0, "template", "set", "setme", "--stop-timeout", "7", NULL);
	assert_contains(out, "unchanged (revision 3)");
	free(out);

	/* template add replaces: it says what it reset. */
	out = cli(0, "template", "add", "setme", "--image", E2E_DEMO_IMAGE, "--port-range",
	    "18640-18659", NULL);
	assert_contains(out, "replaced");
	assert_contains(out, "memory_limit_bytes");
	assert_contains(out, "description");
	assert_contains(out, "env");
	free(out);
}

/* UpdateTemplate refuses unknown names, "name" and "revision", naming them. */
static void
test_update_refuses_bad_field_names(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__UpdateTemplateRequest req = BERTH__V1__UPDATE_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__UpdateTemplateResponse *r = NULL;
	char *fields[] = { "image", "bogus", "revision", "name" };
	char *one[] = { "image" };
	berth_status st;

	(void)state;
	assert_int_equal(put_demo("badf", "one", &st), 0);
	t.name = "badf";
	t.image = "other:1";
	req.template_ = &t;
	req.fields = fields;
	req.n_fields = 4;
	assert_int_equal(berth_call(c, "UpdateTemplate", &req.base, (ProtobufCMessage **)&r, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_contains(st.message, "\"bogus\"");
	assert_contains(st.message, "\"revision\"");
	assert_contains(st.message, "\"name\"");
	assert_null(strstr(st.message, "\"image\""));
	assert_string_equal(st.field, "fields");

	/* No fields at all. */
	req.n_fields = 0;
	assert_int_equal(berth_call(c, "UpdateTemplate", &req.base, (ProtobufCMessage **)&r, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	/* A result that is not a valid template names the field. */
	t.image = "";
	req.fields = one;
	req.n_fields = 1;
	assert_int_equal(berth_call(c, "UpdateTemplate", &req.base, (ProtobufCMessage **)&r, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_contains(st.field, "image");
	/* An unknown template. */
	t.name = "nope";
	t.image = "x:1";
	assert_int_equal(berth_call(c, "UpdateTemplate", &req.base, (ProtobufCMessage **)&r, &st),
	    BERTH__V1__CODE__NOT_FOUND);
}

/* GetTemplate with a revision answers that revision; an unknown one is NOT_FOUND naming it. */
static void
test_get_template_of_a_past_revision(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__GetTemplateRequest req = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	Berth__V1__GetTemplateResponse *g;
	berth_status st;
	char *out;

	(void)state;
	assert_int_equal(put_demo("past", "one", &st), 0);
	assert_int_equal(put_demo("past", "two", &st), 0);
	req.name = "past";
	req.revision = 1;
	assert_int_equal(berth_call(c, "GetTemplate", &req.base, (ProtobufCMessage **)&g, &st), 0);
	assert_int_equal(g->template_->revision, 1);
	assert_string_equal(g->template_->env[1], "MODE=one");
	berth_reply_free(&g->base);
	req.revision = 0;
	assert_int_equal(berth_call(c, "GetTemplate", &req.base, (ProtobufCMessage **)&g, &st), 0);
	assert_int_equal(g->template_->revision, 2);
	assert_string_equal(g->template_->env[1], "MODE=two");
	berth_reply_free(&g->base);
	req.revision = 9;
	assert_int_equal(berth_call(c, "GetTemplate", &req.base, (ProtobufCMessage **)&g, &st),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_contains(st.message, "revision 9");

	out = cli(0, "template", "show", "past", "--revision", "1", NULL);
	assert_contains(out, "MODE=one");
	free(out);
	out = cli(3, "template", "show", "past", "--revision", "9", NULL);
	free(out);
}

/*
 * An outdated service whose container was deleted behind berth's back
 * (docker rm -f) comes back on restart from ITS revision and image: its
 * environment is the old one, not the template's current one.
 */
static void
test_recreate_uses_the_services_own_revision(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__LaunchServiceResponse *r;
	Berth__V1__GetServiceResponse *g;
	Berth__V1__Service *s;
	berth_status st;
	char cmd[256], got[4096];
	char *out;

	(void)state;
	assert_int_equal(put_demo("again", "old", &st), 0);
	if ((r = e2e_launch(c, "again", "", 0, &st)) == NULL)
		fail_msg("launch: %s", st.message);
	assert_int_equal(put_demo("again", "new", &st), 0);

	snprintf(cmd, sizeof(cmd), "docker rm -f %s >/dev/null 2>&1", r->service->container_id);
	assert_int_equal(system(cmd), 0);
	out = cli(0, "restart", r->service->service_id, NULL);
	free(out);

	s = get_service(r->service->service_id, &g);
	assert_string_not_equal(s->container_id, r->service->container_id);
	assert_int_equal(s->revision, 1);
	assert_true(s->outdated);
	assert_string_equal(s->image_id, r->service->image_id);
	assert_int_equal(inspect(s->container_id, "{{json .Config.Env}}", got, sizeof(got)), 0);
	assert_contains(got, "MODE=old");
	assert_null(strstr(got, "MODE=new"));
	assert_int_equal(inspect(s->container_id, "{{.Image}}", got, sizeof(got)), 0);
	assert_contains(got, r->service->image_id);
	assert_true(e2e_wait_log(&daemon_under_test.proc, "recreated service=again_instance_1", 5000));
	berth_reply_free(&g->base);
	berth_reply_free(&r->base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changed_template_leaves_its_services_outdated),
		cmocka_unit_test(test_template_set_changes_only_the_fields_named),
		cmocka_unit_test(test_update_refuses_bad_field_names),
		cmocka_unit_test(test_get_template_of_a_past_revision),
		cmocka_unit_test(test_recreate_uses_the_services_own_revision),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
