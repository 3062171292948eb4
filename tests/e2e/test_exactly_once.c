/*
 * test_exactly_once.c - a mutating call is done once even when berthd is
 * killed (SIGKILL) in its middle or right after it, and the client sends it
 * again to the restarted berthd with the same request id: nng's REQ resends
 * an unanswered request by itself, libberth's retries reuse the id.
 *
 * berthd talks to Docker through tests/support/docker_proxy.c, whose hook
 * kills berthd at an exact step of a launch or a removal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docker_proxy.h"
#include "e2e.h"

#define RANGE_FIRST 18500
#define RANGE_LAST 18519
/* A call to a killed berthd waits this long for the restarted one. */
#define RESEND_TIMEOUT_MS 30000

struct fixture {
	struct e2e_daemon d;
	struct docker_proxy proxy;
	const char *args[3];
	char host[160];
};

/* Kills berthd the first time it sends Docker a request containing `needle`. */
struct killer {
	const char *needle;
	enum docker_proxy_verdict verdict; /* whether Docker still gets the request */
	pid_t pid;
	unsigned held_before; /* proxy.answers_held when armed */
	atomic_bool fired;
};

static enum docker_proxy_verdict
kill_hook(void *arg, const char *data, size_t len)
{
	struct killer *k = arg;

	if (atomic_load(&k->fired) || memmem(data, len, k->needle, strlen(k->needle)) == NULL)
		return DOCKER_PROXY_FORWARD;
	/* A held answer: the test kills berthd once Docker has answered (restart_after_kill). */
	if (k->verdict != DOCKER_PROXY_HOLD_ANSWER)
		kill(k->pid, SIGKILL);
	atomic_store(&k->fired, true);
	return k->verdict;
}

/* One call, sent by its own client and thread, as a program would. */
struct pending_call {
	const char *url;
	const char *method;
	const char *request_id;
	const ProtobufCMessage *request;
	ProtobufCMessage *reply;
	berth_status st;
	int code;
	pthread_t thread;
};

static void *
pending_main(void *arg)
{
	struct pending_call *p = arg;
	berth_client *c = NULL;

	p->code = berth_open(&c, p->url, NULL, &p->st);
	if (p->code == 0) {
		berth_set_timeout(c, RESEND_TIMEOUT_MS);
		p->code = berth_call_with_id(c, p->method, p->request_id, p->request, &p->reply,
		    &p->st);
	}
	berth_close(c);
	return NULL;
}

/* berth_call_with_id when only the code matters. */
static int
call_with_id(berth_client *c, const char *method, const char *request_id,
    const ProtobufCMessage *request, berth_status *st)
{
	ProtobufCMessage *reply = NULL;
	int code = berth_call_with_id(c, method, request_id, request, &reply, st);

	berth_reply_free(reply);
	return code;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || docker_proxy_start(&f->proxy) != 0)
		return -1;
	snprintf(f->host, sizeof(f->host), "unix://%s", f->proxy.path);
	f->args[0] = "--docker-host";
	f->args[1] = f->host;
	if (e2e_daemon_start(&f->d, f->args) != 0 ||
	    e2e_put_demo_template(f->d.client, "once", RANGE_FIRST, RANGE_LAST) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	docker_proxy_set_hook(&f->proxy, NULL, NULL);
	docker_proxy_up(&f->proxy);
	e2e_daemon_destroy(&f->d, true);
	docker_proxy_stop(&f->proxy);
	free(f);
	return 0;
}

/* Before each test: no services, Docker reachable, no hook. */
static int
clean(void **state)
{
	struct fixture *f = *state;

	docker_proxy_set_hook(&f->proxy, NULL, NULL);
	docker_proxy_up(&f->proxy);
	e2e_remove_all_services(f->d.client);
	return 0;
}

/* The services berthd lists, and the containers of its data directory Docker has. */
static size_t
count_services(struct fixture *f)
{
	berth_status st;
	Berth__V1__ListServicesResponse *r = e2e_list_services(f->d.client, &st);
	size_t n;

	assert_non_null(r);
	n = r->n_services;
	berth_reply_free(&r->base);
	return n;
}

static size_t
count_containers(struct fixture *f)
{
	char filter[PATH_MAX + 64], out_cmd[PATH_MAX + 128];
	char line[256];
	size_t n = 0;
	FILE *p;

	snprintf(filter, sizeof(filter), "label=%s", f->d.label);
	snprintf(out_cmd, sizeof(out_cmd), "docker ps -aq --filter '%s'", filter);
	p = popen(out_cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL)
		n++;
	pclose(p);
	return n;
}

/* Waits for berthd to be dead (the hook killed it) and starts it again. */
static void
restart_after_kill(struct fixture *f, struct killer *k)
{
	assert_true(E2E_WAIT_UNTIL(atomic_load(&k->fired), 20000));
	if (k->verdict == DOCKER_PROXY_HOLD_ANSWER)
		assert_true(E2E_WAIT_UNTIL(atomic_load(&f->proxy.answers_held) > k->held_before, 20000));
	berthd_proc_kill(&f->d.proc); /* kills (if the hook did not) and reaps it */
	docker_proxy_set_hook(&f->proxy, NULL, NULL);
	assert_true(docker_proxy_up(&f->proxy));
	assert_int_equal(e2e_daemon_restart(&f->d, f->args), 0);
}

/*
 * The call that was cut short, seen through to its answer: nng resends it
 * to the restarted berthd by itself; if that did not happen in time, the
 * program sends it again with the same id, as libberth's retry does.
 */
static int
settle(struct fixture *f, struct pending_call *p)
{
	pthread_join(p->thread, NULL);
	if (p->code == 0)
		return 0;
	print_message("# the first attempt answered %s (%s); sending it again\n",
	    berth_code_name(p->st.code), p->st.message);
	berth_set_timeout(f->d.client, RESEND_TIMEOUT_MS);
	p->code = berth_call_with_id(f->d.client, p->method, p->request_id, p->request, &p->reply,
	    &p->st);
	berth_set_timeout(f->d.client, E2E_CALL_TIMEOUT_MS);
	return p->code;
}

/*
 * The launch is killed at a step of its conversation with Docker: before
 * the container exists (start-up recovery undoes the row, the resend
 * launches anew), or once Docker has started it and before berthd heard so
 * (recovery finishes the launch, the resend answers for it). Either way one
 * service, one container.
 */
static void
launch_killed_at(struct fixture *f, const char *needle, enum docker_proxy_verdict verdict,
    const char *request_id)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	struct killer k = { .needle = needle, .verdict = verdict, .pid = f->d.proc.pid,
		.held_before = atomic_load(&f->proxy.answers_held) };
	struct pending_call p = { 0 };
	Berth__V1__LaunchServiceResponse *r;
	char service_id[128];

	req.template_ = "once";
	p.url = f->d.proc.url;
	p.method = "LaunchService";
	p.request_id = request_id;
	p.request = &req.base;
	docker_proxy_set_hook(&f->proxy, kill_hook, &k);
	assert_int_equal(pthread_create(&p.thread, NULL, pending_main, &p), 0);
	restart_after_kill(f, &k);
	assert_int_equal(settle(f, &p), 0);
	r = (Berth__V1__LaunchServiceResponse *)p.reply;
	assert_string_equal(r->service->status, "running");
	snprintf(service_id, sizeof(service_id), "%s", r->service->service_id);
	assert_int_equal(count_services(f), 1);
	assert_int_equal(count_containers(f), 1);

	/* And once more, now that it has answered: the same answer, still one. */
	berth_reply_free(p.reply);
	p.reply = NULL;
	assert_int_equal(berth_call_with_id(f->d.client, "LaunchService", request_id, &req.base,
			     &p.reply, &p.st),
	    0);
	assert_string_equal(((Berth__V1__LaunchServiceResponse *)p.reply)->service->service_id,
	    service_id);
	berth_reply_free(p.reply);
	assert_int_equal(count_services(f), 1);
}

static void
test_launch_killed_before_the_create_is_done_once(void **state)
{
	launch_killed_at(*state, "/containers/create", DOCKER_PROXY_DOWN_BEFORE, "once-create");
}

static void
test_launch_killed_after_the_start_is_done_once(void **state)
{
	launch_killed_at(*state, "/start ", DOCKER_PROXY_HOLD_ANSWER, "once-start");
}

/* A launch that answered, then berthd killed: the resend gets that answer. */
static void
test_launch_answered_then_killed_replays_the_answer(void **state)
{
	struct fixture *f = *state;
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *first, *again;
	berth_status st;

	req.template_ = "once";
	assert_int_equal(berth_call_with_id(f->d.client, "LaunchService", "once-answered", &req.base,
			     (ProtobufCMessage **)&first, &st),
	    0);
	berthd_proc_kill(&f->d.proc);
	assert_int_equal(e2e_daemon_restart(&f->d, f->args), 0);
	assert_int_equal(berth_call_with_id(f->d.client, "LaunchService", "once-answered", &req.base,
			     (ProtobufCMessage **)&again, &st),
	    0);
	assert_string_equal(again->service->service_id, first->service->service_id);
	assert_int_equal(again->service->port, first->service->port);
	assert_int_equal(count_services(f), 1);

	/* The same id with another request is refused, also after the restart. */
	req.instance = "other";
	assert_int_equal(call_with_id(f->d.client, "LaunchService", "once-answered", &req.base, &st),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_string_equal(st.reason, "REQUEST_ID_REUSED");
	berth_reply_free(&first->base);
	berth_reply_free(&again->base);
}

/*
 * A removal with --purge killed once Docker has been asked to remove the
 * container: the resend answers OK (not NOT_FOUND), and the directory is
 * purged although the first attempt never got that far.
 */
static void
test_remove_killed_half_way_answers_ok_and_purges(void **state)
{
	struct fixture *f = *state;
	Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	struct killer k = { .needle = "DELETE /", .verdict = DOCKER_PROXY_HOLD_ANSWER };
	struct pending_call p = { 0 };
	Berth__V1__LaunchServiceResponse *launched;
	Berth__V1__RemoveServiceResponse *r;
	berth_status st;
	struct stat sb;
	char dir[PATH_MAX];

	launched = e2e_launch(f->d.client, "once", "gone", 0, &st);
	assert_non_null(launched);
	snprintf(dir, sizeof(dir), "%s", launched->service->project_dir);
	berth_reply_free(&launched->base);
	assert_int_equal(stat(dir, &sb), 0);

	req.service_id = "once_gone";
	req.purge = true;
	k.pid = f->d.proc.pid;
	k.held_before = atomic_load(&f->proxy.answers_held);
	p.url = f->d.proc.url;
	p.method = "RemoveService";
	p.request_id = "once-remove";
	p.request = &req.base;
	docker_proxy_set_hook(&f->proxy, kill_hook, &k);
	assert_int_equal(pthread_create(&p.thread, NULL, pending_main, &p), 0);
	restart_after_kill(f, &k);
	assert_int_equal(settle(f, &p), 0);
	r = (Berth__V1__RemoveServiceResponse *)p.reply;
	assert_string_equal(r->service->service_id, "once_gone");
	assert_true(r->directory_removed);
	berth_reply_free(p.reply);
	assert_int_equal(count_services(f), 0);
	assert_int_equal(count_containers(f), 0);
	assert_int_not_equal(stat(dir, &sb), 0);

	/* A removal of a service that never existed is still NOT_FOUND. */
	req.service_id = "once_never";
	assert_int_equal(call_with_id(f->d.client, "RemoveService", "once-never", &req.base, &st),
	    BERTH__V1__CODE__NOT_FOUND);
}

/* A removal that answered, then berthd killed: the resend is OK, not NOT_FOUND. */
static void
test_remove_answered_then_killed_replays_ok(void **state)
{
	struct fixture *f = *state;
	Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *launched;
	berth_status st;

	launched = e2e_launch(f->d.client, "once", "done", 0, &st);
	assert_non_null(launched);
	berth_reply_free(&launched->base);
	req.service_id = "once_done";
	assert_int_equal(call_with_id(f->d.client, "RemoveService", "once-rm-done", &req.base, &st),
	    0);
	berthd_proc_kill(&f->d.proc);
	assert_int_equal(e2e_daemon_restart(&f->d, f->args), 0);
	assert_int_equal(call_with_id(f->d.client, "RemoveService", "once-rm-done", &req.base, &st),
	    0);
}

/*
 * An ApplySpec of three instances, with the plan's fingerprint, killed at
 * its first container start: the resend with the same request id applies
 * the rest (the registry changed under the fingerprint by the call's own
 * first attempt, which is not a changed plan) and ends with three.
 */
static void
test_apply_spec_killed_half_way_is_finished_by_the_resend(void **state)
{
	struct fixture *f = *state;
	Berth__V1__PlanSpecRequest plan = BERTH__V1__PLAN_SPEC_REQUEST__INIT;
	Berth__V1__ApplySpecRequest apply = BERTH__V1__APPLY_SPEC_REQUEST__INIT;
	Berth__V1__SpecTemplate st = BERTH__V1__SPEC_TEMPLATE__INIT;
	Berth__V1__SpecTemplate *sts[] = { &st };
	Berth__V1__Spec spec = BERTH__V1__SPEC__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	struct killer k = { .needle = "/start ", .verdict = DOCKER_PROXY_HOLD_ANSWER,
		.pid = f->d.proc.pid, .held_before = atomic_load(&f->proxy.answers_held) };
	struct pending_call p = { 0 };
	ProtobufCMessage *reply = NULL;
	berth_status s;
	char fp[80];

	e2e_demo_template(&t, "oncespec", RANGE_FIRST, RANGE_LAST);
	st.template_ = &t;
	st.instances = 3;
	spec.templates = sts;
	spec.n_templates = 1;
	plan.spec = &spec;
	assert_int_equal(berth_call(f->d.client, "PlanSpec", &plan.base, &reply, &s), 0);
	snprintf(fp, sizeof(fp), "%s", ((Berth__V1__PlanSpecResponse *)reply)->fingerprint);
	berth_reply_free(reply);
	apply.spec = &spec;
	apply.fingerprint = fp;
	p.url = f->d.proc.url;
	p.method = "ApplySpec";
	p.request_id = "once-apply";
	p.request = &apply.base;
	docker_proxy_set_hook(&f->proxy, kill_hook, &k);
	assert_int_equal(pthread_create(&p.thread, NULL, pending_main, &p), 0);
	restart_after_kill(f, &k);
	if (settle(f, &p) != 0)
		fail_msg("the resend: %s: %s", berth_code_name(p.st.code), p.st.message);
	berth_reply_free(p.reply);
	assert_int_equal(count_services(f), 3);
	assert_int_equal(count_containers(f), 3);
	/* Nothing left to do. */
	assert_int_equal(berth_call(f->d.client, "PlanSpec", &plan.base, &reply, &s), 0);
	assert_int_equal(((Berth__V1__PlanSpecResponse *)reply)->n_changes, 0);
	berth_reply_free(reply);
	e2e_remove_all_services(f->d.client);
	{
		Berth__V1__DeleteTemplateRequest del = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;

		del.name = "oncespec";
		assert_int_equal(berth_call(f->d.client, "DeleteTemplate", &del.base, &reply, &s), 0);
		berth_reply_free(reply);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_launch_killed_before_the_create_is_done_once, clean),
		cmocka_unit_test_setup(test_launch_killed_after_the_start_is_done_once, clean),
		cmocka_unit_test_setup(test_launch_answered_then_killed_replays_the_answer, clean),
		cmocka_unit_test_setup(test_remove_killed_half_way_answers_ok_and_purges, clean),
		cmocka_unit_test_setup(test_remove_answered_then_killed_replays_ok, clean),
		cmocka_unit_test_setup(test_apply_spec_killed_half_way_is_finished_by_the_resend,
		    clean),
	};

	return cmocka_run_group_tests_name("exactly_once", tests, setup, teardown);
}
