/*
 * test_hardening.c - what hostile testing found, closed, against a real
 * berthd and Docker: an operator choosing a port outside the template's
 * range or a privileged one, a purge while the container runs, a mount
 * path that normalises to the container's root, env names berth sets
 * itself, and the registry's file modes.
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

#define RANGE_FIRST 18400
#define RANGE_LAST 18419

struct fixture {
	struct e2e_daemon d;
	berth_client *operator_client;
	berth_client *admin_client;
	char operator_token[128];
};

/* `berthd token create` on the data directory; the token in `token`. */
static void
create_token(const struct e2e_daemon *d, const char *name, const char *role, char *token,
    size_t len)
{
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
	    "%s/berthd token create --name %s --role %s --data-dir '%s' 2>/dev/null", build, name,
	    role, d->proc.data_dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(token, (int)len, p));
	assert_int_equal(pclose(p), 0);
	token[strcspn(token, "\n")] = '\0';
	assert_int_equal(strncmp(token, "berth_", 6), 0);
}

static berth_client *
client_with(const struct e2e_daemon *d, const char *token)
{
	berth_options opts = { 0 };
	berth_client *c = NULL;
	berth_status st;

	opts.token = token;
	if (berth_open(&c, d->proc.url, &opts, &st) != 0)
		fail_msg("berth_open: %s", st.message);
	berth_set_timeout(c, E2E_CALL_TIMEOUT_MS);
	return c;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *args[] = { "--auth", "on", NULL };
	char op[128], admin[128];

	if (f == NULL || e2e_daemon_start(&f->d, args) != 0)
		return -1;
	create_token(&f->d, "op", "operator", op, sizeof(op));
	snprintf(f->operator_token, sizeof(f->operator_token), "%s", op);
	create_token(&f->d, "root", "admin", admin, sizeof(admin));
	f->operator_client = client_with(&f->d, op);
	f->admin_client = client_with(&f->d, admin);
	if (e2e_put_demo_template(f->admin_client, "hard", RANGE_FIRST, RANGE_LAST) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	e2e_remove_all_services(f->admin_client);
	berth_close(f->operator_client);
	berth_close(f->admin_client);
	e2e_daemon_destroy(&f->d, false);
	free(f);
	return 0;
}

/* An operator published on port 80 with --port; a port outside the range is the admin's. */
static void
test_operator_cannot_choose_a_port_outside_the_range(void **state)
{
	struct fixture *f = *state;
	Berth__V1__LaunchServiceResponse *r;
	uint16_t outside = e2e_free_port();
	berth_status st;

	assert_true(outside != 0 && (outside < RANGE_FIRST || outside > RANGE_LAST));
	r = e2e_launch(f->operator_client, "hard", "", outside, &st);
	assert_null(r);
	assert_int_equal(st.code, BERTH__V1__CODE__PERMISSION_DENIED);
	assert_string_equal(st.reason, "PORT_OUTSIDE_RANGE");
	r = e2e_launch(f->operator_client, "hard", "", 80, &st);
	assert_null(r);
	assert_int_equal(st.code, BERTH__V1__CODE__PERMISSION_DENIED);
	assert_string_equal(st.reason, "PRIVILEGED_PORT");
	/* Inside the range an operator chooses freely. */
	r = e2e_launch(f->operator_client, "hard", "", RANGE_FIRST + 5, &st);
	if (r == NULL)
		fail_msg("operator launch in range: %s", st.message);
	assert_int_equal(r->service->port, RANGE_FIRST + 5);
	berth_reply_free(&r->base);
	/* An admin may go outside. */
	r = e2e_launch(f->admin_client, "hard", "", outside, &st);
	if (r == NULL)
		fail_msg("admin launch outside the range: %s", st.message);
	assert_int_equal(r->service->port, outside);
	berth_reply_free(&r->base);
}

/* A running container could swap what a purge deletes for links: refused until it stops. */
static void
test_purge_with_the_container_kept_waits_for_it_to_stop(void **state)
{
	struct fixture *f = *state;
	Berth__V1__RemoveServiceRequest rm = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *r;
	ProtobufCMessage *reply = NULL;
	char dir[1024];
	struct stat sb;
	berth_status st;

	r = e2e_launch(f->operator_client, "hard", "purgeme", 0, &st);
	if (r == NULL)
		fail_msg("launch: %s", st.message);
	snprintf(dir, sizeof(dir), "%s", r->service->project_dir);
	assert_int_equal(stat(dir, &sb), 0);
	rm.service_id = r->service->service_id;
	rm.keep_container = true;
	rm.purge = true;
	assert_int_equal(berth_call(f->operator_client, "RemoveService", &rm.base, &reply, &st),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_string_equal(st.reason, "CONTAINER_RUNNING");
	assert_int_equal(stat(dir, &sb), 0); /* nothing deleted */

	stop.service_id = r->service->service_id;
	assert_int_equal(berth_call(f->operator_client, "StopService", &stop.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_int_equal(berth_call(f->operator_client, "RemoveService", &rm.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_int_not_equal(stat(dir, &sb), 0);
	berth_reply_free(&r->base);
}

/* "//" passed the check and failed the launch with INTERNAL: it is "/", refused at once. */
static void
test_mount_path_normalised_before_the_check(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_status st;

	e2e_demo_template(&t, "slashes", RANGE_FIRST, RANGE_LAST);
	t.mount_path = "//";
	assert_int_equal(e2e_put_template(f->admin_client, &t, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "template.mount_path");
	t.mount_path = "///data//";
	assert_int_equal(e2e_put_template(f->admin_client, &t, &st), 0);
}

/* A template could set BERTH_PORT again: containers got two values. */
static void
test_template_cannot_set_berth_variables(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char *env[] = { "DEMO_DIR=/data", "BERTH_PORT=1" };
	berth_status st;

	e2e_demo_template(&t, "sneaky", RANGE_FIRST, RANGE_LAST);
	t.env = env;
	t.n_env = 2;
	assert_int_equal(e2e_put_template(f->admin_client, &t, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.reason, "RESERVED_ENV");
	assert_string_equal(st.field, "template.env[1]");
}

/* registry.db was 0644 in a 0755 directory: env values readable by any local user. */
static void
test_registry_is_private(void **state)
{
	struct fixture *f = *state;
	char path[400];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/registry.db", f->d.proc.data_dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0077, 0);
	snprintf(path, sizeof(path), "%s/registry.db-wal", f->d.proc.data_dir);
	if (stat(path, &sb) == 0)
		assert_int_equal(sb.st_mode & 0077, 0);
}

/* `berth --token T` left the token in /proc/PID/cmdline: --token-file reads it from a file. */
static void
test_cli_reads_the_token_from_a_file(void **state)
{
	struct fixture *f = *state;
	char path[400], *out = NULL, *err = NULL;
	const char *with_file[] = { "--url", f->d.proc.url, "--token-file", path, "template", "show",
		"hard", NULL };
	const char *missing[] = { "--url", f->d.proc.url, "--token-file", "/nonexistent/token",
		"health", NULL };
	const char *without[] = { "--url", f->d.proc.url, "template", "show", "hard", NULL };
	FILE *fp;

	snprintf(path, sizeof(path), "%s/token", f->d.proc.dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%s\n", f->operator_token);
	fclose(fp);
	assert_int_equal(berth_cli_argv(with_file, &out, &err), 0);
	assert_non_null(strstr(out, "hard"));
	free(out);
	free(err);
	/* Without it the same call needs a token. */
	assert_int_equal(berth_cli_argv(without, &out, &err), 6);
	free(out);
	free(err);
	assert_int_equal(berth_cli_argv(missing, &out, &err), 1);
	assert_non_null(strstr(err, "--token-file /nonexistent/token"));
	free(out);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operator_cannot_choose_a_port_outside_the_range),
		cmocka_unit_test(test_purge_with_the_container_kept_waits_for_it_to_stop),
		cmocka_unit_test(test_mount_path_normalised_before_the_check),
		cmocka_unit_test(test_template_cannot_set_berth_variables),
		cmocka_unit_test(test_registry_is_private),
		cmocka_unit_test(test_cli_reads_the_token_from_a_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
