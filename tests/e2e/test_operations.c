/*
 * test_operations.c - berth's operations end to end: statistics, logs,
 * cleanup, the shutdown policies, recovery after kill -9 and an outage of
 * Docker, against a real berthd, the real Docker engine, the demo image
 * (built by berthd from $BUILD/demo) and real HTTP.
 *
 * The first tests share one berthd (the group fixture, `shared`); every
 * test that stops, kills or restarts berthd starts its own (`aux`). Each
 * berthd gets its own slice of ports, below the kernel's ephemeral range.
 * Docker "goes down" through a unix-socket proxy (tests/support/docker_proxy.c)
 * that berthd is pointed at with --docker-host. The teardowns kill berthd
 * and remove every container labelled with its data directory, even when a
 * test failed half-way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth.h"
#include "e2e.h"
#include "clock.h"
#include "engine/docker.h"
#include "docker_proxy.h"
#include "http.h"

#define DEMO_IMAGE E2E_DEMO_IMAGE
#define PORTS_PER_DAEMON 20
#define CALL_TIMEOUT_MS 120000
#define MAX_LAUNCHES 16

/* One berthd under test (the e2e fixture's) and the ports it may use. */
struct daemon {
	struct e2e_daemon e;
	uint16_t base; /* first port of its slice */
};

/* What a launch answered, copied out of the reply. */
struct launched {
	int code;
	char message[512];
	char id[128];
	char container_id[DOCKER_ID_LEN + 1];
	char project_dir[PATH_MAX];
	uint32_t port;
};

static struct daemon shared; /* the group's berthd: statistics, logs, cleanup */
static struct daemon aux;    /* a test's own berthd, torn down after it */
static struct docker *docker;
static uint16_t port_base;
/*
 * Template names carry the pid: a container's name is its service id, and
 * Docker's names are global, so another suite's (or run's) "demo_instance_1"
 * on the same engine must not collide with ours.
 */
static char demo_tpl[32], web_tpl[32], stubborn_tpl[32];

/* --- small helpers ---------------------------------------------------------- */

static bool
dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 12000-19479: away from 9000-9100 and 21000+ (other suites) and 32768+. */
static uint16_t
slice(int slot)
{
	return (uint16_t)(port_base + slot * PORTS_PER_DAEMON);
}

/* berthd's whole log (malloc'ed, NUL-terminated; "" when unreadable). */
static char *
read_log(const struct daemon *d)
{
	FILE *f = fopen(d->e.proc.log_path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0, n;

	if (f != NULL) {
		do {
			if (len + 4096 + 1 > cap) {
				cap = (len + 4096 + 1) * 2;
				text = realloc(text, cap);
				assert_non_null(text);
			}
			n = fread(text + len, 1, 4096, f);
			len += n;
		} while (n > 0);
		fclose(f);
	}
	if (text == NULL)
		return strdup("");
	text[len] = '\0';
	return text;
}

/* Waits for berthd to exit on its own; its exit status, or -1 (then killed). */
static int
wait_exit(struct daemon *d, int timeout_ms)
{
	int status;

	if (E2E_WAIT_UNTIL(waitpid(d->e.proc.pid, &status, WNOHANG) == d->e.proc.pid, timeout_ms)) {
		d->e.proc.pid = 0;
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	berthd_proc_kill(&d->e.proc);
	return -1;
}

/* --- daemons ---------------------------------------------------------------- */

static int
daemon_connect(struct daemon *d)
{
	return e2e_daemon_connect(&d->e, CALL_TIMEOUT_MS);
}

/* Starts a berthd on a fresh directory with the ports of `slot`. */
static int
daemon_start(struct daemon *d, int slot, const char *const *extra_args)
{
	memset(d, 0, sizeof(*d));
	d->base = slice(slot);
	return e2e_daemon_start(&d->e, extra_args);
}

/* berthd again on the same directory (after it stopped or was killed). */
static int
daemon_restart(struct daemon *d, const char *const *extra_args)
{
	return e2e_daemon_restart(&d->e, extra_args);
}

/* Every container labelled with d's data directory; *out malloc'ed. */
static void
labelled_containers(const struct daemon *d, struct docker_container **out, size_t *n)
{
	struct error err = { 0 };

	*out = NULL;
	*n = 0;
	if (docker_container_list(docker, d->e.label, out, n, 30000, &err) != 0)
		fail_msg("cannot list containers labelled %s: %s", d->e.label, err.message);
}

static size_t
count_labelled(const struct daemon *d)
{
	struct docker_container *list;
	size_t n;

	labelled_containers(d, &list, &n);
	free(list);
	return n;
}

static void
remove_labelled(const struct daemon *d)
{
	if (d->e.label[0] != '\0')
		e2e_remove_labelled(d->e.label);
}

/* Kills berthd (no shutdown work), removes its containers and its directory. */
static void
daemon_destroy(struct daemon *d)
{
	e2e_daemon_destroy(&d->e, false);
	memset(d, 0, sizeof(*d));
}

/* --- RPC helpers ------------------------------------------------------------ */

static int
rpc(struct daemon *d, const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply,
    berth_status *st)
{
	return berth_call(d->e.client, method, req, reply, st);
}

/* The demo image as template `name`; ports [first, first+count). 0 or -1. */
static int
put_template(struct daemon *d, const char *name, uint16_t first, uint16_t count,
    uint32_t stop_timeout_s, bool ignore_sigterm)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char *env[] = { "DEMO_DIR=/data", "DEMO_IGNORE_SIGTERM=1" };
	berth_status st;

	e2e_demo_template(&t, name, first, (uint16_t)(first + count - 1));
	t.env = env;
	t.n_env = ignore_sigterm ? 2 : 1;
	t.stop_timeout_s = stop_timeout_s;
	if (e2e_put_template(d->e.client, &t, &st) != 0) {
		fprintf(stderr, "PutTemplate %s: %s: %s\n", name, berth_code_name(st.code), st.message);
		return -1;
	}
	return 0;
}

static Berth__V1__LaunchServiceResponse *
launch(struct daemon *d, const char *template_name, const char *instance, berth_status *st)
{
	return e2e_launch(d->e.client, template_name, instance, 0, st);
}

static void
copy_service(struct launched *out, const Berth__V1__Service *s)
{
	snprintf(out->id, sizeof(out->id), "%s", s->service_id);
	snprintf(out->container_id, sizeof(out->container_id), "%s", s->container_id);
	snprintf(out->project_dir, sizeof(out->project_dir), "%s", s->project_dir);
	out->port = s->port;
}

/* Launches one instance of `template_name`; fails the test when it fails. */
static struct launched
launch_ok(struct daemon *d, const char *template_name)
{
	struct launched out = { 0 };
	berth_status st;
	Berth__V1__LaunchServiceResponse *r = launch(d, template_name, "", &st);

	if (r == NULL)
		fail_msg("launch of %s failed: %s: %s", template_name, berth_code_name(st.code),
		    st.message);
	assert_string_equal(r->service->status, "running");
	copy_service(&out, r->service);
	berth_reply_free(&r->base);
	return out;
}

struct launch_job {
	struct daemon *d;
	const char *template_name;
	struct launched *out;
};

static void *
launch_thread(void *arg)
{
	struct launch_job *job = arg;
	berth_status st;
	Berth__V1__LaunchServiceResponse *r = launch(job->d, job->template_name, "", &st);

	job->out->code = st.code;
	snprintf(job->out->message, sizeof(job->out->message), "%s", st.message);
	if (r != NULL) {
		copy_service(job->out, r->service);
		berth_reply_free(&r->base);
	}
	return NULL;
}

/* n launches at once (they are independent); every one must succeed. */
static void
launch_many(struct daemon *d, const char *template_name, int n, struct launched *out)
{
	struct launch_job jobs[MAX_LAUNCHES];
	pthread_t threads[MAX_LAUNCHES];

	assert_true(n <= MAX_LAUNCHES);
	memset(out, 0, sizeof(*out) * (size_t)n);
	for (int i = 0; i < n; i++) {
		jobs[i] = (struct launch_job){ d, template_name, &out[i] };
		assert_int_equal(pthread_create(&threads[i], NULL, launch_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < n; i++)
		if (out[i].code != BERTH__V1__CODE__OK)
			fail_msg("launch %d of %s failed: %s: %s", i, template_name,
			    berth_code_name(out[i].code), out[i].message);
}

/* A call that must succeed: its reply (free with berth_reply_free), or the test fails. */
static ProtobufCMessage *
call_ok(struct daemon *d, const char *method, const ProtobufCMessage *req)
{
	ProtobufCMessage *reply = NULL;
	berth_status st;

	if (rpc(d, method, req, &reply, &st) != 0)
		fail_msg("%s: %s: %s", method, berth_code_name(st.code), st.message);
	return reply;
}

/* ListServices, all of them; free with berth_reply_free(&r->base). */
static Berth__V1__ListServicesResponse *
list_services(struct daemon *d)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;

	return (Berth__V1__ListServicesResponse *)call_ok(d, "ListServices", &req.base);
}

static size_t
count_services(struct daemon *d)
{
	Berth__V1__ListServicesResponse *r = list_services(d);
	size_t n = r->n_services;

	berth_reply_free(&r->base);
	return n;
}

static Berth__V1__GetStatsResponse *
get_stats(struct daemon *d)
{
	Berth__V1__GetStatsRequest req = BERTH__V1__GET_STATS_REQUEST__INIT;

	return (Berth__V1__GetStatsResponse *)call_ok(d, "GetStats", &req.base);
}

static Berth__V1__GetCleanupStatusResponse *
get_cleanup_status(struct daemon *d)
{
	Berth__V1__GetCleanupStatusRequest req = BERTH__V1__GET_CLEANUP_STATUS_REQUEST__INIT;

	return (Berth__V1__GetCleanupStatusResponse *)call_ok(d, "GetCleanupStatus", &req.base);
}

static Berth__V1__ForceCleanupAllResponse *
force_cleanup_all(struct daemon *d)
{
	Berth__V1__ForceCleanupAllRequest req = BERTH__V1__FORCE_CLEANUP_ALL_REQUEST__INIT;

	return (Berth__V1__ForceCleanupAllResponse *)call_ok(d, "ForceCleanupAll", &req.base);
}

static Berth__V1__HealthResponse *
health(struct daemon *d)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;

	return (Berth__V1__HealthResponse *)call_ok(d, "Health", &req.base);
}

static void
remove_all_services(struct daemon *d)
{
	e2e_remove_all_services(d->e.client);
}

/* Docker's state of a container ("missing" when it does not exist). */
static void
container_state(const char *ref, char state[16])
{
	struct docker_container c;
	struct error err = { 0 };
	int code = docker_container_inspect(docker, ref, &c, 30000, &err);

	if (code == BERTH__V1__CODE__NOT_FOUND) {
		snprintf(state, 16, "missing");
		return;
	}
	if (code != 0)
		fail_msg("inspect %s: %s", ref, err.message);
	snprintf(state, 16, "%s", c.state);
}

static const Berth__V1__Service *
find_service(const Berth__V1__ListServicesResponse *r, const char *id)
{
	for (size_t i = 0; i < r->n_services; i++)
		if (strcmp(r->services[i]->service_id, id) == 0)
			return r->services[i];
	return NULL;
}

/* How many of d's services ListServices shows with `status`. */
static size_t
count_with_status(struct daemon *d, const char *status)
{
	Berth__V1__ListServicesResponse *list = list_services(d);
	size_t n = 0;

	for (size_t j = 0; j < list->n_services; j++)
		n += strcmp(list->services[j]->status, status) == 0;
	berth_reply_free(&list->base);
	return n;
}

/* True when ListServices shows service `id` with `status`. */
static bool
service_has_status(struct daemon *d, const char *id, const char *status)
{
	Berth__V1__ListServicesResponse *list = list_services(d);
	const Berth__V1__Service *s = find_service(list, id);
	bool has = s != NULL && strcmp(s->status, status) == 0;

	berth_reply_free(&list->base);
	return has;
}

/* Health says NOT_SERVING (a shutdown has begun). */
static bool
not_serving(struct daemon *d)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	bool no;

	if (rpc(d, "Health", &req.base, &reply, &st) != 0)
		return false;
	no = ((Berth__V1__HealthResponse *)reply)->status ==
	    BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__NOT_SERVING;
	berth_reply_free(reply);
	return no;
}

static bool
http_answers(uint32_t port)
{
	char *body = NULL;
	int status = http_get((uint16_t)port, "/health", 5000, &body);

	free(body);
	return status == 200;
}

/* Docker that can go away: tests/support/docker_proxy.c. */
static struct docker_proxy proxy = { .listen_fd = -1 };
static char full_fs[64]; /* a tmpfs mounted by test 16, unmounted by its teardown */

/* --- fixtures --------------------------------------------------------------- */

static int
setup_group(void **state)
{
	(void)state;
	if (e2e_demo_context() == NULL || (docker = e2e_docker()) == NULL)
		return -1;
	snprintf(demo_tpl, sizeof(demo_tpl), "ops%ddemo", (int)getpid());
	snprintf(web_tpl, sizeof(web_tpl), "ops%dweb", (int)getpid());
	snprintf(stubborn_tpl, sizeof(stubborn_tpl), "ops%dstubborn", (int)getpid());
	port_base = (uint16_t)(12000 + (getpid() % 25) * 300); /* 14 slices of 20 */
	/* Slots 0 and 1 for the shared berthd; later tests use their number as slot. */
	if (daemon_start(&shared, 0, NULL) != 0 ||
	    put_template(&shared, demo_tpl, slice(0), PORTS_PER_DAEMON, 2, false) != 0 ||
	    put_template(&shared, web_tpl, slice(1), PORTS_PER_DAEMON, 2, false) != 0) {
		daemon_destroy(&shared); /* no group teardown after a failed setup */
		return -1;
	}
	return 0;
}

static int
teardown_group(void **state)
{
	(void)state;
	remove_all_services(&shared);
	daemon_destroy(&shared);
	daemon_destroy(&aux);
	docker_proxy_stop(&proxy);
	return 0;
}

/* Tests on the shared berthd start and end with an empty registry. */
static int
teardown_shared(void **state)
{
	(void)state;
	remove_all_services(&shared);
	remove_labelled(&shared);
	return 0;
}

static int
teardown_aux(void **state)
{
	(void)state;
	daemon_destroy(&aux);
	docker_proxy_stop(&proxy);
	if (full_fs[0] != '\0') { /* test 16's tmpfs */
		umount2(full_fs, MNT_DETACH);
		rmdir(full_fs);
		full_fs[0] = '\0';
	}
	return 0;
}

/* --- tests: statistics, logs, cleanup on the shared berthd ---------------- */

/* 1. Three launches, one stopped: counts, sorted ports, per-template counts, urls. */
static void
test_stats_and_status_count_running_stopped_ports_and_templates(void **state)
{
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	Berth__V1__GetStatusRequest status_req = BERTH__V1__GET_STATUS_REQUEST__INIT;
	Berth__V1__GetStatusResponse *status = NULL;
	Berth__V1__GetStatsResponse *stats;
	ProtobufCMessage *reply = NULL;
	struct launched l[3];
	uint32_t expected[3];
	char ids[3][64];
	berth_status st;

	(void)state;
	l[0] = launch_ok(&shared, demo_tpl);
	l[1] = launch_ok(&shared, demo_tpl);
	l[2] = launch_ok(&shared, web_tpl);
	snprintf(ids[0], sizeof(ids[0]), "%s_instance_1", demo_tpl);
	snprintf(ids[1], sizeof(ids[1]), "%s_instance_2", demo_tpl);
	snprintf(ids[2], sizeof(ids[2]), "%s_instance_1", web_tpl);
	for (int i = 0; i < 3; i++)
		assert_string_equal(l[i].id, ids[i]);
	stop.service_id = l[1].id;
	assert_int_equal(rpc(&shared, "StopService", &stop.base, &reply, &st), 0);
	berth_reply_free(reply);

	/* The ports in ascending order: demo's slice lies below web's. */
	expected[0] = l[0].port < l[1].port ? l[0].port : l[1].port;
	expected[1] = l[0].port < l[1].port ? l[1].port : l[0].port;
	expected[2] = l[2].port;
	assert_true(expected[1] < expected[2]);

	stats = get_stats(&shared);
	assert_int_equal(stats->total_services, 3);
	assert_int_equal(stats->running_services, 2);
	assert_int_equal(stats->stopped_services, 1);
	assert_int_equal(stats->n_used_ports, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(stats->used_ports[i], expected[i]);
	assert_int_equal(stats->n_templates, 2);
	assert_string_equal(stats->templates[0]->template_, demo_tpl);
	assert_int_equal(stats->templates[0]->total, 2);
	assert_int_equal(stats->templates[0]->running, 1);
	assert_string_equal(stats->templates[1]->template_, web_tpl);
	assert_int_equal(stats->templates[1]->total, 1);
	assert_int_equal(stats->templates[1]->running, 1);
	berth_reply_free(&stats->base);

	assert_int_equal(rpc(&shared, "GetStatus", &status_req.base, (ProtobufCMessage **)&status, &st),
	    0);
	assert_non_null(status->statistics);
	assert_int_equal(status->statistics->total_services, 3);
	assert_int_equal(status->statistics->running_services, 2);
	assert_int_equal(status->statistics->stopped_services, 1);
	assert_int_equal(status->n_services, 3);
	/* Sorted by service_id: demo's instance_1, instance_2, then web's instance_1. */
	for (int i = 0; i < 3; i++)
		assert_string_equal(status->services[i]->service_id, ids[i]);
	assert_string_equal(status->services[0]->status, "running");
	assert_string_equal(status->services[1]->status, "stopped");
	assert_string_equal(status->services[2]->status, "running");
	for (size_t i = 0; i < status->n_services; i++) {
		char url[64];

		snprintf(url, sizeof(url), "http://127.0.0.1:%u", status->services[i]->port);
		assert_string_equal(status->services[i]->url, url);
	}
	berth_reply_free(&status->base);
}

/* 2. The demo's start-up line comes back; unknown ids and huge tails are refused. */
static void
test_service_logs_return_the_demo_output_and_refuse_bad_requests(void **state)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	Berth__V1__GetServiceLogsResponse *logs = NULL;
	struct launched l;
	char unknown[64];
	berth_status st;
	size_t lines = 0;

	(void)state;
	l = launch_ok(&shared, demo_tpl);
	assert_true(http_answers(l.port)); /* it listens, so it has said so */

	req.service_id = l.id;
	req.tail = 10;
	assert_int_equal(rpc(&shared, "GetServiceLogs", &req.base, (ProtobufCMessage **)&logs, &st), 0);
	assert_non_null(strstr(logs->logs, "berth-demo listening on port 8000"));
	for (const char *p = logs->logs; *p != '\0'; p++)
		lines += *p == '\n';
	assert_true(lines >= 1 && lines <= 10);
	berth_reply_free(&logs->base);

	/* After three requests the last line is a request's, not the start-up line. */
	for (int i = 0; i < 3; i++)
		assert_true(http_answers(l.port));
	req.tail = 1;
	logs = NULL;
	assert_int_equal(rpc(&shared, "GetServiceLogs", &req.base, (ProtobufCMessage **)&logs, &st), 0);
	assert_null(strstr(logs->logs, "listening"));
	berth_reply_free(&logs->base);

	snprintf(unknown, sizeof(unknown), "%s_nosuch", demo_tpl);
	req.service_id = unknown;
	req.tail = 10;
	logs = NULL;
	assert_int_equal(rpc(&shared, "GetServiceLogs", &req.base, (ProtobufCMessage **)&logs, &st),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_null(logs);

	req.service_id = l.id;
	req.tail = 100001;
	assert_int_equal(rpc(&shared, "GetServiceLogs", &req.base, (ProtobufCMessage **)&logs, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "tail");
}

static bool
contains(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* 3. A container killed behind berth's back and an orphan: seen, then removed. */
static void
test_cleanup_status_and_auto_cleanup_remove_the_dead_and_the_orphan(void **state)
{
	const char *abs_dir = strchr(shared.e.label, '=') + 1;
	struct docker_label labels[] = { { DOCKER_LABEL_MANAGED, "true" },
		{ DOCKER_LABEL_DATA_DIR, abs_dir } };
	struct docker_container_spec spec = { .image = DEMO_IMAGE, .labels = labels, .n_labels = 2 };
	Berth__V1__AutoCleanupRequest req = BERTH__V1__AUTO_CLEANUP_REQUEST__INIT;
	Berth__V1__AutoCleanupResponse *cleaned = NULL;
	Berth__V1__GetCleanupStatusResponse *cs;
	Berth__V1__ListServicesResponse *list;
	struct error err = { 0 };
	char orphan_id[DOCKER_ID_LEN + 1], orphan_name[64], state_now[16];
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	struct launched healthy, victim, resting;
	berth_status st;

	(void)state;
	healthy = launch_ok(&shared, demo_tpl);
	victim = launch_ok(&shared, demo_tpl);
	resting = launch_ok(&shared, demo_tpl);
	stop.service_id = resting.id;
	assert_int_equal(rpc(&shared, "StopService", &stop.base, &reply, &st), 0);
	berth_reply_free(reply);

	assert_int_equal(docker_container_kill(docker, victim.container_id, 30000, &err), 0);
	E2E_WAIT_UNTIL((container_state(victim.container_id, state_now),
			   strcmp(state_now, "running") != 0),
	    5000);
	assert_string_equal(state_now, "exited");

	/* Labelled as this berthd's, but no berth.service, template or row. */
	snprintf(orphan_name, sizeof(orphan_name), "berth-ops-orphan-%d", (int)getpid());
	spec.name = orphan_name;
	assert_int_equal(docker_container_create(docker, &spec, orphan_id, 30000, &err), 0);

	/* Stopped through berth is not dead; killed behind its back is. */
	cs = get_cleanup_status(&shared);
	assert_int_equal(cs->registered_services, 3);
	assert_int_equal(cs->running_containers, 1); /* the healthy one; the orphan never ran */
	assert_int_equal(cs->n_dead_services, 1);
	assert_string_equal(cs->dead_services[0], victim.id);
	assert_int_equal(cs->n_orphan_containers, 1);
	assert_string_equal(cs->orphan_containers[0], orphan_name);
	berth_reply_free(&cs->base);

	assert_int_equal(rpc(&shared, "AutoCleanup", &req.base, (ProtobufCMessage **)&cleaned, &st), 0);
	assert_int_equal(cleaned->containers_removed, 2);
	assert_int_equal(cleaned->registry_entries_removed, 1);
	assert_int_equal(cleaned->n_removed_services, 1);
	assert_string_equal(cleaned->removed_services[0], victim.id);
	assert_int_equal(cleaned->n_removed_containers, 2);
	assert_true(contains(cleaned->removed_containers, 2, victim.container_id));
	assert_true(contains(cleaned->removed_containers, 2, orphan_id));
	berth_reply_free(&cleaned->base);

	container_state(victim.container_id, state_now);
	assert_string_equal(state_now, "missing");
	container_state(orphan_id, state_now);
	assert_string_equal(state_now, "missing");

	/* The healthy service is untouched, the stopped one kept for a restart. */
	list = list_services(&shared);
	assert_int_equal(list->n_services, 2);
	assert_non_null(find_service(list, healthy.id));
	assert_string_equal(find_service(list, healthy.id)->status, "running");
	assert_non_null(find_service(list, resting.id));
	assert_string_equal(find_service(list, resting.id)->status, "stopped");
	berth_reply_free(&list->base);
	container_state(healthy.container_id, state_now);
	assert_string_equal(state_now, "running");
	assert_true(http_answers(healthy.port));
	container_state(resting.container_id, state_now);
	assert_string_equal(state_now, "exited");

	cs = get_cleanup_status(&shared);
	assert_int_equal(cs->registered_services, 2);
	assert_int_equal(cs->n_dead_services, 0);
	assert_int_equal(cs->n_orphan_containers, 0);
	berth_reply_free(&cs->base);
}

/* 4. Everything goes: containers, rows, ports (a new launch gets the first port again). */
static void
test_force_cleanup_all_removes_containers_rows_and_ports(void **state)
{
	Berth__V1__ForceCleanupAllResponse *r;
	Berth__V1__GetStatsResponse *stats;
	struct launched l[3], again;
	uint32_t lowest;

	(void)state;
	launch_many(&shared, demo_tpl, 3, l);
	lowest = l[0].port;
	for (int i = 1; i < 3; i++)
		if (l[i].port < lowest)
			lowest = l[i].port;
	assert_int_equal(count_labelled(&shared), 3);

	r = force_cleanup_all(&shared);
	assert_int_equal(r->containers_removed, 3);
	assert_int_equal(r->registry_entries_removed, 3);
	assert_int_equal(r->n_errors, 0);
	berth_reply_free(&r->base);

	assert_int_equal(count_labelled(&shared), 0);
	assert_int_equal(count_services(&shared), 0);
	stats = get_stats(&shared);
	assert_int_equal(stats->total_services, 0);
	assert_int_equal(stats->n_used_ports, 0);
	berth_reply_free(&stats->base);

	/* The allocator let the ports go too, not only the registry. */
	again = launch_ok(&shared, demo_tpl);
	assert_int_equal(again.port, lowest);
}

/* --- tests: shutdown, crashes and Docker outages, each on its own berthd -- */

/* 5. Ten services that ignore SIGTERM stop in parallel: about one timeout, not ten. */
static void
test_sigterm_removes_ten_services_in_parallel_and_keeps_their_directories(void **state)
{
	struct launched l[10];
	char *log, *line;
	long long cleanup_ms = -1;

	(void)state;
	assert_int_equal(daemon_start(&aux, 5, NULL), 0);
	assert_int_equal(put_template(&aux, stubborn_tpl, aux.base, PORTS_PER_DAEMON, 2, true), 0);
	launch_many(&aux, stubborn_tpl, 10, l);
	assert_int_equal(count_labelled(&aux), 10);

	assert_int_equal(berthd_proc_stop(&aux.e.proc, 60), 0);
	log = read_log(&aux);
	line = strstr(log, "shutdown policy=remove cleanup_ms=");
	assert_non_null(line);
	assert_int_equal(sscanf(line, "shutdown policy=remove cleanup_ms=%lld", &cleanup_ms), 1);
	free(log);
	printf("# shutdown of 10 services (stop timeout 2 s each) took %lld ms\n", cleanup_ms);
	/* Sequential stops would take at least 10 x 2 s. */
	assert_true(cleanup_ms >= 0 && cleanup_ms < 12000);

	assert_int_equal(count_labelled(&aux), 0);
	for (int i = 0; i < 10; i++)
		assert_true(dir_exists(l[i].project_dir));
}

/* 6. --on-exit keep: services outlive berthd and are found again at its next start. */
static void
test_on_exit_keep_leaves_services_running_across_a_restart(void **state)
{
	const char *const keep[] = { "--on-exit", "keep", NULL };
	Berth__V1__ListServicesResponse *list;
	Berth__V1__ForceCleanupAllResponse *r;
	struct launched l[2];
	char state_now[16];

	(void)state;
	assert_int_equal(daemon_start(&aux, 6, keep), 0);
	assert_int_equal(put_template(&aux, demo_tpl, aux.base, PORTS_PER_DAEMON, 2, false), 0);
	l[0] = launch_ok(&aux, demo_tpl);
	l[1] = launch_ok(&aux, demo_tpl);

	assert_int_equal(berthd_proc_stop(&aux.e.proc, 30), 0);
	for (int i = 0; i < 2; i++) {
		container_state(l[i].container_id, state_now);
		assert_string_equal(state_now, "running");
		assert_true(http_answers(l[i].port));
	}

	assert_int_equal(daemon_restart(&aux, keep), 0);
	list = list_services(&aux);
	assert_int_equal(list->n_services, 2);
	for (int i = 0; i < 2; i++) {
		const Berth__V1__Service *s = find_service(list, l[i].id);

		assert_non_null(s);
		assert_string_equal(s->status, "running");
		assert_int_equal(s->port, l[i].port);
		assert_string_equal(s->container_id, l[i].container_id);
		assert_true(http_answers(s->port));
	}
	berth_reply_free(&list->base);

	r = force_cleanup_all(&aux);
	assert_int_equal(r->containers_removed, 2);
	berth_reply_free(&r->base);
	assert_int_equal(count_labelled(&aux), 0);
}

/* 7. --on-exit stop: containers stopped, rows kept; a restart brings one back. */
static void
test_on_exit_stop_keeps_stopped_services_that_restart_later(void **state)
{
	const char *const stop[] = { "--on-exit", "stop", NULL };
	Berth__V1__RestartServiceRequest restart = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	Berth__V1__RestartServiceResponse *back = NULL;
	Berth__V1__ListServicesResponse *list;
	struct launched l[2];
	char state_now[16];
	berth_status st;

	(void)state;
	assert_int_equal(daemon_start(&aux, 7, stop), 0);
	assert_int_equal(put_template(&aux, demo_tpl, aux.base, PORTS_PER_DAEMON, 2, false), 0);
	l[0] = launch_ok(&aux, demo_tpl);
	l[1] = launch_ok(&aux, demo_tpl);

	assert_int_equal(berthd_proc_stop(&aux.e.proc, 30), 0);
	for (int i = 0; i < 2; i++) {
		container_state(l[i].container_id, state_now);
		assert_string_equal(state_now, "exited");
	}

	assert_int_equal(daemon_restart(&aux, stop), 0);
	list = list_services(&aux);
	assert_int_equal(list->n_services, 2);
	for (int i = 0; i < 2; i++) {
		const Berth__V1__Service *s = find_service(list, l[i].id);

		assert_non_null(s);
		assert_string_equal(s->status, "stopped");
		assert_int_equal(s->port, l[i].port);
	}
	berth_reply_free(&list->base);

	restart.service_id = l[0].id;
	assert_int_equal(rpc(&aux, "RestartService", &restart.base, (ProtobufCMessage **)&back, &st), 0);
	assert_string_equal(back->service->status, "running");
	assert_int_equal(back->service->port, l[0].port);
	berth_reply_free(&back->base);
	assert_true(http_answers(l[0].port));
	container_state(l[1].container_id, state_now);
	assert_string_equal(state_now, "exited");
}

/*
 * The registry and Docker agree: no row half-launched, every row's container
 * exists (or the row says "missing"), every labelled container has a row, no
 * port is held twice. Returns the number of rows.
 */
static size_t
assert_registry_matches_docker(struct daemon *d)
{
	Berth__V1__ListServicesResponse *list = list_services(d);
	struct docker_container *containers;
	size_t n_containers, rows = list->n_services;

	for (size_t i = 0; i < list->n_services; i++) {
		const Berth__V1__Service *s = list->services[i];
		char state_now[16];

		assert_string_not_equal(s->status, "creating");
		container_state(s->container_id[0] != '\0' ? s->container_id : s->container_name,
		    state_now);
		if (strcmp(state_now, "missing") == 0)
			assert_string_equal(s->status, "missing");
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(s->port, list->services[j]->port);
	}
	labelled_containers(d, &containers, &n_containers);
	for (size_t k = 0; k < n_containers; k++) {
		bool has_row = false;

		for (size_t i = 0; i < list->n_services && !has_row; i++)
			has_row = strcmp(list->services[i]->container_id, containers[k].id) == 0 ||
			    strcmp(list->services[i]->container_name, containers[k].name) == 0;
		if (!has_row)
			fail_msg("container %s (%s) has no row", containers[k].name, containers[k].state);
	}
	free(containers);
	berth_reply_free(&list->base);
	return rows;
}

struct inflight {
	berth_client *client;
	struct launched result;
};

static void *
inflight_launch(void *arg)
{
	struct inflight *f = arg;
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	req.template_ = demo_tpl;
	req.instance = "";
	berth_call(f->client, "LaunchService", &req.base, &reply, &st);
	f->result.code = st.code;
	if (reply != NULL) {
		copy_service(&f->result, ((Berth__V1__LaunchServiceResponse *)reply)->service);
		berth_reply_free(reply);
	}
	return NULL;
}

/* 8. kill -9 at several moments of a launch: the next start leaves no half-done work. */
static void
test_kill_during_a_launch_leaves_registry_and_docker_in_agreement(void **state)
{
	const int delays_ms[] = { 30, 120, 200, 300 };

	(void)state;
	assert_int_equal(daemon_start(&aux, 8, NULL), 0);
	assert_int_equal(put_template(&aux, demo_tpl, aux.base, PORTS_PER_DAEMON, 2, false), 0);
	launch_ok(&aux, demo_tpl); /* one settled service */

	for (size_t round = 0; round < sizeof(delays_ms) / sizeof(delays_ms[0]); round++) {
		struct inflight f = { 0 };
		pthread_t thread;
		berth_status st;
		size_t rows;

		/* Its own client with a short timeout: the call ends soon after the kill. */
		assert_int_equal(berth_open(&f.client, aux.e.proc.url, &(berth_options){ NULL, 1500 }, &st),
		    0);
		assert_int_equal(pthread_create(&thread, NULL, inflight_launch, &f), 0);
		clock_sleep_ms(delays_ms[round]); /* deliberate: the kill lands this far into the launch */
		berthd_proc_kill(&aux.e.proc);
		pthread_join(thread, NULL);
		berth_close(f.client);

		assert_int_equal(daemon_restart(&aux, NULL), 0);
		rows = assert_registry_matches_docker(&aux);
		printf("# kill after %d ms: launch answered %s; %zu rows after restart\n",
		    delays_ms[round], berth_code_name(f.result.code), rows);
		assert_true(rows >= 1);
		if (f.result.code == BERTH__V1__CODE__OK) { /* answered before the kill: it stays */
			Berth__V1__ListServicesResponse *list = list_services(&aux);
			assert_non_null(find_service(list, f.result.id));
			berth_reply_free(&list->base);
		}
	}
	/* And berthd still launches, on a port no row holds. */
	launch_ok(&aux, demo_tpl);
	assert_registry_matches_docker(&aux);
}

/* 9. A shutdown cut short by kill -9 is finished when berthd next starts. */
static void
test_interrupted_shutdown_is_finished_at_the_next_start(void **state)
{
	struct launched l[3];
	char *log;

	(void)state;
	assert_int_equal(daemon_start(&aux, 9, NULL), 0);
	assert_int_equal(put_template(&aux, stubborn_tpl, aux.base, PORTS_PER_DAEMON, 3, true), 0);
	launch_many(&aux, stubborn_tpl, 3, l);

	assert_int_equal(kill(aux.e.proc.pid, SIGTERM), 0);
	/* Begun, not done: the stops wait 3 s for services that ignore SIGTERM. */
	assert_true(e2e_wait_log(&aux.e.proc, "shutdown begun", 2500));
	/*
	 * The shutdown is recorded in the database after that line, once the
	 * calls in flight are drained, and nothing tells when: give it time.
	 */
	clock_sleep_ms(500);
	assert_false(berthd_proc_log_contains(&aux.e.proc, "shutdown policy=remove"));
	berthd_proc_kill(&aux.e.proc);

	assert_int_equal(daemon_restart(&aux, NULL), 0);
	log = read_log(&aux);
	assert_non_null(strstr(log, "finishing")); /* the resume message */
	free(log);
	assert_int_equal(count_services(&aux), 0);
	assert_int_equal(count_labelled(&aux), 0);
	for (int i = 0; i < 3; i++)
		assert_true(dir_exists(l[i].project_dir));
}

/* 10. Docker away: reads still answer, launches fail fast; back: launches work again. */
static void
test_docker_outage_keeps_reads_and_fails_launches_until_it_returns(void **state)
{
	char host[160];
	const char *args[] = { "--docker-host", host, NULL };
	Berth__V1__GetServiceRequest got = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	Berth__V1__GetServiceResponse *service = NULL;
	Berth__V1__GetCleanupStatusRequest cleanup = BERTH__V1__GET_CLEANUP_STATUS_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	Berth__V1__HealthResponse *h;
	Berth__V1__GetStatsResponse *stats;
	struct launched before, after;
	berth_status st;
	int64_t started, took;

	(void)state;
	assert_int_equal(docker_proxy_start(&proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	assert_int_equal(daemon_start(&aux, 10, args), 0);
	assert_int_equal(put_template(&aux, demo_tpl, aux.base, PORTS_PER_DAEMON, 2, false), 0);
	before = launch_ok(&aux, demo_tpl);
	assert_true(atomic_load(&proxy.accepted) > 0); /* berthd does talk through the proxy */

	assert_true(docker_proxy_down(&proxy));
	assert_int_equal(count_services(&aux), 1);
	stats = get_stats(&aux);
	assert_int_equal(stats->total_services, 1);
	assert_int_equal(stats->n_used_ports, 1);
	berth_reply_free(&stats->base);

	/* The record without its live state, rather than an error. */
	got.service_id = before.id;
	assert_int_equal(rpc(&aux, "GetService", &got.base, (ProtobufCMessage **)&service, &st), 0);
	assert_int_equal(service->service->port, before.port);
	assert_string_equal(service->service->container->state, "unknown");
	berth_reply_free(&service->base);
	/* Cleanup has to ask Docker. */
	assert_int_equal(rpc(&aux, "GetCleanupStatus", &cleanup.base, &reply, &st),
	    BERTH__V1__CODE__UNAVAILABLE);

	started = clock_monotonic_ms();
	assert_null(launch(&aux, demo_tpl, "", &st));
	took = clock_monotonic_ms() - started;
	printf("# LaunchService with Docker down answered %s in %lld ms: %s\n",
	    berth_code_name(st.code), (long long)took, st.message);
	assert_int_equal(st.code, BERTH__V1__CODE__UNAVAILABLE);
	assert_true(took < 10000);

	h = health(&aux);
	assert_false(h->docker_available);
	assert_int_equal(h->status, BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING);
	berth_reply_free(&h->base);

	assert_true(docker_proxy_up(&proxy));
	h = health(&aux);
	assert_true(h->docker_available);
	berth_reply_free(&h->base);
	after = launch_ok(&aux, demo_tpl);
	assert_int_not_equal(after.port, before.port);
	assert_true(http_answers(after.port));
	assert_true(http_answers(before.port));
	assert_int_equal(count_services(&aux), 2);
	assert_int_equal(kill(aux.e.proc.pid, 0), 0); /* the same berthd all along */
}

/* 11. A second SIGINT kills what is still stopping instead of waiting 30 s. */
static void
test_second_sigint_kills_the_remaining_containers_at_once(void **state)
{
	Berth__V1__HealthResponse *h;
	struct launched l[3];
	int64_t started, took;
	berth_status st;
	int status;

	(void)state;
	assert_int_equal(daemon_start(&aux, 11, NULL), 0);
	assert_int_equal(put_template(&aux, stubborn_tpl, aux.base, PORTS_PER_DAEMON, 30, true), 0);
	launch_many(&aux, stubborn_tpl, 3, l);

	started = clock_monotonic_ms();
	assert_int_equal(kill(aux.e.proc.pid, SIGINT), 0);
	/* Meanwhile: not serving, changes refused, reads answered. */
	assert_true(E2E_WAIT_UNTIL(not_serving(&aux), 3000));
	h = health(&aux);
	assert_int_equal(h->status, BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__NOT_SERVING);
	berth_reply_free(&h->base);
	assert_null(launch(&aux, stubborn_tpl, "", &st));
	assert_int_equal(st.code, BERTH__V1__CODE__UNAVAILABLE);
	assert_int_equal(count_services(&aux), 3);
	/* Deliberate: the second ^C a second after the first, as a person's would come. */
	clock_sleep_ms((int)(started + 1000 - clock_monotonic_ms()));
	assert_int_equal(kill(aux.e.proc.pid, SIGINT), 0);
	status = wait_exit(&aux, 40000);
	took = clock_monotonic_ms() - started;
	printf("# berthd exited %d after %lld ms (stop timeout 30 s)\n", status, (long long)took);
	assert_int_equal(status, 0);
	assert_true(took < 20000);
	assert_int_equal(count_labelled(&aux), 0);
}

/*
 * 12. A start that cannot finish an interrupted shutdown (Docker down) tries
 * once: a later start must not remove the services launched in between.
 */
static void
test_failed_resume_of_a_shutdown_spares_services_launched_later(void **state)
{
	char host[160];
	const char *remove_args[] = { "--docker-host", host, NULL };
	const char *keep_args[] = { "--docker-host", host, "--on-exit", "keep", NULL };
	Berth__V1__ListServicesResponse *list;
	struct launched old[2], later;
	char state_now[16];

	(void)state;
	assert_int_equal(docker_proxy_start(&proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	assert_int_equal(daemon_start(&aux, 12, remove_args), 0);
	assert_int_equal(put_template(&aux, stubborn_tpl, aux.base, 10, 3, true), 0);
	assert_int_equal(put_template(&aux, demo_tpl, (uint16_t)(aux.base + 10), 10, 2, false), 0);
	launch_many(&aux, stubborn_tpl, 2, old);

	/* A remove-shutdown cut short, then a start while Docker is away. */
	assert_int_equal(kill(aux.e.proc.pid, SIGTERM), 0);
	assert_true(e2e_wait_log(&aux.e.proc, "shutdown begun", 2500));
	clock_sleep_ms(500); /* recorded after that line, and nothing tells when (see test 9) */
	berthd_proc_kill(&aux.e.proc);
	assert_true(docker_proxy_down(&proxy));
	assert_int_equal(daemon_restart(&aux, keep_args), 0);
	assert_true(berthd_proc_log_contains(&aux.e.proc, "finishing"));
	assert_true(docker_proxy_up(&proxy));

	/* Docker is back: a new service, then an ordinary stop and start (keep). */
	later = launch_ok(&aux, demo_tpl);
	assert_int_equal(berthd_proc_stop(&aux.e.proc, 30), 0);
	assert_int_equal(daemon_restart(&aux, keep_args), 0);

	list = list_services(&aux);
	assert_non_null(find_service(list, later.id));
	assert_string_equal(find_service(list, later.id)->status, "running");
	berth_reply_free(&list->base);
	container_state(later.container_id, state_now);
	assert_string_equal(state_now, "running");
	assert_true(http_answers(later.port));
}

/*
 * 13. A launch cut short by kill -9 leaves a "creating" row; when berthd then
 * starts while Docker is away, the follower's reconciliation finishes or
 * undoes it once Docker returns (the row predates this berthd and no call
 * holds it), so its port is not held forever.
 */
static void
test_crash_leftovers_are_resolved_when_docker_returns_after_a_start_without_it(void **state)
{
	char host[160];
	const char *args[] = { "--docker-host", host, NULL };
	const int delays_ms[] = { 40, 80, 150 };
	bool left_creating = false;

	(void)state;
	assert_int_equal(docker_proxy_start(&proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	assert_int_equal(daemon_start(&aux, 13, args), 0);
	assert_int_equal(put_template(&aux, demo_tpl, aux.base, PORTS_PER_DAEMON, 2, false), 0);
	for (size_t round = 0; round < 3 && !left_creating; round++) {
		Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
		Berth__V1__ListServicesResponse *list = NULL;
		struct inflight f = { 0 };
		pthread_t thread;
		berth_status st;

		assert_int_equal(berth_open(&f.client, aux.e.proc.url, &(berth_options){ NULL, 1500 }, &st),
		    0);
		assert_int_equal(pthread_create(&thread, NULL, inflight_launch, &f), 0);
		clock_sleep_ms(delays_ms[round]); /* deliberate: the kill lands this far into the launch */
		berthd_proc_kill(&aux.e.proc);
		pthread_join(thread, NULL);
		berth_close(f.client);

		assert_true(docker_proxy_down(&proxy));
		assert_int_equal(daemon_restart(&aux, args), 0);
		req.status = "creating";
		assert_int_equal(rpc(&aux, "ListServices", &req.base, (ProtobufCMessage **)&list, &st), 0);
		left_creating = list->n_services > 0;
		berth_reply_free(&list->base);
		assert_true(docker_proxy_up(&proxy));
	}
	if (!left_creating) {
		print_message("skipped: no kill landed between the row and the end of the launch\n");
		skip();
	}
	/* The follower reconnects (backoff at most 2 s) and reconciles. */
	assert_true(E2E_WAIT_UNTIL(count_with_status(&aux, "creating") == 0, 10000));
	assert_registry_matches_docker(&aux);
}

/* Makes Docker go away at the first POST of berthd's whose request line holds `needle`. */
struct cutter {
	pthread_mutex_t lock;
	const char *needle;
	enum docker_proxy_verdict verdict;
	int armed;
	int fired;
};

static struct cutter cutter = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* On the proxy's thread, with the bytes berthd sends to Docker. */
static enum docker_proxy_verdict
cutter_hook(void *arg, const char *data, size_t len)
{
	struct cutter *c = arg;
	enum docker_proxy_verdict v = DOCKER_PROXY_FORWARD;
	const char *eol = memchr(data, '\n', len);
	size_t line = eol != NULL ? (size_t)(eol - data) : len;

	pthread_mutex_lock(&c->lock);
	if (c->armed > 0 && line > 5 && memcmp(data, "POST ", 5) == 0 &&
	    memmem(data, line, c->needle, strlen(c->needle)) != NULL) {
		c->armed--;
		c->fired++;
		v = c->verdict;
	}
	pthread_mutex_unlock(&c->lock);
	return v;
}

/* Waits until no row is "dead" any more (the follower reconciled after Docker came back). */
static void
wait_no_dead_rows(struct daemon *d)
{
	if (!E2E_WAIT_UNTIL(count_with_status(d, "dead") == 0, 10000))
		fail_msg("a row is still \"dead\" 10 s after Docker came back");
}

/*
 * 14. Docker gone in the middle of a launch, at three moments: before the
 * create reaches it, after the create (the answer lost), after the start
 * (the answer lost, the container runs). The launch answers UNAVAILABLE;
 * a container that may exist keeps a row meanwhile, so it is no orphan and
 * the launch right after Docker's return does not trip over its name
 * (ALREADY_EXISTS); once the follower has reconciled, rows and containers
 * agree. Slot 2 (free: the first tests share slots 0 and 1).
 */
static void
test_docker_lost_in_the_middle_of_a_launch_leaves_a_row_not_an_orphan(void **state)
{
	static const struct {
		const char *needle;
		enum docker_proxy_verdict verdict;
		const char *what;
		bool container_may_exist;
	} cuts[] = {
		{ "/containers/create", DOCKER_PROXY_DOWN_BEFORE, "before the create", false },
		{ "/containers/create", DOCKER_PROXY_DOWN_AFTER, "after the create", true },
		{ "/start ", DOCKER_PROXY_DOWN_AFTER, "after the start", true },
	};
	char host[160];
	const char *args[] = { "--docker-host", host, NULL };

	(void)state;
	assert_int_equal(docker_proxy_start(&proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	assert_int_equal(daemon_start(&aux, 2, args), 0);
	assert_int_equal(put_template(&aux, demo_tpl, aux.base, PORTS_PER_DAEMON, 2, false), 0);
	docker_proxy_set_hook(&proxy, cutter_hook, &cutter);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t rows_before = count_services(&aux), rows_away;
		berth_status st;

		pthread_mutex_lock(&cutter.lock);
		cutter.needle = cuts[i].needle;
		cutter.verdict = cuts[i].verdict;
		cutter.armed = 1;
		cutter.fired = 0;
		pthread_mutex_unlock(&cutter.lock);
		assert_null(launch(&aux, demo_tpl, "", &st));
		printf("# Docker lost %s: launch answered %s\n", cuts[i].what, berth_code_name(st.code));
		assert_int_equal(cutter.fired, 1);
		assert_int_equal(st.code, BERTH__V1__CODE__UNAVAILABLE);
		rows_away = count_services(&aux);
		if (cuts[i].container_may_exist && rows_away <= rows_before)
			fail_msg("Docker lost %s: no row for the container that may exist", cuts[i].what);
		assert_true(docker_proxy_up(&proxy));
		launch_ok(&aux, demo_tpl); /* no ALREADY_EXISTS from a leftover container */
		wait_no_dead_rows(&aux);
		assert_registry_matches_docker(&aux);
	}
	docker_proxy_set_hook(&proxy, NULL, NULL);
}

/* One client of test 15: the same call, again and again, at the next few ids. */
struct racer {
	berth_client *c;
	const char *method;
	atomic_bool *stop;
	unsigned seed;
	atomic_int *unexpected;
	char first[320]; /* the first unexpected answer */
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(r->stop)) {
		Berth__V1__LaunchServiceRequest launch_req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
		Berth__V1__StopServiceRequest stop_req = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
		Berth__V1__RestartServiceRequest restart_req = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
		Berth__V1__RemoveServiceRequest remove_req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
		const ProtobufCMessage *req = &launch_req.base;
		ProtobufCMessage *reply = NULL;
		char id[64];
		berth_status st;
		int code;

		snprintf(id, sizeof(id), "%s_instance_%d", demo_tpl, 1 + rand_r(&r->seed) % 3);
		launch_req.template_ = demo_tpl;
		launch_req.instance = "";
		stop_req.service_id = restart_req.service_id = remove_req.service_id = id;
		stop_req.timeout_s = 1;
		remove_req.purge = true;
		if (strcmp(r->method, "StopService") == 0)
			req = &stop_req.base;
		else if (strcmp(r->method, "RestartService") == 0)
			req = &restart_req.base;
		else if (strcmp(r->method, "RemoveService") == 0)
			req = &remove_req.base;
		code = berth_call(r->c, r->method, req, &reply, &st);
		berth_reply_free(reply);
		if (code == BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			clock_sleep_ms(50); /* the range is full: as a client would, wait a little */
		else if (code != 0 && code != BERTH__V1__CODE__NOT_FOUND &&
		    code != BERTH__V1__CODE__ABORTED && atomic_fetch_add(r->unexpected, 1) == 0)
			snprintf(r->first, sizeof(r->first), "%s %s: %s: %.200s", r->method, id,
			    berth_code_name(code), st.message);
	}
	return NULL;
}

/*
 * 15. Stops, restarts and removes aimed at services while they are being
 * launched (clients that guess the next id): each waits for the launch, so
 * nothing answers ALREADY_EXISTS, no container is made twice under one
 * name or left without a row. A restart used to find the "creating" row
 * without a container yet and create one itself; the launch's own create
 * then failed, and its undo deleted the row, leaving the restart's
 * container an orphan whose name blocked every later launch of that
 * instance. Slot 3 (free: the first tests share slots 0 and 1).
 */
static void
test_calls_aimed_at_a_launching_service_wait_for_the_launch(void **state)
{
	static const char *const methods[] = { "LaunchService", "LaunchService", "StopService",
		"RestartService", "RemoveService", "RemoveService" };
	static struct racer racers[6];
	pthread_t threads[6];
	atomic_bool stop = false;
	atomic_int unexpected = 0;

	(void)state;
	assert_int_equal(daemon_start(&aux, 3, NULL), 0);
	assert_int_equal(put_template(&aux, demo_tpl, aux.base, 3, 2, false), 0);
	for (int i = 0; i < 6; i++) {
		berth_status st;

		racers[i] = (struct racer){ NULL, methods[i], &stop, (unsigned)getpid() * 31u + (unsigned)i,
			&unexpected, "" };
		assert_int_equal(berth_open(&racers[i].c, aux.e.proc.url,
				     &(berth_options){ NULL, CALL_TIMEOUT_MS }, &st),
		    0);
		assert_int_equal(pthread_create(&threads[i], NULL, racer_main, &racers[i]), 0);
	}
	clock_sleep_ms(6000); /* deliberate: the race runs this long */
	atomic_store(&stop, true);
	for (int i = 0; i < 6; i++) {
		pthread_join(threads[i], NULL);
		berth_close(racers[i].c);
		if (racers[i].first[0] != '\0')
			fail_msg("%d unexpected answer(s), e.g. %s", atomic_load(&unexpected),
			    racers[i].first);
	}
	assert_registry_matches_docker(&aux);
}

/* Fills the file system of `path` with that file; the bytes written. */
static long
fill_disk(const char *path)
{
	static char chunk[65536];
	long total = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	memset(chunk, 'x', sizeof(chunk));
	for (size_t size = sizeof(chunk); size >= 512; size /= 2) {
		ssize_t n;

		while ((n = write(fd, chunk, size)) > 0)
			total += n;
	}
	close(fd);
	return total;
}

/*
 * 16. A container stops behind berth's back while the disk under the data
 * directory is full: the event follower cannot write the row then, and
 * writes it once there is room again. It used to log the failure and give
 * up, so the row said "running" until berthd's next restart. Slot 4; the
 * data directory is a 2 MiB tmpfs (skipped where one cannot be mounted).
 */
static void
test_row_catches_up_with_a_container_that_stopped_while_the_disk_was_full(void **state)
{
	char data[128], filler[128];
	const char *args[] = { "--data-dir", data, NULL };
	struct error err = { 0 };
	struct launched l;
	bool exited = false;

	(void)state;
	snprintf(full_fs, sizeof(full_fs), "/tmp/berth-ops-full-XXXXXX");
	assert_non_null(mkdtemp(full_fs));
	if (mount("tmpfs", full_fs, "tmpfs", 0, "size=2m") != 0) {
		printf("# cannot mount a tmpfs on %s (%s): skipped\n", full_fs, strerror(errno));
		rmdir(full_fs);
		full_fs[0] = '\0';
		skip();
	}
	snprintf(data, sizeof(data), "%s/data", full_fs);
	snprintf(filler, sizeof(filler), "%s/filler", full_fs);
	memset(&aux, 0, sizeof(aux));
	aux.base = slice(4);
	assert_int_equal(berthd_proc_start(&aux.e.proc, args), 0);
	snprintf(aux.e.label, sizeof(aux.e.label), "%s=%s", DOCKER_LABEL_DATA_DIR, data);
	assert_int_equal(daemon_connect(&aux), 0);
	assert_int_equal(put_template(&aux, demo_tpl, aux.base, PORTS_PER_DAEMON, 2, false), 0);
	l = launch_ok(&aux, demo_tpl);

	printf("# %ld KiB of filler on the 2 MiB tmpfs\n", fill_disk(filler) / 1024);
	assert_int_equal(docker_container_stop(docker, l.container_id, 1, 30000, &err), 0);
	/* Docker's "die" came; the row could not be written. */
	assert_true(e2e_wait_log(&aux.e.proc, "docker events cannot update the row", 10000));
	assert_int_equal(unlink(filler), 0);
	exited = E2E_WAIT_UNTIL(service_has_status(&aux, l.id, "exited"), 5000);
	assert_true(exited);
	assert_registry_matches_docker(&aux);
}

/* The four polled reads' view of one service: its status, or "gone". */
struct polled_view {
	char get[16], list[16], status[16];
	uint32_t stats_total, stats_running;
};

static void
read_polled(struct daemon *d, const char *id, struct polled_view *v)
{
	Berth__V1__GetServiceRequest get = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	Berth__V1__GetStatusRequest status_req = BERTH__V1__GET_STATUS_REQUEST__INIT;
	Berth__V1__GetServiceResponse *g = NULL;
	Berth__V1__GetStatusResponse *status = NULL;
	Berth__V1__ListServicesResponse *list = list_services(d);
	Berth__V1__GetStatsResponse *stats = get_stats(d);
	const Berth__V1__Service *s;
	berth_status st;

	get.service_id = (char *)id;
	get.registry_only = true;
	if (rpc(d, "GetService", &get.base, (ProtobufCMessage **)&g, &st) == 0)
		snprintf(v->get, sizeof(v->get), "%s", g->service->status);
	else if (st.code == BERTH__V1__CODE__NOT_FOUND)
		snprintf(v->get, sizeof(v->get), "gone");
	else
		fail_msg("GetService: %s: %s", berth_code_name(st.code), st.message);
	berth_reply_free(g ? &g->base : NULL);
	s = find_service(list, id);
	snprintf(v->list, sizeof(v->list), "%s", s != NULL ? s->status : "gone");
	berth_reply_free(&list->base);
	v->stats_total = stats->total_services;
	v->stats_running = stats->running_services;
	berth_reply_free(&stats->base);
	assert_int_equal(rpc(d, "GetStatus", &status_req.base, (ProtobufCMessage **)&status, &st), 0);
	s = NULL;
	for (size_t i = 0; i < status->n_services; i++)
		if (strcmp(status->services[i]->service_id, id) == 0)
			s = status->services[i];
	snprintf(v->status, sizeof(v->status), "%s", s != NULL ? s->status : "gone");
	berth_reply_free(&status->base);
}

/* Reads everything twice (the second read is a kept answer) and expects `want`. */
static void
assert_polled(struct daemon *d, const char *id, const char *want, uint32_t running)
{
	for (int round = 0; round < 2; round++) {
		struct polled_view v;

		read_polled(d, id, &v);
		assert_string_equal(v.get, want);
		assert_string_equal(v.list, want);
		assert_string_equal(v.status, want);
		assert_int_equal(v.stats_total, strcmp(want, "gone") == 0 ? 0 : 1);
		assert_int_equal(v.stats_running, running);
	}
}

/*
 * 17. GetService (registry_only), ListServices, GetStats and GetStatus are
 * answered from memory between changes (answer_cache.h): each is read
 * twice after every change, by an RPC and behind berth's back, and every
 * read shows the change at once.
 */
static void
test_polled_reads_show_every_change_at_once(void **state)
{
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	Berth__V1__RestartServiceRequest restart = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	Berth__V1__RemoveServiceRequest rm = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	struct error err = { 0 };
	struct polled_view v = { 0 };
	struct launched l;

	(void)state;
	l = launch_ok(&shared, demo_tpl);
	assert_polled(&shared, l.id, "running", 1);

	stop.service_id = l.id;
	berth_reply_free(call_ok(&shared, "StopService", &stop.base));
	assert_polled(&shared, l.id, "stopped", 0);

	restart.service_id = l.id;
	berth_reply_free(call_ok(&shared, "RestartService", &restart.base));
	assert_polled(&shared, l.id, "running", 1);

	/* Behind berth's back: the event follower writes the row. */
	assert_int_equal(docker_container_kill(docker, l.container_id, 30000, &err), 0);
	E2E_WAIT_UNTIL((read_polled(&shared, l.id, &v), strcmp(v.get, "running") != 0), 5000);
	assert_string_not_equal(v.get, "running");
	assert_polled(&shared, l.id, v.get, 0);

	rm.service_id = l.id;
	rm.purge = true;
	berth_reply_free(call_ok(&shared, "RemoveService", &rm.base));
	assert_polled(&shared, l.id, "gone", 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_stats_and_status_count_running_stopped_ports_and_templates,
		    teardown_shared),
		cmocka_unit_test_teardown(test_service_logs_return_the_demo_output_and_refuse_bad_requests,
		    teardown_shared),
		cmocka_unit_test_teardown(test_cleanup_status_and_auto_cleanup_remove_the_dead_and_the_orphan,
		    teardown_shared),
		cmocka_unit_test_teardown(test_force_cleanup_all_removes_containers_rows_and_ports,
		    teardown_shared),
		cmocka_unit_test_teardown(
		    test_sigterm_removes_ten_services_in_parallel_and_keeps_their_directories, teardown_aux),
		cmocka_unit_test_teardown(test_on_exit_keep_leaves_services_running_across_a_restart,
		    teardown_aux),
		cmocka_unit_test_teardown(test_on_exit_stop_keeps_stopped_services_that_restart_later,
		    teardown_aux),
		cmocka_unit_test_teardown(test_kill_during_a_launch_leaves_registry_and_docker_in_agreement,
		    teardown_aux),
		cmocka_unit_test_teardown(test_interrupted_shutdown_is_finished_at_the_next_start,
		    teardown_aux),
		cmocka_unit_test_teardown(test_docker_outage_keeps_reads_and_fails_launches_until_it_returns,
		    teardown_aux),
		cmocka_unit_test_teardown(test_second_sigint_kills_the_remaining_containers_at_once,
		    teardown_aux),
		cmocka_unit_test_teardown(test_failed_resume_of_a_shutdown_spares_services_launched_later,
		    teardown_aux),
		cmocka_unit_test_teardown(
		    test_crash_leftovers_are_resolved_when_docker_returns_after_a_start_without_it,
		    teardown_aux),
		cmocka_unit_test_teardown(
		    test_docker_lost_in_the_middle_of_a_launch_leaves_a_row_not_an_orphan, teardown_aux),
		cmocka_unit_test_teardown(test_calls_aimed_at_a_launching_service_wait_for_the_launch,
		    teardown_aux),
		cmocka_unit_test_teardown(
		    test_row_catches_up_with_a_container_that_stopped_while_the_disk_was_full,
		    teardown_aux),
		cmocka_unit_test_teardown(test_polled_reads_show_every_change_at_once, teardown_shared),
	};

	return cmocka_run_group_tests_name("operations", tests, setup_group, teardown_group);
}
