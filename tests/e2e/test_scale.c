/*
 * test_scale.c - ScaleTemplate and the CLI's commands on several services,
 * against a real berthd and Docker: up and down around a named instance,
 * 16 clients scaling one template at once, named instances above N
 * refused, scale to 0, a resent scale done once, stopped instances left
 * alone, and `berth stop|restart|rm` on several ids and on --template.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

#define RANGE_FIRST 18620
#define RANGE_LAST 18699
#define N_CLIENTS 16

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

/* Each test leaves nothing behind for the next. */
static int
remove_all(void **state)
{
	(void)state;
	e2e_remove_all_services(daemon_under_test.client);
	return 0;
}

/* ScaleTemplate; the reply (caller frees) or NULL with *st filled. */
static Berth__V1__ScaleTemplateResponse *
scale(berth_client *c, const char *template_name, uint32_t n, const char *request_id,
    berth_status *st)
{
	Berth__V1__ScaleTemplateRequest req = BERTH__V1__SCALE_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	int rc;

	req.template_ = (char *)template_name;
	req.instances = n;
	rc = request_id != NULL ? berth_call_with_id(c, "ScaleTemplate", request_id, &req.base,
				      &reply, st)
				: berth_call(c, "ScaleTemplate", &req.base, &reply, st);
	if (rc != 0) {
		berth_reply_free(reply);
		return NULL;
	}
	return (Berth__V1__ScaleTemplateResponse *)reply;
}

static Berth__V1__ScaleTemplateResponse *
scale_ok(const char *template_name, uint32_t n)
{
	berth_status st;
	Berth__V1__ScaleTemplateResponse *r =
	    scale(daemon_under_test.client, template_name, n, NULL, &st);

	if (r == NULL)
		fail_msg("scale %s %u: %s: %s", template_name, n, berth_code_name(st.code),
		    st.message);
	return r;
}

/* The template's services whose desired state is running, and whether `id` is among them. */
static size_t
wanted_running(const char *template_name, const char *id, bool *has)
{
	berth_status st;
	Berth__V1__ListServicesResponse *l = e2e_list_services(daemon_under_test.client, &st);
	size_t n = 0;

	assert_non_null(l);
	if (has != NULL)
		*has = false;
	for (size_t i = 0; i < l->n_services; i++) {
		const Berth__V1__Service *s = l->services[i];

		if (strcmp(s->template_, template_name) != 0 ||
		    strcmp(s->desired_state, "running") != 0)
			continue;
		n++;
		if (id != NULL && strcmp(s->service_id, id) == 0)
			*has = true;
	}
	berth_reply_free(&l->base);
	return n;
}

/* Containers of this berthd and template that Docker says run. */
static int
running_containers(const char *template_name)
{
	char cmd[PATH_MAX + 256], line[64];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd),
	    "docker ps -q --filter 'label=%s' --filter 'label=berth.template=%s' | wc -l",
	    daemon_under_test.label, template_name);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), p) != NULL)
		n = atoi(line);
	pclose(p);
	return n;
}

static bool
has_string(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void
assert_contains(const char *haystack, const char *needle)
{
	if (haystack == NULL || strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, haystack != NULL ? haystack : "(null)");
}

/* scale web 8, then 3, around one named instance launched by hand. */
static void
test_scale_up_then_down_keeps_the_named_instance(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__LaunchServiceResponse *named;
	Berth__V1__ScaleTemplateResponse *r;
	berth_status st;
	bool has;
	char id[64];

	(void)state;
	assert_int_equal(e2e_put_demo_template(c, "web", RANGE_FIRST, RANGE_LAST), 0);
	named = e2e_launch(c, "web", "staging", 0, &st);
	if (named == NULL)
		fail_msg("launch staging: %s", st.message);
	berth_reply_free(&named->base);

	r = scale_ok("web", 8);
	assert_int_equal(r->running, 8);
	assert_int_equal(r->n_launched, 7); /* the named one counts */
	assert_int_equal(r->n_removed, 0);
	for (size_t i = 0; i < r->n_launched; i++) {
		assert_string_equal(r->launched[i]->status, "running");
		assert_true(r->launched[i]->port >= RANGE_FIRST && r->launched[i]->port <= RANGE_LAST);
	}
	berth_reply_free(&r->base);
	assert_int_equal(wanted_running("web", "web_staging", &has), 8);
	assert_true(has);
	assert_int_equal(running_containers("web"), 8);

	r = scale_ok("web", 3);
	assert_int_equal(r->running, 3);
	assert_int_equal(r->n_launched, 0);
	assert_int_equal(r->n_removed, 5);
	/* The highest numbers went: 3 to 7; 1, 2 and the named one stay. */
	for (int k = 3; k <= 7; k++) {
		snprintf(id, sizeof(id), "web_instance_%d", k);
		assert_true(has_string(r->removed, r->n_removed, id));
	}
	berth_reply_free(&r->base);
	assert_int_equal(wanted_running("web", "web_staging", &has), 3);
	assert_true(has);
	assert_int_equal(wanted_running("web", "web_instance_1", &has), 3);
	assert_true(has);
	assert_int_equal(wanted_running("web", "web_instance_2", &has), 3);
	assert_true(has);
	assert_int_equal(running_containers("web"), 3);

	/* The same N again changes nothing. */
	r = scale_ok("web", 3);
	assert_int_equal(r->n_launched + r->n_removed, 0);
	berth_reply_free(&r->base);
}

struct racer {
	const char *url;
	uint32_t n;
	int code;
	char message[512];
	int64_t finished_us;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	berth_options opts = { NULL, 180000 };
	berth_client *c = NULL;
	berth_status st;
	Berth__V1__ScaleTemplateResponse *rep;

	if (berth_open(&c, r->url, &opts, &st) != 0) {
		r->code = st.code;
		snprintf(r->message, sizeof(r->message), "%s", st.message);
		return NULL;
	}
	rep = scale(c, "race", r->n, NULL, &st);
	r->finished_us = clock_monotonic_us();
	r->code = rep != NULL ? 0 : st.code;
	if (rep == NULL)
		snprintf(r->message, sizeof(r->message), "%s", st.message);
	berth_reply_free(rep != NULL ? &rep->base : NULL);
	berth_close(c);
	return NULL;
}

/* 16 clients scale one template at once to different N: the last call's N stays. */
static void
test_sixteen_clients_at_once_end_with_the_last_n(void **state)
{
	struct racer racers[N_CLIENTS];
	pthread_t threads[N_CLIENTS];
	size_t last = 0;

	(void)state;
	assert_int_equal(e2e_put_demo_template(daemon_under_test.client, "race", RANGE_FIRST,
			     RANGE_LAST),
	    0);
	for (size_t i = 0; i < N_CLIENTS; i++) {
		racers[i] = (struct racer){ .url = daemon_under_test.proc.url,
			.n = (uint32_t)((i * 7) % 11) };
		assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
	}
	for (size_t i = 0; i < N_CLIENTS; i++)
		pthread_join(threads[i], NULL);
	for (size_t i = 0; i < N_CLIENTS; i++) {
		if (racers[i].code != 0)
			fail_msg("client %zu (N %u): %s: %s", i, racers[i].n,
			    berth_code_name(racers[i].code), racers[i].message);
		if (racers[i].finished_us > racers[last].finished_us)
			last = i;
	}
	print_message("the last call to finish: client %zu, N %u\n", last, racers[last].n);
	assert_int_equal(wanted_running("race", NULL, NULL), racers[last].n);
	assert_int_equal(running_containers("race"), (int)racers[last].n);
}

/* Named instances alone above N: refused, naming them, nothing done. */
static void
test_named_instances_above_n_are_refused(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__LaunchServiceResponse *l;
	Berth__V1__ScaleTemplateResponse *r;
	berth_status st;
	const char *names[] = { "alpha", "beta" };

	(void)state;
	assert_int_equal(e2e_put_demo_template(c, "named", RANGE_FIRST, RANGE_LAST), 0);
	for (size_t i = 0; i < 2; i++) {
		l = e2e_launch(c, "named", names[i], 0, &st);
		if (l == NULL)
			fail_msg("launch %s: %s", names[i], st.message);
		berth_reply_free(&l->base);
	}
	r = scale(c, "named", 1, NULL, &st);
	assert_null(r);
	assert_int_equal(st.code, BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_string_equal(st.field, "instances");
	assert_contains(st.message, "named_alpha");
	assert_contains(st.message, "named_beta");
	assert_int_equal(wanted_running("named", NULL, NULL), 2);
	assert_int_equal(running_containers("named"), 2);

	/* Their number is fine, and more adds numbered ones. */
	r = scale_ok("named", 3);
	assert_int_equal(r->n_launched, 1);
	assert_string_equal(r->launched[0]->service_id, "named_instance_1");
	berth_reply_free(&r->base);

	/* Above the limit: INVALID_ARGUMENT, from berthd and from the CLI without a call. */
	assert_null(scale(c, "named", 1001, NULL, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "instances");
	assert_null(scale(c, "nosuch", 1, NULL, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__NOT_FOUND);
}

/* Scale to 0 removes every numbered instance; a resent scale is done once. */
static void
test_scale_to_zero_and_a_resend_is_done_once(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__ScaleTemplateResponse *r, *again;
	berth_status st;

	(void)state;
	assert_int_equal(e2e_put_demo_template(c, "zero", RANGE_FIRST, RANGE_LAST), 0);
	r = scale(c, "zero", 4, "scale-zero-4", &st);
	if (r == NULL)
		fail_msg("scale: %s", st.message);
	/* The same request id again: the first answer, nothing launched twice. */
	again = scale(c, "zero", 4, "scale-zero-4", &st);
	assert_non_null(again);
	assert_int_equal(again->n_launched, 4);
	assert_string_equal(again->launched[0]->service_id, r->launched[0]->service_id);
	berth_reply_free(&again->base);
	berth_reply_free(&r->base);
	assert_int_equal(wanted_running("zero", NULL, NULL), 4);
	assert_int_equal(running_containers("zero"), 4);

	r = scale_ok("zero", 0);
	assert_int_equal(r->running, 0);
	assert_int_equal(r->n_removed, 4);
	berth_reply_free(&r->base);
	assert_int_equal(wanted_running("zero", NULL, NULL), 0);
	assert_int_equal(running_containers("zero"), 0);
}

/* A stopped instance neither counts nor is touched. */
static void
test_stopped_instances_do_not_count(void **state)
{
	berth_client *c = daemon_under_test.client;
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	Berth__V1__ScaleTemplateResponse *r;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	char status[32];

	(void)state;
	assert_int_equal(e2e_put_demo_template(c, "halt", RANGE_FIRST, RANGE_LAST), 0);
	berth_reply_free(&scale_ok("halt", 2)->base);
	stop.service_id = "halt_instance_1";
	assert_int_equal(berth_call(c, "StopService", &stop.base, &reply, &st), 0);
	berth_reply_free(reply);
	r = scale_ok("halt", 2);
	assert_int_equal(r->n_launched, 1);
	assert_string_equal(r->launched[0]->service_id, "halt_instance_3");
	berth_reply_free(&r->base);
	r = scale_ok("halt", 0);
	assert_int_equal(r->n_removed, 2);
	berth_reply_free(&r->base);
	assert_int_equal(e2e_service_status(c, "halt_instance_1", status, sizeof(status)), 0);
	assert_string_equal(status, "stopped");
}

/* berth stop|restart|rm on several ids, one of them unknown: the others are done. */
static void
test_cli_several_ids_with_a_bad_one(void **state)
{
	const struct berthd_proc *p = &daemon_under_test.proc;
	char *out = NULL, *err = NULL, status[32];

	(void)state;
	assert_int_equal(e2e_put_demo_template(daemon_under_test.client, "multi", RANGE_FIRST,
			     RANGE_LAST),
	    0);
	assert_int_equal(berth_cli(p, &out, &err, "scale", "multi", "3", NULL), 0);
	assert_contains(out, "launched multi_instance_1 http://");
	assert_contains(out, "multi: 3 running (launched 3, removed 0)");
	free(out);
	free(err);

	/* NOT_FOUND is exit 3: the first failure's. */
	assert_int_equal(berth_cli(p, &out, &err, "stop", "multi_instance_1", "multi_instance_99",
			     "multi_instance_2", NULL),
	    3);
	assert_contains(out, "multi_instance_1: stopped\n");
	assert_contains(out, "multi_instance_2: stopped\n");
	assert_contains(err, "berth: multi_instance_99: NOT_FOUND");
	assert_contains(err, "1 of 3 failed");
	free(out);
	free(err);
	assert_int_equal(e2e_service_status(daemon_under_test.client, "multi_instance_3", status,
			     sizeof(status)),
	    0);
	assert_string_equal(status, "running");

	assert_int_equal(berth_cli(p, &out, &err, "restart", "multi_instance_99", "multi_instance_1",
			     "multi_instance_2", NULL),
	    3);
	assert_contains(out, "multi_instance_1: running\n");
	assert_contains(out, "multi_instance_2: running\n");
	free(out);
	free(err);

	assert_int_equal(berth_cli(p, &out, &err, "rm", "--purge", "multi_instance_1", "nosuch_1",
			     "multi_instance_3", NULL),
	    3);
	assert_contains(out, "Removed multi_instance_1 (container removed, directory removed).");
	assert_contains(out, "Removed multi_instance_3 (container removed, directory removed).");
	assert_contains(err, "berth: nosuch_1: NOT_FOUND");
	free(out);
	free(err);
	assert_int_equal(wanted_running("multi", NULL, NULL), 1);
	assert_int_equal(running_containers("multi"), 1);

	/* One id: the output as it always was, no summary. */
	assert_int_equal(berth_cli(p, &out, &err, "stop", "multi_instance_2", NULL), 0);
	assert_string_equal(out, "multi_instance_2: stopped\n");
	assert_string_equal(err, "");
	free(out);
	free(err);
}

/* --template T: every service of T. */
static void
test_cli_template_option(void **state)
{
	const struct berthd_proc *p = &daemon_under_test.proc;
	char *out = NULL, *err = NULL;

	(void)state;
	assert_int_equal(e2e_put_demo_template(daemon_under_test.client, "tpl", RANGE_FIRST,
			     RANGE_LAST),
	    0);
	assert_int_equal(e2e_put_demo_template(daemon_under_test.client, "other", RANGE_FIRST,
			     RANGE_LAST),
	    0);
	berth_reply_free(&scale_ok("tpl", 3)->base);
	berth_reply_free(&scale_ok("other", 1)->base);

	assert_int_equal(berth_cli(p, &out, &err, "stop", "--template", "tpl", NULL), 0);
	for (int k = 1; k <= 3; k++) {
		char line[64];

		snprintf(line, sizeof(line), "tpl_instance_%d: stopped\n", k);
		assert_contains(out, line);
	}
	free(out);
	free(err);
	assert_int_equal(running_containers("tpl"), 0);
	assert_int_equal(running_containers("other"), 1);

	assert_int_equal(berth_cli(p, &out, &err, "restart", "--template", "tpl", NULL), 0);
	assert_contains(out, "tpl_instance_3: running\n");
	free(out);
	free(err);
	assert_int_equal(running_containers("tpl"), 3);

	assert_int_equal(berth_cli(p, &out, &err, "rm", "--template", "tpl", "--purge", NULL), 0);
	assert_contains(out, "Removed tpl_instance_2 (container removed, directory removed).");
	free(out);
	free(err);
	assert_int_equal(running_containers("tpl"), 0);
	assert_int_equal(running_containers("other"), 1);

	/* No ids and no --template: a usage error. */
	assert_int_equal(berth_cli(p, &out, &err, "stop", NULL), 1);
	assert_contains(err, "a service id (or --template T) is required");
	free(out);
	free(err);

	/* berth scale's own checks. */
	assert_int_equal(berth_cli(p, &out, &err, "scale", "tpl", "lots", NULL), 1);
	free(out);
	free(err);
	assert_int_equal(berth_cli(p, &out, &err, "scale", "tpl", "1001", NULL), 2);
	assert_contains(err, "instances");
	free(out);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_scale_up_then_down_keeps_the_named_instance, remove_all),
		cmocka_unit_test_teardown(test_sixteen_clients_at_once_end_with_the_last_n, remove_all),
		cmocka_unit_test_teardown(test_named_instances_above_n_are_refused, remove_all),
		cmocka_unit_test_teardown(test_scale_to_zero_and_a_resend_is_done_once, remove_all),
		cmocka_unit_test_teardown(test_stopped_instances_do_not_count, remove_all),
		cmocka_unit_test_teardown(test_cli_several_ids_with_a_bad_one, remove_all),
		cmocka_unit_test_teardown(test_cli_template_option, remove_all),
	};

	return cmocka_run_group_tests_name("scale", tests, setup, teardown);
}
