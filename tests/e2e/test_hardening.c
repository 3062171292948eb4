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
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "e2e.h"

#define RANGE_FIRST 18400
#define RANGE_LAST 18419

struct fixture {
	struct e2e_daemon d;
	berth_client *operator_client;
	berth_client *admin_client;
	char operator_token[128];
};

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
	if (e2e_create_token(&f->d, "op", "operator", op, sizeof(op)) != 0 ||
	    e2e_create_token(&f->d, "root", "admin", admin, sizeof(admin)) != 0)
		return -1;
	snprintf(f->operator_token, sizeof(f->operator_token), "%s", op);
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

/*
 * Service ids collided across templates: 'launch rta b_instance_1' made
 * rta_b_instance_1, and 'launch rta_b' then failed with ALREADY_EXISTS.
 * Such a name is refused now; a row made before (as an older berthd would
 * have) keeps its id, and an automatic launch of rta_b passes over it.
 */
static void
test_service_ids_cannot_collide_across_templates(void **state)
{
	struct fixture *f = *state;
	Berth__V1__LaunchServiceResponse *r;
	char db[400], sql[1024];
	berth_status st;

	assert_int_equal(e2e_put_demo_template(f->admin_client, "rta", RANGE_FIRST, RANGE_LAST), 0);
	assert_int_equal(e2e_put_demo_template(f->admin_client, "rta_b", RANGE_FIRST, RANGE_LAST),
	    0);
	r = e2e_launch(f->operator_client, "rta", "b_instance_1", 0, &st);
	assert_null(r);
	assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.reason, "INVALID_INSTANCE_NAME");

	/* An older berthd's row with that id (no container: it reads as missing). */
	snprintf(db, sizeof(db), "%s/registry.db", f->d.proc.data_dir);
	snprintf(sql, sizeof(sql),
	    "sqlite3 '%s' \"INSERT INTO services (service_id, template, instance, container_name, "
	    "port, project_dir, status, created_at, updated_at) VALUES ('rta_b_instance_1', 'rta', "
	    "'b_instance_1', 'rta_b_instance_1', %d, '/nonexistent', 'exited', "
	    "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')\"",
	    db, RANGE_LAST);
	assert_int_equal(system(sql), 0);
	r = e2e_launch(f->operator_client, "rta_b", "", 0, &st);
	if (r == NULL)
		fail_msg("launch rta_b: %s", st.message);
	assert_string_equal(r->service->service_id, "rta_b_instance_2");
	berth_reply_free(&r->base);
	assert_int_equal(e2e_remove_service(f->admin_client, "rta_b_instance_1", true, false), 0);
}

/* --- the daemon as systemd runs it ------------------------------------------------ */

/*
 * A datagram socket standing in for systemd's $NOTIFY_SOCKET; what berthd
 * sends there is read with notify_wait.
 */
static int
notify_socket(char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(path, len, "/tmp/berth-notify-%d.sock", (int)getpid());
	unlink(path);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* True when a datagram containing `needle` arrives within timeout_ms. */
static bool
notify_wait(int fd, const char *needle, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;
	char buf[512];

	while (clock_monotonic_ms() < until) {
		struct timeval tv = { 0, 100 * 1000 };
		ssize_t n;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			if (strstr(buf, needle) != NULL)
				return true;
		}
	}
	return false;
}

/* Type=notify: READY=1 once the listeners are up, RELOADING=1 and READY=1 around a SIGHUP. */
static void
test_systemd_hears_ready_reloading_and_stopping(void **state)
{
	struct berthd_proc p = { 0 };
	char path[128];
	int fd = notify_socket(path, sizeof(path));

	(void)state;
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(berthd_proc_start(&p, NULL), 0);
	unsetenv("NOTIFY_SOCKET");
	assert_true(notify_wait(fd, "READY=1", 10000));
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	assert_true(notify_wait(fd, "RELOADING=1", 10000));
	assert_true(notify_wait(fd, "READY=1", 10000));
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	assert_true(notify_wait(fd, "STOPPING=1", 10000));
	berthd_proc_cleanup(&p);
	close(fd);
	unlink(path);
}

/*
 * SIGHUP killed berthd. It now re-reads the configuration: the log level
 * and the metrics listener change at once, a setting that needs a restart
 * is named, and a broken file changes nothing.
 */
static void
test_sighup_reloads_what_it_can_and_names_the_rest(void **state)
{
	struct berthd_proc p = { 0 };
	char conf[400], metrics[64], url[160];
	const char *args[] = { "--config", conf, NULL };
	uint16_t port = e2e_free_port();
	FILE *fp;

	(void)state;
	assert_true(port != 0);
	snprintf(conf, sizeof(conf), "/tmp/berth-reload-%d.conf", (int)getpid());
	fp = fopen(conf, "w");
	assert_non_null(fp);
	fputs("log-level = info\nworkers = 4\n", fp);
	fclose(fp);
	assert_int_equal(berthd_proc_start(&p, args), 0);

	snprintf(metrics, sizeof(metrics), "http://127.0.0.1:%u", port);
	fp = fopen(conf, "w");
	assert_non_null(fp);
	fprintf(fp, "log-level = debug\nworkers = 8\nmetrics-listen = %s\n", metrics);
	fclose(fp);
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	assert_true(e2e_wait_log(&p, "reload done", 10000));
	assert_true(berthd_proc_log_contains(&p, "reload applies setting=log-level"));
	assert_true(berthd_proc_log_contains(&p, "reload applies setting=metrics-listen"));
	assert_true(berthd_proc_log_contains(&p,
	    "reload: setting=workers changed, it takes effect at the next start"));
	snprintf(url, sizeof(url), "curl -sf -m 5 %s/healthz >/dev/null", metrics);
	assert_true(E2E_WAIT_UNTIL(system(url) == 0, 5000));

	/* A broken file: the running settings stay, berthd serves on. */
	fp = fopen(conf, "w");
	assert_non_null(fp);
	fputs("log-level = loud\n", fp);
	fclose(fp);
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	assert_true(e2e_wait_log(&p, "reload failed, the running settings stay", 10000));
	assert_int_equal(kill(p.pid, 0), 0);
	assert_int_equal(system(url), 0);
	assert_int_equal(berthd_proc_stop(&p, 30), 0);
	berthd_proc_cleanup(&p);
	unlink(conf);
}

/* The ipc socket was root:root 0660 with no way to name a group: --ipc-group. */
static void
test_ipc_sockets_get_the_configured_group(void **state)
{
	struct berthd_proc p = { 0 };
	const char *args[] = { "--ipc-group", "daemon", NULL };
	const char *bad[] = { "--ipc-group", "no-such-group-berth", NULL };
	struct group *g = getgrnam("daemon");
	char events[PATH_MAX];
	struct stat sb;

	(void)state;
	if (g == NULL)
		skip(); /* the base system always has it; say so if not */
	assert_int_equal(berthd_proc_start(&p, args), 0);
	assert_int_equal(stat(p.url + strlen("ipc://"), &sb), 0);
	assert_int_equal(sb.st_gid, g->gr_gid);
	assert_int_equal(sb.st_mode & 0777, 0660);
	snprintf(events, sizeof(events), "%s-events", p.url + strlen("ipc://"));
	assert_int_equal(stat(events, &sb), 0);
	assert_int_equal(sb.st_gid, g->gr_gid);
	berthd_proc_cleanup(&p);
	/* A group that does not exist stops start-up, naming it. */
	memset(&p, 0, sizeof(p));
	assert_int_not_equal(berthd_proc_start(&p, bad), 0);
	berthd_proc_cleanup(&p);
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
		cmocka_unit_test(test_service_ids_cannot_collide_across_templates),
	};

	const struct CMUnitTest daemon_tests[] = {
		cmocka_unit_test(test_systemd_hears_ready_reloading_and_stopping),
		cmocka_unit_test(test_sighup_reloads_what_it_can_and_names_the_rest),
		cmocka_unit_test(test_ipc_sockets_get_the_configured_group),
	};
	int failed = cmocka_run_group_tests_name("hardening", tests, setup, teardown);

	failed += cmocka_run_group_tests_name("daemon", daemon_tests, NULL, NULL);
	return failed;
}
