/*
 * test_health.c - health checks against a real berthd and Docker: an http
 * check turning unhealthy and the service restarted, a tcp check that sees
 * through Docker's userland proxy, an exec check and its timeout, launch
 * --wait, and the refusals of bad checks.
 *
 * The demo server misbehaves on request through marker files in its
 * directory (tests/demo/berth-demo.c): .demo-sick makes /health answer 503
 * and `berth-demo check` exit 1, .demo-deaf closes its listening socket,
 * .demo-hang makes `berth-demo check` hang.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "e2e.h"

#define RANGE_FIRST 18570
#define RANGE_LAST 18589

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
teardown_each(void **state)
{
	(void)state;
	e2e_remove_all_services(daemon_under_test.client);
	return 0;
}

static Berth__V1__Service *
get(const char *service_id, Berth__V1__GetServiceResponse **keep)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	req.service_id = (char *)service_id;
	req.registry_only = true;
	if (berth_call(daemon_under_test.client, "GetService", &req.base, &reply, &st) != 0) {
		berth_reply_free(reply);
		*keep = NULL;
		return NULL;
	}
	*keep = (Berth__V1__GetServiceResponse *)reply;
	return (*keep)->service;
}

static bool
health_is(const char *service_id, const char *health)
{
	Berth__V1__GetServiceResponse *keep;
	Berth__V1__Service *s = get(service_id, &keep);
	bool ok = s != NULL && strcmp(s->health, health) == 0;

	berth_reply_free(keep != NULL ? &keep->base : NULL);
	return ok;
}

static bool
message_has(const char *service_id, const char *needle)
{
	Berth__V1__GetServiceResponse *keep;
	Berth__V1__Service *s = get(service_id, &keep);
	bool ok = s != NULL && strstr(s->health_message, needle) != NULL;

	berth_reply_free(keep != NULL ? &keep->base : NULL);
	return ok;
}

static uint32_t
restarts_of(const char *service_id)
{
	Berth__V1__GetServiceResponse *keep;
	Berth__V1__Service *s = get(service_id, &keep);
	uint32_t n = s != NULL ? s->restarts : 9999;

	berth_reply_free(keep != NULL ? &keep->base : NULL);
	return n;
}

/* Creates (or, with create false, removes) the marker file in the service's directory. */
static void
marker(const Berth__V1__Service *s, const char *name, bool create)
{
	char path[4300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", s->project_dir, name);
	if (!create) {
		unlink(path);
		return;
	}
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
}

/* Whether a TCP connection to 127.0.0.1:port is accepted. */
static bool
host_port_accepts(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The demo template with a check: kind, path or argv, 1 s interval, 1 s timeout, 2 retries. */
static void
put_checked(const char *name, const char *restart, const char *kind, const char *path,
    char **argv, size_t argc, uint32_t start_period_s)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	berth_status st;

	e2e_demo_template(&t, name, RANGE_FIRST, RANGE_LAST);
	t.restart = (char *)restart;
	h.kind = (char *)kind;
	h.http_path = (char *)(path != NULL ? path : "");
	h.exec_command = argv;
	h.n_exec_command = argc;
	h.interval_s = 1;
	h.timeout_s = 1;
	h.retries = 2;
	h.start_period_s = start_period_s;
	t.health = &h;
	if (e2e_put_template(daemon_under_test.client, &t, &st) != 0)
		fail_msg("PutTemplate %s: %s", name, st.message);
}

static Berth__V1__LaunchServiceResponse *
launch(const char *template_name, bool wait, berth_status *st)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	req.template_ = (char *)template_name;
	req.wait_healthy = wait;
	if (berth_call(daemon_under_test.client, "LaunchService", &req.base, &reply, st) != 0) {
		berth_reply_free(reply);
		return NULL;
	}
	return (Berth__V1__LaunchServiceResponse *)reply;
}

/*
 * http /health: healthy; .demo-sick makes it answer 503: unhealthy, and
 * with on-failure the supervisor restarts it; healthy again once well.
 */
static void
test_http_check_healthy_then_unhealthy_then_restarted(void **state)
{
	Berth__V1__LaunchServiceResponse *lr;
	Berth__V1__GetServiceResponse *keep;
	Berth__V1__Service *s, *now;
	berth_status st;

	(void)state;
	put_checked("hc-http", "on-failure", "http", "/health", NULL, 0, 0);
	assert_non_null(lr = launch("hc-http", false, &st));
	s = lr->service;
	assert_true(E2E_WAIT_UNTIL(health_is(s->service_id, "healthy"), 5000));
	marker(s, ".demo-sick", true);
	/* The probe's error shows at once (before the restart, when it reads "refused"). */
	assert_true(E2E_WAIT_UNTIL(message_has(s->service_id, "HTTP 503"), 6000));
	assert_true(E2E_WAIT_UNTIL(restarts_of(s->service_id) >= 1, 10000));
	now = get(s->service_id, &keep);
	assert_non_null(now);
	berth_reply_free(&keep->base);
	marker(s, ".demo-sick", false);
	assert_true(E2E_WAIT_UNTIL(health_is(s->service_id, "healthy"), 10000));
	berth_reply_free(&lr->base);
}

/*
 * tcp: the demo closes its listener and stays up. Unhealthy, although the
 * published host port still accepts (Docker's userland proxy): the probe
 * goes to the container's own address. Policy no: marked, not restarted.
 */
static void
test_tcp_check_sees_through_the_userland_proxy(void **state)
{
	Berth__V1__LaunchServiceResponse *lr;
	Berth__V1__Service *s;
	berth_status st;

	(void)state;
	put_checked("hc-tcp", "no", "tcp", NULL, NULL, 0, 0);
	assert_non_null(lr = launch("hc-tcp", false, &st));
	s = lr->service;
	assert_true(E2E_WAIT_UNTIL(health_is(s->service_id, "healthy"), 5000));
	marker(s, ".demo-deaf", true);
	assert_true(E2E_WAIT_UNTIL(health_is(s->service_id, "unhealthy"), 10000));
	if (!host_port_accepts((uint16_t)s->port))
		printf("# the host port refuses too: this engine runs without the userland proxy\n");
	assert_int_equal(restarts_of(s->service_id), 0); /* policy no: only marked */
	berth_reply_free(&lr->base);
}

/* exec: `berth-demo check` exits 0, then 1 (.demo-sick); a hung one times out. */
static void
test_exec_check_and_its_timeout(void **state)
{
	static char *argv[] = { "/berth-demo", "check" };
	Berth__V1__LaunchServiceResponse *lr;
	Berth__V1__GetServiceResponse *keep;
	Berth__V1__Service *s, *now;
	berth_status st;

	(void)state;
	put_checked("hc-exec", "no", "exec", NULL, argv, 2, 0);
	assert_non_null(lr = launch("hc-exec", false, &st));
	s = lr->service;
	assert_true(E2E_WAIT_UNTIL(health_is(s->service_id, "healthy"), 6000));
	marker(s, ".demo-sick", true);
	assert_true(E2E_WAIT_UNTIL(health_is(s->service_id, "unhealthy"), 8000));
	now = get(s->service_id, &keep);
	assert_non_null(strstr(now->health_message, "exit code 1"));
	berth_reply_free(&keep->base);
	marker(s, ".demo-sick", false);
	assert_true(E2E_WAIT_UNTIL(health_is(s->service_id, "healthy"), 8000));
	marker(s, ".demo-hang", true);
	assert_true(E2E_WAIT_UNTIL(health_is(s->service_id, "unhealthy"), 10000));
	now = get(s->service_id, &keep);
	assert_non_null(strstr(now->health_message, "timed out"));
	berth_reply_free(&keep->base);
	berth_reply_free(&lr->base);
}

/*
 * launch --wait: answers once healthy; a check that never passes (404)
 * answers FAILED_PRECONDITION naming the probe's error, and the service
 * is kept.
 */
static void
test_launch_wait(void **state)
{
	Berth__V1__LaunchServiceResponse *lr;
	berth_status st;
	char *out = NULL, *err = NULL;

	(void)state;
	put_checked("hc-wait", "no", "http", "/health", NULL, 0, 0);
	assert_non_null(lr = launch("hc-wait", true, &st));
	assert_string_equal(lr->service->health, "healthy");
	berth_reply_free(&lr->base);

	put_checked("hc-never", "no", "http", "/nope", NULL, 0, 0);
	assert_null(launch("hc-never", true, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "HTTP 404"));
	assert_non_null(strstr(st.message, "kept"));
	assert_true(health_is("hc-never_instance_1", "unhealthy"));

	/* The CLI's --wait says the same, with its exit code for FAILED_PRECONDITION. */
	assert_int_not_equal(berth_cli(&daemon_under_test.proc, &out, &err, "launch", "hc-never",
				 "--wait", NULL),
	    0);
	assert_non_null(strstr(err, "HTTP 404"));
	free(out);
	free(err);
}

/* Bad checks: INVALID_ARGUMENT naming the field. */
static void
test_bad_checks_are_refused_naming_the_field(void **state)
{
	static const struct {
		const char *kind, *path;
		uint32_t interval, timeout, retries;
		const char *field;
	} cases[] = {
		{ "http", "health", 1, 1, 1, "template.health.http_path" },
		{ "http", "", 1, 1, 1, "template.health.http_path" },
		{ "http", "/a b", 1, 1, 1, "template.health.http_path" },
		{ "tcp", "", 0, 1, 1, "template.health.interval_s" },
		{ "tcp", "", 5, 6, 1, "template.health.timeout_s" },
		{ "tcp", "", 5, 0, 1, "template.health.timeout_s" },
		{ "tcp", "", 5, 1, 0, "template.health.retries" },
		{ "ping", "", 5, 1, 1, "template.health.kind" },
		{ "exec", "", 5, 1, 1, "template.health.exec_command" },
		{ "tcp", "/x", 5, 1, 1, "template.health.http_path" },
	};
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	berth_status st;

	(void)state;
	e2e_demo_template(&t, "hc-bad", RANGE_FIRST, RANGE_LAST);
	t.health = &h;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h.kind = (char *)cases[i].kind;
		h.http_path = (char *)cases[i].path;
		h.interval_s = cases[i].interval;
		h.timeout_s = cases[i].timeout;
		h.retries = cases[i].retries;
		assert_int_equal(e2e_put_template(daemon_under_test.client, &t, &st),
		    BERTH__V1__CODE__INVALID_ARGUMENT);
		if (strcmp(st.field, cases[i].field) != 0)
			fail_msg("case %zu: field %s, wanted %s (%s)", i, st.field, cases[i].field,
			    st.message);
	}
	h.kind = "tcp";
	h.http_path = "";
	h.interval_s = 5;
	h.timeout_s = 1;
	h.retries = 1;
	t.restart = "sometimes";
	assert_int_equal(e2e_put_template(daemon_under_test.client, &t, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "template.restart");
}

/* A remote engine: tcp and http checks refused, naming exec as the way. */
static void
test_tcp_check_refused_with_a_remote_engine(void **state)
{
	const char *args[] = { "--docker-host", "tcp://127.0.0.1:9", NULL };
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	struct e2e_daemon remote;
	berth_status st;

	(void)state;
	memset(&remote, 0, sizeof(remote));
	assert_int_equal(e2e_daemon_start(&remote, args), 0);
	e2e_demo_template(&t, "hc-remote", RANGE_FIRST, RANGE_LAST);
	t.build_context = "";
	h.kind = "tcp";
	h.interval_s = 5;
	h.timeout_s = 1;
	h.retries = 1;
	t.health = &h;
	assert_int_equal(e2e_put_template(remote.client, &t, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "template.health.kind");
	assert_non_null(strstr(st.message, "exec"));
	h.kind = "exec";
	{
		static char *argv[] = { "/berth-demo", "check" };

		h.exec_command = argv;
		h.n_exec_command = 2;
	}
	assert_int_equal(e2e_put_template(remote.client, &t, &st), 0);
	e2e_daemon_destroy(&remote, false);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_http_check_healthy_then_unhealthy_then_restarted,
		    teardown_each),
		cmocka_unit_test_teardown(test_tcp_check_sees_through_the_userland_proxy,
		    teardown_each),
		cmocka_unit_test_teardown(test_exec_check_and_its_timeout, teardown_each),
		cmocka_unit_test_teardown(test_launch_wait, teardown_each),
		cmocka_unit_test_teardown(test_bad_checks_are_refused_naming_the_field,
		    teardown_each),
		cmocka_unit_test(test_tcp_check_refused_with_a_remote_engine),
	};

	return cmocka_run_group_tests_name("health", tests, setup, teardown);
}
