/*
 * test_template_runtime.c - how a template runs its containers, against a
 * real berthd and Docker: an init process as PID 1 (Template.init) and a
 * numeric user (Template.user) who owns the instance directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "e2e.h"

#define RANGE_FIRST 18520
#define RANGE_LAST 18529

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

/* `docker inspect -f FORMAT ID` into out (first line); 0 or -1. */
static int
inspect(const char *id, const char *format, char *out, size_t len)
{
	char cmd[512];
	FILE *p;
	int rc = -1;

	snprintf(cmd, sizeof(cmd), "docker inspect -f '%s' %s", format, id);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(out, (int)len, p) != NULL) {
		out[strcspn(out, "\n")] = '\0';
		rc = 0;
	}
	return pclose(p) == 0 ? rc : -1;
}

static void
test_init_and_user_reach_the_container_and_its_directory(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__LaunchServiceResponse *r;
	berth_status st;
	struct stat sb;
	char got[256], *out = NULL, *err = NULL;

	(void)state;
	e2e_demo_template(&t, "runas", RANGE_FIRST, RANGE_LAST);
	t.init = true;
	t.user = "1234:2345";
	assert_int_equal(e2e_put_template(c, &t, &st), 0);
	r = e2e_launch(c, "runas", "", 0, &st);
	if (r == NULL)
		fail_msg("launch: %s", st.message);
	assert_string_equal(r->service->status, "running");
	assert_int_equal(inspect(r->service->container_id, "{{.HostConfig.Init}} {{.Config.User}}",
			     got, sizeof(got)),
	    0);
	assert_string_equal(got, "true 1234:2345");
	assert_int_equal(stat(r->service->project_dir, &sb), 0);
	assert_int_equal(sb.st_uid, 1234);
	assert_int_equal(sb.st_gid, 2345);
	/* The demo serves as that user, who could write its directory. */
	assert_true(E2E_WAIT_UNTIL(inspect(r->service->container_id, "{{.State.Running}}", got,
				       sizeof(got)) == 0 &&
		strcmp(got, "true") == 0,
	    5000));
	berth_reply_free(&r->base);

	/* The CLI shows both. */
	assert_int_equal(berth_cli(&daemon_under_test.proc, &out, &err, "template", "show", "runas",
			     NULL),
	    0);
	assert_non_null(strstr(out, "init"));
	assert_non_null(strstr(out, "true"));
	assert_non_null(strstr(out, "1234:2345"));
	free(out);
	free(err);
}

/* Without them, Docker's defaults: no init, the image's user, a root-owned directory. */
static void
test_defaults_leave_the_image_as_it_is(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__LaunchServiceResponse *r;
	berth_status st;
	struct stat sb;
	char got[256];

	(void)state;
	assert_int_equal(e2e_put_demo_template(c, "plain", RANGE_FIRST, RANGE_LAST), 0);
	r = e2e_launch(c, "plain", "", 0, &st);
	if (r == NULL)
		fail_msg("launch: %s", st.message);
	assert_int_equal(inspect(r->service->container_id, "{{.HostConfig.Init}}|{{.Config.User}}",
			     got, sizeof(got)),
	    0);
	/* Docker 20.10 prints a nil Init as "<nil>", later ones as "false". */
	assert_true(strcmp(got, "<nil>|") == 0 || strcmp(got, "false|") == 0);
	assert_int_equal(stat(r->service->project_dir, &sb), 0);
	assert_int_equal(sb.st_uid, 0);
	berth_reply_free(&r->base);
}

/* A user name (or anything but numbers) is refused, naming the field, by berthd and the CLI. */
static void
test_a_user_name_is_refused(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_status st;
	char *out = NULL, *err = NULL;

	(void)state;
	e2e_demo_template(&t, "named", RANGE_FIRST, RANGE_LAST);
	t.user = "www-data";
	assert_int_equal(e2e_put_template(c, &t, &st), BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "template.user");
	assert_int_not_equal(berth_cli(&daemon_under_test.proc, &out, &err, "template", "add",
				 "named", "--image", "x:1", "--container-port", "80", "--user", "root",
				 NULL),
	    0);
	assert_non_null(strstr(err, "/etc/passwd"));
	free(out);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_user_reach_the_container_and_its_directory),
		cmocka_unit_test(test_defaults_leave_the_image_as_it_is),
		cmocka_unit_test(test_a_user_name_is_refused),
	};

	return cmocka_run_group_tests_name("template_runtime", tests, setup, teardown);
}
