/*
 * test_supervisor.c - berth keeps services alive, against a real berthd and
 * Docker: restarts after a kill, backoff and giving up, an operator's stop
 * and restart, clean exits under each policy, a deleted container, cleanup
 * leaving supervised services alone, a Docker outage counted once, and
 * autostart after berthd was killed.
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
#include <time.h>

#include "clock.h"
#include "docker_proxy.h"
#include "e2e.h"

#define RANGE_FIRST 18540
#define RANGE_LAST 18569

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

/* Removes the services of a test, whatever they are doing. */
static int
teardown_each(void **state)
{
	(void)state;
	e2e_remove_all_services(daemon_under_test.client);
	return 0;
}

/* `docker CMD ID`, output discarded; its exit status. */
static int
docker_do(const char *cmd, const char *id)
{
	char line[256];

	snprintf(line, sizeof(line), "docker %s %s >/dev/null 2>&1", cmd, id);
	return system(line);
}

/* The registry's record (GetService registry_only); NULL on failure. Free with berth_reply_free. */
static Berth__V1__GetServiceResponse *
get(const char *service_id)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	req.service_id = (char *)service_id;
	req.registry_only = true;
	if (berth_call(daemon_under_test.client, "GetService", &req.base, &reply, &st) != 0) {
		berth_reply_free(reply);
		return NULL;
	}
	return (Berth__V1__GetServiceResponse *)reply;
}

/* Whether the service's row is in `status` with `supervisor` (NULL: any) now. */
static bool
is(const char *service_id, const char *status, const char *supervisor)
{
	Berth__V1__GetServiceResponse *r = get(service_id);
	bool ok = r != NULL && strcmp(r->service->status, status) == 0 &&
	    (supervisor == NULL || strcmp(r->service->supervisor, supervisor) == 0);

	berth_reply_free(r != NULL ? &r->base : NULL);
	return ok;
}

static uint32_t
restarts_of(const char *service_id)
{
	Berth__V1__GetServiceResponse *r = get(service_id);
	uint32_t n = r != NULL ? r->service->restarts : 9999;

	berth_reply_free(r != NULL ? &r->base : NULL);
	return n;
}

/* Whether Docker runs the container named `name` now. */
static bool
docker_running(const char *name)
{
	char cmd[256], got[32] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "docker inspect -f '{{.State.Running}}' %s 2>/dev/null", name);
	if ((p = popen(cmd, "r")) == NULL)
		return false;
	if (fgets(got, sizeof(got), p) == NULL)
		got[0] = '\0';
	pclose(p);
	return strncmp(got, "true", 4) == 0;
}

/* Puts the demo template `name` with a restart policy and limits. */
static void
put_template(const char *name, const char *restart, uint32_t max_restarts, uint32_t window_s,
    char **env, size_t n_env)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_status st;

	e2e_demo_template(&t, name, RANGE_FIRST, RANGE_LAST);
	t.restart = (char *)restart;
	t.max_restarts = max_restarts;
	t.restart_window_s = window_s;
	if (env != NULL) {
		t.env = env;
		t.n_env = n_env;
	}
	if (e2e_put_template(daemon_under_test.client, &t, &st) != 0)
		fail_msg("PutTemplate %s: %s", name, st.message);
}

static Berth__V1__Service *
launch(const char *template_name, Berth__V1__LaunchServiceResponse **keep)
{
	berth_status st;

	*keep = e2e_launch(daemon_under_test.client, template_name, "", 0, &st);
	if (*keep == NULL)
		fail_msg("launch %s: %s", template_name, st.message);
	return (*keep)->service;
}

/*
 * docker kill: back within backoff (1 s) + 1 s, on the same port and
 * directory, restarts = 1; the desired state and policy show.
 */
static void
test_a_killed_service_comes_back_on_its_port_and_directory(void **state)
{
	Berth__V1__LaunchServiceResponse *lr;
	Berth__V1__GetServiceResponse *r;
	Berth__V1__Service *s;
	int64_t killed;

	(void)state;
	put_template("sv-kill", "on-failure", 0, 0, NULL, 0);
	s = launch("sv-kill", &lr);
	assert_string_equal(s->desired_state, "running");
	assert_string_equal(s->restart, "on-failure");
	assert_string_equal(s->supervisor, "ok");
	assert_int_equal(s->restarts, 0);
	assert_int_equal(docker_do("kill", s->container_id), 0);
	killed = clock_monotonic_ms();
	assert_true(E2E_WAIT_UNTIL(restarts_of(s->service_id) == 1 &&
		is(s->service_id, "running", "ok") && docker_running(s->container_name),
	    8000)); /* backoff 1 s + Docker's start; slack for a loaded machine (make bench times it) */
	printf("# killed to running again: %lld ms\n", (long long)(clock_monotonic_ms() - killed));
	r = get(s->service_id);
	assert_non_null(r);
	assert_int_equal(r->service->port, s->port);
	assert_string_equal(r->service->project_dir, s->project_dir);
	assert_int_equal(r->service->last_exit_code, 137);
	assert_string_equal(r->service->next_restart_at, "");
	berth_reply_free(&r->base);
	berth_reply_free(&lr->base);
}

/*
 * Exits at once, every time: backoff with a growing delay, then "failed"
 * after max_restarts, and it stays down; an operator's restart resets it.
 */
static void
test_a_crash_loop_backs_off_then_fails_and_a_restart_resets_it(void **state)
{
	static char *env[] = { "DEMO_DIR=/data", "DEMO_EXIT_AFTER_MS=0" };
	Berth__V1__RestartServiceRequest req = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	Berth__V1__LaunchServiceResponse *lr;
	Berth__V1__GetServiceResponse *r;
	Berth__V1__Service *s;
	berth_status st;
	char first[32] = "";
	int64_t t0;

	(void)state;
	put_template("sv-loop", "on-failure", 2, 60, env, 2);
	s = launch("sv-loop", &lr);
	/* First crash: backoff, restart 1 due. */
	assert_true(E2E_WAIT_UNTIL(is(s->service_id, "exited", "backoff") ||
		is(s->service_id, "dead", "backoff"), 5000));
	r = get(s->service_id);
	snprintf(first, sizeof(first), "%s", r->service->next_restart_at);
	assert_true(first[0] != '\0');
	assert_int_equal(r->service->last_exit_code, 3);
	berth_reply_free(&r->base);
	/* Two restarts (1 s, then 2 s), then it gives up. */
	t0 = clock_monotonic_ms();
	assert_true(E2E_WAIT_UNTIL(is(s->service_id, "exited", "failed"), 15000));
	assert_true(clock_monotonic_ms() - t0 >= 2000); /* the delays were waited */
	assert_int_equal(restarts_of(s->service_id), 2);
	/* Down it stays. */
	clock_sleep_ms(2500); /* deliberate: nothing may happen meanwhile */
	assert_true(is(s->service_id, "exited", "failed"));
	assert_int_equal(restarts_of(s->service_id), 2);
	/* An operator's restart: the counts start afresh. */
	req.service_id = s->service_id;
	assert_int_equal(berth_call(daemon_under_test.client, "RestartService", &req.base, &reply,
			     &st),
	    0);
	assert_string_equal(((Berth__V1__RestartServiceResponse *)reply)->service->supervisor, "ok");
	assert_int_equal(((Berth__V1__RestartServiceResponse *)reply)->service->restarts, 0);
	berth_reply_free(reply);
	/* ... and it crashes again, into backoff (not straight to failed). */
	assert_true(E2E_WAIT_UNTIL(is(s->service_id, "exited", "backoff") ||
		(is(s->service_id, "running", "ok") && restarts_of(s->service_id) == 1), 5000));
	berth_reply_free(&lr->base);
}

/* berth stop is the operator's word: no restart follows. */
static void
test_a_stop_is_not_undone(void **state)
{
	Berth__V1__StopServiceRequest req = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	Berth__V1__LaunchServiceResponse *lr;
	Berth__V1__Service *s;
	berth_status st;

	(void)state;
	put_template("sv-stop", "always", 0, 0, NULL, 0);
	s = launch("sv-stop", &lr);
	req.service_id = s->service_id;
	assert_int_equal(berth_call(daemon_under_test.client, "StopService", &req.base, &reply, &st),
	    0);
	assert_string_equal(((Berth__V1__StopServiceResponse *)reply)->service->desired_state,
	    "stopped");
	berth_reply_free(reply);
	clock_sleep_ms(2500); /* deliberate: longer than the first backoff */
	assert_true(is(s->service_id, "stopped", "ok"));
	assert_int_equal(restarts_of(s->service_id), 0);
	assert_false(docker_running(s->container_name));
	berth_reply_free(&lr->base);
}

/*
 * A clean exit (docker stop behind berth's back: the demo exits 0 on
 * SIGTERM): on-failure leaves it, always restarts it, no leaves a kill.
 */
static void
test_policies_decide_on_the_exit_code(void **state)
{
	Berth__V1__LaunchServiceResponse *lr1, *lr2, *lr3;
	Berth__V1__Service *onf, *alw, *no;

	(void)state;
	put_template("sv-onf", "on-failure", 0, 0, NULL, 0);
	put_template("sv-alw", "always", 0, 0, NULL, 0);
	put_template("sv-no", "no", 0, 0, NULL, 0);
	onf = launch("sv-onf", &lr1);
	alw = launch("sv-alw", &lr2);
	no = launch("sv-no", &lr3);
	assert_int_equal(docker_do("stop", onf->container_id), 0);
	assert_int_equal(docker_do("stop", alw->container_id), 0);
	assert_int_equal(docker_do("kill", no->container_id), 0);
	assert_true(E2E_WAIT_UNTIL(restarts_of(alw->service_id) == 1 &&
		is(alw->service_id, "running", "ok"), 8000));
	assert_true(E2E_WAIT_UNTIL(is(no->service_id, "exited", NULL), 3000));
	clock_sleep_ms(1500); /* deliberate: past the first backoff */
	assert_true(is(onf->service_id, "exited", "ok"));
	assert_int_equal(restarts_of(onf->service_id), 0);
	assert_true(is(no->service_id, "exited", "ok"));
	assert_int_equal(restarts_of(no->service_id), 0);
	berth_reply_free(&lr1->base);
	berth_reply_free(&lr2->base);
	berth_reply_free(&lr3->base);
}

/* docker rm -f: recreated on the same port and directory, a file in it kept. */
static void
test_a_deleted_container_is_recreated_with_its_port_and_directory(void **state)
{
	Berth__V1__LaunchServiceResponse *lr;
	Berth__V1__GetServiceResponse *r;
	Berth__V1__Service *s;
	char path[4200];
	FILE *f;
	struct stat sb;

	(void)state;
	put_template("sv-rm", "on-failure", 0, 0, NULL, 0);
	s = launch("sv-rm", &lr);
	snprintf(path, sizeof(path), "%s/kept.txt", s->project_dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("data\n", f);
	fclose(f);
	assert_int_equal(docker_do("rm -f", s->container_id), 0);
	assert_true(E2E_WAIT_UNTIL(restarts_of(s->service_id) == 1 &&
		is(s->service_id, "running", "ok") && docker_running(s->container_name), 5000));
	r = get(s->service_id);
	assert_non_null(r);
	assert_string_not_equal(r->service->container_id, s->container_id);
	assert_int_equal(r->service->port, s->port);
	/* rm -f kills first (137, when berth looks before the delete) or is just gone (-1). */
	assert_true(r->service->last_exit_code == -1 || r->service->last_exit_code == 137);
	berth_reply_free(&r->base);
	assert_int_equal(stat(path, &sb), 0);
	berth_reply_free(&lr->base);
}

/*
 * cleanup removes a dead service with policy "no"; a supervised one waiting
 * for its restart is not dead; one the supervisor gave up on goes only
 * with include_failed.
 */
static void
test_cleanup_leaves_what_the_supervisor_owns(void **state)
{
	static char *env[] = { "DEMO_DIR=/data", "DEMO_EXIT_AFTER_MS=0" };
	Berth__V1__AutoCleanupRequest req = BERTH__V1__AUTO_CLEANUP_REQUEST__INIT;
	Berth__V1__AutoCleanupResponse *out;
	ProtobufCMessage *reply = NULL;
	Berth__V1__LaunchServiceResponse *lr1, *lr2;
	Berth__V1__Service *no, *failing;
	berth_status st;

	(void)state;
	put_template("sv-cno", "no", 0, 0, NULL, 0);
	put_template("sv-cfail", "on-failure", 1, 60, env, 2);
	no = launch("sv-cno", &lr1);
	failing = launch("sv-cfail", &lr2);
	assert_int_equal(docker_do("kill", no->container_id), 0);
	assert_true(E2E_WAIT_UNTIL(is(no->service_id, "exited", NULL), 3000));
	/* While failing is in backoff, cleanup takes only the dead one. */
	assert_true(E2E_WAIT_UNTIL(is(failing->service_id, "exited", "backoff"), 5000));
	assert_int_equal(berth_call(daemon_under_test.client, "AutoCleanup", &req.base, &reply, &st),
	    0);
	out = (Berth__V1__AutoCleanupResponse *)reply;
	assert_int_equal(out->n_removed_services, 1);
	assert_string_equal(out->removed_services[0], no->service_id);
	berth_reply_free(reply);
	/* Given up on: still kept without include_failed, removed with it. */
	assert_true(E2E_WAIT_UNTIL(is(failing->service_id, "exited", "failed"), 8000));
	assert_int_equal(berth_call(daemon_under_test.client, "AutoCleanup", &req.base, &reply, &st),
	    0);
	assert_int_equal(((Berth__V1__AutoCleanupResponse *)reply)->n_removed_services, 0);
	berth_reply_free(reply);
	req.include_failed = true;
	assert_int_equal(berth_call(daemon_under_test.client, "AutoCleanup", &req.base, &reply, &st),
	    0);
	out = (Berth__V1__AutoCleanupResponse *)reply;
	assert_int_equal(out->n_removed_services, 1);
	assert_string_equal(out->removed_services[0], failing->service_id);
	berth_reply_free(reply);
	berth_reply_free(&lr1->base);
	berth_reply_free(&lr2->base);
}

/*
 * Docker goes away (berthd's proxy to it closes), all five containers are
 * killed meanwhile, Docker comes back: each is restarted once, none
 * counted as several crashes.
 */
static void
test_a_docker_outage_is_one_restart_per_service(void **state)
{
	struct docker_proxy proxy;
	struct e2e_daemon dmn;
	const char *args[] = { "--docker-host", NULL, NULL };
	Berth__V1__LaunchServiceResponse *lr[5];
	char host[160];
	berth_status st;

	(void)state;
	memset(&dmn, 0, sizeof(dmn));
	assert_int_equal(docker_proxy_start(&proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	args[1] = host;
	assert_int_equal(e2e_daemon_start(&dmn, args), 0);
	{
		Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;

		e2e_demo_template(&t, "sv-outage", RANGE_FIRST, RANGE_LAST);
		t.restart = "on-failure";
		assert_int_equal(e2e_put_template(dmn.client, &t, &st), 0);
	}
	for (int i = 0; i < 5; i++) {
		lr[i] = e2e_launch(dmn.client, "sv-outage", "", 0, &st);
		if (lr[i] == NULL)
			fail_msg("launch: %s", st.message);
	}
	assert_true(docker_proxy_down(&proxy));
	for (int i = 0; i < 5; i++)
		assert_int_equal(docker_do("kill", lr[i]->service->container_id), 0);
	clock_sleep_ms(1500); /* deliberate: Docker stays away this long */
	assert_true(docker_proxy_up(&proxy));
	for (int i = 0; i < 5; i++) {
		Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
		const char *id = lr[i]->service->service_id;
		bool back = false;
		int64_t until = clock_monotonic_ms() + 15000;

		req.service_id = (char *)id;
		req.registry_only = true;
		while (!back && clock_monotonic_ms() < until) {
			ProtobufCMessage *reply = NULL;

			if (berth_call(dmn.client, "GetService", &req.base, &reply, &st) == 0) {
				Berth__V1__Service *s = ((Berth__V1__GetServiceResponse *)reply)->service;

				back = strcmp(s->status, "running") == 0 && s->restarts >= 1 &&
				    strcmp(s->supervisor, "ok") == 0;
			}
			berth_reply_free(reply);
			if (!back)
				clock_sleep_ms(E2E_POLL_MS * 5);
		}
		assert_true(back);
	}
	clock_sleep_ms(1500); /* deliberate: a second count would show by now */
	for (int i = 0; i < 5; i++) {
		Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
		ProtobufCMessage *reply = NULL;

		req.service_id = lr[i]->service->service_id;
		req.registry_only = true;
		assert_int_equal(berth_call(dmn.client, "GetService", &req.base, &reply, &st), 0);
		assert_int_equal(((Berth__V1__GetServiceResponse *)reply)->service->restarts, 1);
		assert_true(docker_running(lr[i]->service->container_name));
		berth_reply_free(reply);
		berth_reply_free(&lr[i]->base);
	}
	e2e_daemon_destroy(&dmn, true);
	docker_proxy_stop(&proxy);
}

/*
 * berthd killed with -9, a service killed meanwhile and another stopped by
 * the operator before: the next berthd starts the one that should run
 * (autostart), leaves the stopped one, duplicates nothing.
 */
static void
test_autostart_after_berthd_was_killed(void **state)
{
	Berth__V1__StopServiceRequest req = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	Berth__V1__LaunchServiceResponse *lr1, *lr2;
	Berth__V1__Service *up, *down;
	berth_status st;
	char cmd[512];
	FILE *p;
	int count = -1;

	(void)state;
	put_template("sv-auto", "on-failure", 0, 0, NULL, 0);
	up = launch("sv-auto", &lr1);
	down = launch("sv-auto", &lr2);
	req.service_id = down->service_id;
	assert_int_equal(berth_call(daemon_under_test.client, "StopService", &req.base, &reply, &st),
	    0);
	berth_reply_free(reply);
	berthd_proc_kill(&daemon_under_test.proc);
	/* A clean exit: on-failure alone would leave it; autostart does not ask. */
	assert_int_equal(docker_do("stop -t 1", up->container_id), 0);
	assert_int_equal(e2e_daemon_restart(&daemon_under_test, NULL), 0);
	assert_true(E2E_WAIT_UNTIL(is(up->service_id, "running", "ok") &&
		docker_running(up->container_name), 10000));
	assert_true(is(down->service_id, "stopped", "ok"));
	assert_false(docker_running(down->container_name));
	snprintf(cmd, sizeof(cmd), "docker ps -aq --filter name=^/?%s$ | wc -l", up->container_name);
	assert_non_null(p = popen(cmd, "r"));
	assert_int_equal(fscanf(p, "%d", &count), 1);
	pclose(p);
	assert_int_equal(count, 1);
	berth_reply_free(&lr1->base);
	berth_reply_free(&lr2->base);
}

/*
 * --on-exit keep: berthd restarted five times in a row (SIGTERM, start)
 * with services running: none restarted (same container, same start
 * time), no row lost.
 */
static void
test_on_exit_keep_restarts_of_berthd_are_not_an_outage(void **state)
{
	const char *keep[] = { "--on-exit", "keep", NULL };
	Berth__V1__LaunchServiceResponse *lr[3];
	char started[3][64], cmd[256];

	(void)state;
	assert_int_equal(berthd_proc_stop(&daemon_under_test.proc, 30), 0);
	assert_int_equal(e2e_daemon_restart(&daemon_under_test, keep), 0);
	put_template("sv-keep", "on-failure", 0, 0, NULL, 0);
	for (int i = 0; i < 3; i++) {
		FILE *p;

		launch("sv-keep", &lr[i]);
		snprintf(cmd, sizeof(cmd), "docker inspect -f '{{.State.StartedAt}}' %s",
		    lr[i]->service->container_id);
		assert_non_null(p = popen(cmd, "r"));
		assert_non_null(fgets(started[i], sizeof(started[i]), p));
		pclose(p);
	}
	for (int round = 0; round < 5; round++) {
		assert_int_equal(berthd_proc_stop(&daemon_under_test.proc, 30), 0);
		assert_int_equal(e2e_daemon_restart(&daemon_under_test, keep), 0);
	}
	clock_sleep_ms(1500); /* deliberate: a restart would show by now */
	for (int i = 0; i < 3; i++) {
		Berth__V1__GetServiceResponse *r = get(lr[i]->service->service_id);
		char now[64] = "";
		FILE *p;

		assert_non_null(r); /* the row is there */
		assert_string_equal(r->service->status, "running");
		assert_string_equal(r->service->container_id, lr[i]->service->container_id);
		assert_int_equal(r->service->restarts, 0);
		berth_reply_free(&r->base);
		snprintf(cmd, sizeof(cmd), "docker inspect -f '{{.State.StartedAt}}' %s",
		    lr[i]->service->container_id);
		assert_non_null(p = popen(cmd, "r"));
		assert_non_null(fgets(now, sizeof(now), p));
		pclose(p);
		assert_string_equal(now, started[i]); /* never restarted */
		berth_reply_free(&lr[i]->base);
	}
	/* Back to the default for the tests after this one. */
	assert_int_equal(berthd_proc_stop(&daemon_under_test.proc, 30), 0);
	assert_int_equal(e2e_daemon_restart(&daemon_under_test, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_a_killed_service_comes_back_on_its_port_and_directory,
		    teardown_each),
		cmocka_unit_test_teardown(test_a_crash_loop_backs_off_then_fails_and_a_restart_resets_it,
		    teardown_each),
		cmocka_unit_test_teardown(test_a_stop_is_not_undone, teardown_each),
		cmocka_unit_test_teardown(test_policies_decide_on_the_exit_code, teardown_each),
		cmocka_unit_test_teardown(test_a_deleted_container_is_recreated_with_its_port_and_directory,
		    teardown_each),
		cmocka_unit_test_teardown(test_cleanup_leaves_what_the_supervisor_owns, teardown_each),
		cmocka_unit_test_teardown(test_a_docker_outage_is_one_restart_per_service, teardown_each),
		cmocka_unit_test_teardown(test_autostart_after_berthd_was_killed, teardown_each),
		cmocka_unit_test_teardown(test_on_exit_keep_restarts_of_berthd_are_not_an_outage,
		    teardown_each),
	};

	return cmocka_run_group_tests_name("supervisor", tests, setup, teardown);
}
