/*
 * test_swarm.c - the swarm backend end to end: a real berthd with
 * --backend swarm, a single-node Docker Swarm, the demo image, real HTTP.
 *
 * The swarm: when the engine is in none, the group setup makes one
 * (POST /swarm/init, listening and advertising on 127.0.0.1 only) and the
 * group teardown leaves it again (POST /swarm/leave?force=true) and removes
 * the docker_gwbridge network the init created, also after a failed test;
 * SIGINT, SIGTERM and SIGHUP (run.sh's timeout) leave it too. An engine
 * that already is a manager is used as it is and left in its swarm; a
 * worker, or a locked or broken swarm, skips the tests. Other suites run
 * on the same engine meanwhile: the swarm exists for this group only, and
 * the last test checks that plain `docker run -p 127.0.0.1:X:8000`
 * publishing still works once it is gone.
 *
 * Publishing: Swarm's host mode binds the published port on every address
 * of the node (0.0.0.0 and ::; its port config has no host IP), so the
 * tests' services are reachable on 127.0.0.1 but not bound to it alone. The
 * routing mesh (ingress mode) needs IPVS in the kernel, which this machine
 * may lack: the tests use host mode, as a single node serves either way.
 *
 * Everything the tests make carries berth's data-dir label (or, for the
 * foreign service, a berth.test label): the teardown removes those
 * services, their containers and their volumes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth.h"
#include "e2e.h"
#include "clock.h"
#include "engine/docker.h"
#include "engine/docker_swarm.h"
#include "http.h"

#define DEMO_IMAGE E2E_DEMO_IMAGE
#define MEMORY_LIMIT ((uint64_t)64 << 20)

static struct e2e_daemon dmn;
static struct docker *docker;
static uint16_t base_port;
static bool swarm_ready;          /* an active swarm whose manager is this engine */
static volatile sig_atomic_t made_swarm; /* this test ran swarm init: it must leave */
static bool had_gwbridge;         /* docker_gwbridge existed before the init */
static char node_hostname[128];
static char data_label[600];      /* berth.data_dir=<data dir> */
static char foreign_label[300];   /* berth.test=<dir> */
static char skip_reason[600];    /* why the swarm tests do not run */
static const char *const berthd_args[] = { "--backend", "swarm", NULL };
static char leave_command[2048];  /* for the signal handler: no libcurl there */

/* --- helpers ------------------------------------------------------------------ */

static int
call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply, berth_status *st)
{
	return berth_call(dmn.client, method, req, reply, st);
}

static Berth__V1__LaunchServiceResponse *
launch(const char *template_name, const char *instance, berth_status *st)
{
	return e2e_launch(dmn.client, template_name, instance, 0, st);
}

static Berth__V1__LaunchServiceResponse *
launch_ok(const char *template_name, const char *instance)
{
	berth_status st;
	Berth__V1__LaunchServiceResponse *r = launch(template_name, instance, &st);

	if (r == NULL)
		fail_msg("launch %s failed: %s: %s", template_name, berth_code_name(st.code),
		    st.message);
	return r;
}

static Berth__V1__RemoveServiceResponse *
remove_service(const char *id, bool purge, berth_status *st)
{
	Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	req.service_id = (char *)id;
	req.purge = purge;
	call("RemoveService", &req.base, &reply, st);
	return (Berth__V1__RemoveServiceResponse *)reply;
}

/* GetService; NULL on failure. Free with berth_reply_free(&r->base). */
static Berth__V1__GetServiceResponse *
get_service(const char *id, bool registry_only)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	req.service_id = (char *)id;
	req.registry_only = registry_only;
	if (call("GetService", &req.base, &reply, &st) != 0)
		return NULL;
	return (Berth__V1__GetServiceResponse *)reply;
}

/* The registry status of a service, or "" when it has no row. */
static void
status_of(const char *id, char *out, size_t len)
{
	Berth__V1__GetServiceResponse *r = get_service(id, true);

	snprintf(out, len, "%s", r != NULL ? r->service->status : "");
	if (r != NULL)
		berth_reply_free(&r->base);
}

/* Waits up to ms for the service's registry status to become `want`. */
static bool
wait_status(const char *id, const char *want, int ms)
{
	char status[32];

	return E2E_WAIT_UNTIL((status_of(id, status, sizeof(status)), strcmp(status, want) == 0), ms);
}

/* The body of GET path as JSON (the caller decrefs), or NULL. */
static json_t *
docker_json(const char *path)
{
	struct error err;
	char *body = NULL;
	size_t len = 0;
	json_t *o = NULL;

	if (docker_api_request(docker, "GET", path, NULL, 0, &body, &len, 10000, &err) == 0)
		o = json_loadb(body, len, 0, NULL);
	free(body);
	return o;
}

static bool
network_exists(const char *name)
{
	char path[200];
	json_t *o;

	snprintf(path, sizeof(path), "/networks/%s", name);
	o = docker_json(path);
	json_decref(o);
	return o != NULL;
}

/* Writes text into the named volume's directory on this node (local driver). */
static void
write_into_volume(const char *volume, const char *name, const char *text)
{
	struct docker_volume v;
	struct error err;
	char path[PATH_MAX];
	FILE *f;

	assert_int_equal(docker_volume_inspect(docker, volume, &v, 10000, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", v.mountpoint, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* GET http://127.0.0.1:port/path (waiting up to 20 s for a listener): its body, or fail. */
static void
assert_http_body(uint16_t port, const char *path, const char *expected_part)
{
	char *body = NULL;
	int status = http_get(port, path, 20000, &body);

	if (status != 200 || body == NULL || strstr(body, expected_part) == NULL)
		fail_msg("GET :%u%s: status %d, body \"%s\", expected \"%s\"", port, path, status,
		    body != NULL ? body : "", expected_part);
	free(body);
}

/* Removes every service, container and volume of this test run. */
static void
remove_leftovers(void)
{
	const char *labels[2] = { data_label, foreign_label };
	struct error err;

	for (int l = 0; l < 2 && swarm_ready; l++) {
		struct docker_service *list = NULL;
		size_t n = 0;

		if (docker_service_list(docker, labels[l], &list, &n, 10000, &err) == 0)
			for (size_t i = 0; i < n; i++)
				docker_service_remove(docker, list[i].id, 10000, &err);
		free(list);
	}
	/* Swarm removes the task containers after their services; help it along. */
	for (int tries = 0; tries < 100; tries++) {
		struct docker_container *list = NULL;
		size_t n = 0, total = 0;

		for (int l = 0; l < 2; l++) {
			if (docker_container_list(docker, labels[l], &list, &n, 10000, &err) != 0)
				continue;
			for (size_t i = 0; i < n; i++)
				if (tries >= 40)
					docker_container_remove(docker, list[i].id, true, 10000, &err);
			total += n;
			free(list);
		}
		if (total == 0)
			break;
		clock_sleep_ms(200); /* pacing of a bounded cleanup retry */
	}
	for (int l = 0; l < 2; l++) {
		struct docker_volume *vols = NULL;
		size_t n = 0;

		if (docker_volume_list(docker, labels[l], &vols, &n, 10000, &err) == 0)
			for (size_t i = 0; i < n; i++)
				docker_volume_remove(docker, vols[i].name, true, 10000, &err);
		free(vols);
	}
}

/* Leaves the swarm this test made, and removes what the init left behind. */
static void
leave_swarm(void)
{
	struct error err;

	if (!made_swarm)
		return;
	if (docker_swarm_leave(docker, true, 60000, &err) != 0)
		fprintf(stderr, "test_swarm: swarm leave: %s\n", err.message);
	else
		made_swarm = 0;
	/* Its endpoints go with the last container on it: retry for a while. */
	for (int tries = 0; !had_gwbridge && network_exists("docker_gwbridge") && tries < 50; tries++) {
		docker_api_request(docker, "DELETE", "/networks/docker_gwbridge", NULL, 0, NULL, NULL,
		    10000, &err);
		clock_sleep_ms(200); /* pacing of a bounded cleanup retry */
	}
}

/* SIGINT, SIGTERM, SIGHUP: never leave the shared engine in a swarm. */
static void
on_signal(int sig)
{
	if (made_swarm) {
		pid_t pid = fork();

		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", leave_command, (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	if (dmn.proc.pid > 0)
		kill(dmn.proc.pid, SIGKILL);
	_exit(128 + sig);
}

/*
 * The shell command the signal handler runs: leave the swarm (which takes
 * the services and their containers along), then remove the volumes of
 * this run, the docker_gwbridge the init made and the temporary directory.
 */
static void
prepare_leave_command(void)
{
	const char *host = getenv("DOCKER_HOST");
	const char *socket = "/var/run/docker.sock";
	char *filter = NULL;
	int n;

	if (host != NULL && strncmp(host, "unix://", 7) == 0)
		socket = host + 7;
	if (data_label[0] != '\0') {
		char json[700];

		snprintf(json, sizeof(json), "{\"label\":[\"%s\"]}", data_label);
		filter = curl_easy_escape(NULL, json, 0);
	}
	n = snprintf(leave_command, sizeof(leave_command),
	    "curl -s -m 60 --unix-socket '%s' -X POST 'http://localhost/swarm/leave?force=true'; "
	    "sleep 2",
	    socket);
	if (filter != NULL && n > 0 && (size_t)n < sizeof(leave_command))
		n += snprintf(leave_command + n, sizeof(leave_command) - (size_t)n,
		    "; curl -s -m 30 --unix-socket '%s' -X POST "
		    "'http://localhost/volumes/prune?filters=%s'; rm -rf '%s'",
		    socket, filter, dmn.proc.dir);
	if (!had_gwbridge && n > 0 && (size_t)n < sizeof(leave_command))
		snprintf(leave_command + n, sizeof(leave_command) - (size_t)n,
		    "; curl -s -m 10 --unix-socket '%s' -X DELETE "
		    "http://localhost/networks/docker_gwbridge",
		    socket);
	curl_free(filter);
}

static int
put_template(Berth__V1__Template *t)
{
	berth_status st;

	if (e2e_put_template(dmn.client, t, &st) != 0) {
		fprintf(stderr, "PutTemplate %s: %s\n", t->name, st.message);
		return -1;
	}
	return 0;
}

/* The demo template at ports [first, first + n), published in host mode. */
static void
demo_template(Berth__V1__Template *t, const char *name, uint16_t first, uint16_t n)
{
	berth__v1__template__init(t);
	e2e_demo_template(t, name, first, (uint16_t)(first + n - 1));
	t->publish_mode = "host";
}

static int
open_client(void)
{
	return e2e_daemon_connect(&dmn, 0);
}

/* --- fixture -------------------------------------------------------------------- */

static int teardown_group(void **state);

/* Joins or makes the swarm, starts berthd --backend swarm, puts the templates. */
static int
prepare(void)
{
	Berth__V1__Template web, pinned, nowhere;
	struct docker_swarm_state sw;
	struct error err;
	char constraint[200], *pinned_constraints[1], *nowhere_constraints[1];

	if (e2e_demo_context() == NULL || (docker = e2e_docker()) == NULL)
		return -1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	if (docker_swarm_state(docker, &sw, 10000, &err) != 0) {
		fprintf(stderr, "test_swarm: Docker does not answer: %s\n", err.message);
		return -1;
	}
	if (strcmp(sw.local_node_state, "inactive") == 0) {
		had_gwbridge = network_exists("docker_gwbridge");
		prepare_leave_command();
		made_swarm = 1; /* from here on, leave: even a failed init may have half-joined */
		if (docker_swarm_init(docker, "127.0.0.1:2377", "127.0.0.1", 60000, &err) != 0) {
			snprintf(skip_reason, sizeof(skip_reason), "swarm init: %s", err.message);
			fprintf(stderr, "test_swarm: %s; the tests are skipped\n", skip_reason);
			leave_swarm();
			return 0;
		}
		docker_swarm_state(docker, &sw, 10000, &err);
	}
	if (strcmp(sw.local_node_state, "active") != 0 || !sw.manager) {
		snprintf(skip_reason, sizeof(skip_reason),
		    "the engine is in a swarm it does not manage (state %s)", sw.local_node_state);
		fprintf(stderr, "test_swarm: %s; the tests are skipped\n", skip_reason);
		return 0;
	}
	swarm_ready = true;
	snprintf(node_hostname, sizeof(node_hostname), "%s", sw.hostname);

	if (berthd_proc_start(&dmn.proc, berthd_args) != 0)
		return -1;
	snprintf(data_label, sizeof(data_label), "%s=%s", DOCKER_LABEL_DATA_DIR, dmn.proc.data_dir);
	snprintf(foreign_label, sizeof(foreign_label), "berth.test=%s", dmn.proc.dir);
	if (made_swarm)
		prepare_leave_command(); /* now with the labels of this run */
	if (open_client() != 0)
		return -1;

	base_port = (uint16_t)(19500 + (getpid() % 12) * 40);
	demo_template(&web, "web", base_port, 10);
	web.cpu_limit = 0.5;
	web.memory_limit_bytes = MEMORY_LIMIT;
	/* Pinned to this node by its host name: the project directory is bind-mounted. */
	demo_template(&pinned, "pinned", base_port + 10, 5);
	snprintf(constraint, sizeof(constraint), "node.hostname==%s", node_hostname);
	pinned_constraints[0] = constraint;
	pinned.constraints = pinned_constraints;
	pinned.n_constraints = 1;
	/* A node label no node has: Swarm cannot place its tasks. */
	demo_template(&nowhere, "nowhere", base_port + 15, 5);
	nowhere_constraints[0] = "node.labels.berth-test-nowhere==yes";
	nowhere.constraints = nowhere_constraints;
	nowhere.n_constraints = 1;
	if (put_template(&web) != 0 || put_template(&pinned) != 0 || put_template(&nowhere) != 0)
		return -1;
	return 0;
}

/* cmocka skips the group teardown when the setup fails: a swarm made is left here then. */
static int
setup_group(void **state)
{
	if (prepare() == 0)
		return 0;
	teardown_group(state);
	return -1;
}

static int
teardown_group(void **state)
{
	(void)state;
	if (dmn.proc.pid > 0)
		e2e_remove_all_services(dmn.client);
	berth_close(dmn.client);
	dmn.client = NULL;
	berthd_proc_cleanup(&dmn.proc);
	remove_leftovers();
	leave_swarm();
	swarm_ready = false;
	memset(&dmn.proc, 0, sizeof(dmn.proc));
	return 0;
}

static int
setup_test(void **state)
{
	(void)state;
	if (!swarm_ready) {
		print_message("skipped: %s\n", skip_reason[0] != '\0' ? skip_reason : "no swarm");
		skip();
	}
	return 0;
}

/* Each test ends with an empty registry and no stray service. */
static int
teardown_test(void **state)
{
	(void)state;
	if (dmn.proc.pid > 0)
		e2e_remove_all_services(dmn.client);
	return 0;
}

/* --- tests ------------------------------------------------------------------------ */

/*
 * A launch makes one Swarm service: berth's labels on it and on its task's
 * container, the port published in host mode, the limits and the volume in
 * its spec, and the demo answers on the port with its instance name.
 */
static void
test_launch_makes_a_labelled_swarm_service_that_answers(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok("web", "");
	Berth__V1__GetServiceResponse *g;
	struct docker_container *containers = NULL;
	struct docker_service svc;
	struct docker_volume vol;
	struct error err;
	json_t *o, *task, *port;
	char path[200];
	size_t n = 0;
	bool labelled = false;

	(void)state;
	assert_string_equal(r->service->service_id, "web_instance_1");
	assert_int_equal(r->service->port, base_port);
	assert_string_equal(r->service->status, "running");
	assert_int_equal(docker_service_inspect(docker, r->service->container_id, &svc, 10000, &err),
	    0);
	assert_string_equal(svc.name, "web_instance_1");
	assert_string_equal(svc.label_service, "web_instance_1");
	assert_string_equal(svc.label_data_dir, dmn.proc.data_dir);
	assert_int_equal(svc.replicas, 1);
	assert_int_equal(svc.n_ports, 1);
	assert_int_equal(svc.ports[0], base_port);
	assert_string_equal(svc.volume, "web_instance_1_data");

	/* The spec as Docker keeps it. */
	snprintf(path, sizeof(path), "/services/%s", svc.id);
	o = docker_json(path);
	assert_non_null(o);
	task = json_object_get(json_object_get(o, "Spec"), "TaskTemplate");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(task,
							"ContainerSpec"),
						    "Labels"),
				DOCKER_LABEL_DATA_DIR)),
	    dmn.proc.data_dir);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(json_object_get(task, "Resources"), "Limits"), "NanoCPUs")),
	    500000000);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(json_object_get(task, "Resources"), "Limits"),
			     "MemoryBytes")),
	    MEMORY_LIMIT);
	port = json_array_get(json_object_get(json_object_get(json_object_get(o, "Spec"),
						  "EndpointSpec"),
				  "Ports"),
	    0);
	assert_string_equal(json_string_value(json_object_get(port, "PublishMode")), "host");
	assert_int_equal(json_integer_value(json_object_get(port, "TargetPort")), 8000);
	json_decref(o);

	/* The volume, labelled like the service; a file put there is served. */
	assert_int_equal(docker_volume_inspect(docker, "web_instance_1_data", &vol, 10000, &err), 0);
	assert_string_equal(vol.driver, "local");
	assert_string_equal(vol.label_data_dir, dmn.proc.data_dir);
	write_into_volume("web_instance_1_data", "who.txt", "web_instance_1 says hello");
	assert_http_body((uint16_t)r->service->port, "/", "instance=instance_1");
	assert_http_body((uint16_t)r->service->port, "/files/who.txt", "web_instance_1 says hello");

	/* The task's container carries berth's labels: events and survey see it. */
	assert_int_equal(docker_container_list(docker, data_label, &containers, &n, 10000, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(containers[i].label_service, "web_instance_1") == 0 &&
		    strcmp(containers[i].state, "running") == 0)
			labelled = true;
	free(containers);
	assert_true(labelled);

	/* GetService: the service's state, its volume, its task and the node. */
	g = get_service("web_instance_1", false);
	assert_non_null(g);
	assert_string_equal(g->service->container->state, "running");
	assert_string_equal(g->service->volume, "web_instance_1_data");
	assert_true(g->service->n_tasks >= 1);
	assert_string_equal(g->service->tasks[0]->state, "running");
	assert_string_equal(g->service->tasks[0]->desired_state, "running");
	assert_string_equal(g->service->tasks[0]->node, node_hostname);
	assert_string_not_equal(g->service->tasks[0]->container_id, "");
	berth_reply_free(&g->base);
	berth_reply_free(&r->base);
}

/*
 * Two instances of one template get distinct published ports and both
 * answer; a port another Swarm service publishes (not berth's) is skipped.
 */
static void
test_two_instances_get_distinct_ports_and_foreign_service_ports_are_skipped(void **state)
{
	struct docker_label labels[] = { { "berth.test", dmn.proc.dir } };
	struct docker_service_spec spec = {
		.name = NULL, .image = DEMO_IMAGE, .labels = labels, .n_labels = 1,
		.target_port = 8000, .publish_mode = "host", .replicas = 0,
	};
	Berth__V1__LaunchServiceResponse *a, *b, *c;
	struct error err;
	char id[DOCKER_ID_LEN + 1], name[64];
	int64_t until;

	(void)state;
	a = launch_ok("web", "alpha");
	b = launch_ok("web", "beta");
	assert_int_equal(a->service->port, base_port);
	assert_int_equal(b->service->port, base_port + 1);
	assert_int_equal(b->n_skipped_ports, 1);
	assert_string_equal(b->skipped_ports[0]->reason, "registry");
	assert_http_body((uint16_t)a->service->port, "/", "instance=alpha");
	assert_http_body((uint16_t)b->service->port, "/", "instance=beta");

	/* A service berth does not own publishes the next port. */
	snprintf(name, sizeof(name), "berth-foreign-%d", (int)getpid());
	spec.name = name;
	spec.published_port = (uint16_t)(base_port + 2);
	assert_int_equal(docker_service_create(docker, &spec, id, 30000, &err), 0);
	/*
	 * The allocator learns of it from Docker's event stream, which berthd
	 * does not acknowledge: launch until the port is skipped as Docker's
	 * (before the event, the launch may take it), then check that launch.
	 */
	until = clock_monotonic_ms() + 20000;
	for (;;) {
		berth_status rm_st;
		Berth__V1__RemoveServiceResponse *rm;

		c = launch_ok("web", "gamma");
		if (c->n_skipped_ports == 3 && c->skipped_ports[2]->port == base_port + 2u &&
		    strcmp(c->skipped_ports[2]->reason, "docker") == 0)
			break;
		if (clock_monotonic_ms() >= until)
			fail_msg("berthd never learned that a foreign service publishes port %u "
				 "(the launch took %u, skipping %zu)",
			    base_port + 2, c->service->port, c->n_skipped_ports);
		rm = remove_service(c->service->service_id, true, &rm_st);
		assert_non_null(rm);
		berth_reply_free(&rm->base);
		berth_reply_free(&c->base);
		clock_sleep_ms(E2E_POLL_MS); /* a poll's pace, until the deadline */
	}
	assert_int_equal(c->service->port, base_port + 3);
	assert_int_equal(c->n_skipped_ports, 3);
	assert_int_equal(c->skipped_ports[2]->port, base_port + 2);
	assert_string_equal(c->skipped_ports[2]->reason, "docker");
	assert_http_body((uint16_t)c->service->port, "/", "instance=gamma");
	docker_service_remove(docker, id, 30000, &err);

	berth_reply_free(&a->base);
	berth_reply_free(&b->base);
	berth_reply_free(&c->base);
}

/*
 * The allocator does not bind-test ports in swarm mode (they bind on other
 * nodes or in the mesh): a port a program holds on the node makes the task
 * fail, and the launch moves on to the next port as with the engine.
 */
static void
test_a_port_a_program_holds_fails_the_task_and_the_launch_takes_the_next(void **state)
{
	Berth__V1__LaunchServiceResponse *r;
	int fd;

	(void)state;
	fd = e2e_listen_on(base_port);
	assert_true(fd >= 0);
	r = launch_ok("web", "moved");
	close(fd);
	assert_int_equal(r->service->port, base_port + 1);
	assert_int_equal(r->n_skipped_ports, 1);
	assert_int_equal(r->skipped_ports[0]->port, base_port);
	assert_string_equal(r->skipped_ports[0]->reason, "host");
	assert_http_body((uint16_t)r->service->port, "/", "instance=moved");
	berth_reply_free(&r->base);
}

/*
 * Stop scales the service to zero and keeps row, port and volume; restart
 * scales it back (a new task, the same data); restarting a running service
 * replaces its task (ForceUpdate).
 */
static void
test_stop_scales_to_zero_and_restart_scales_back(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok("web", "keep");
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	Berth__V1__StopServiceResponse *stopped = NULL;
	Berth__V1__RestartServiceRequest restart = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	Berth__V1__RestartServiceResponse *back = NULL;
	Berth__V1__GetStatsRequest stats_req = BERTH__V1__GET_STATS_REQUEST__INIT;
	Berth__V1__GetStatsResponse *stats = NULL;
	Berth__V1__GetServiceResponse *g;
	struct docker_service svc;
	struct error err;
	berth_status st;
	char *body = NULL, first_task[DOCKER_ID_LEN + 1];
	uint16_t port = (uint16_t)r->service->port;

	(void)state;
	write_into_volume("web_keep_data", "note.txt", "kept across tasks");
	assert_http_body(port, "/files/note.txt", "kept across tasks");

	stop.service_id = "web_keep";
	assert_int_equal(call("StopService", &stop.base, (ProtobufCMessage **)&stopped, &st), 0);
	assert_string_equal(stopped->service->status, "stopped");
	berth_reply_free(&stopped->base);
	assert_int_equal(docker_service_inspect(docker, "web_keep", &svc, 10000, &err), 0);
	assert_int_equal(svc.replicas, 0);
	assert_int_equal(http_get(port, "/", 300, &body), -1);
	free(body);
	g = get_service("web_keep", false);
	assert_non_null(g);
	assert_string_equal(g->service->status, "stopped");
	assert_string_equal(g->service->container->state, "exited");
	berth_reply_free(&g->base);
	assert_int_equal(call("GetStats", &stats_req.base, (ProtobufCMessage **)&stats, &st), 0);
	assert_int_equal(stats->stopped_services, 1);
	assert_int_equal(stats->n_used_ports, 1); /* the stopped service keeps its port */
	berth_reply_free(&stats->base);

	restart.service_id = "web_keep";
	assert_int_equal(call("RestartService", &restart.base, (ProtobufCMessage **)&back, &st), 0);
	assert_string_equal(back->service->status, "running");
	assert_int_equal(back->service->port, port);
	berth_reply_free(&back->base);
	assert_int_equal(docker_service_inspect(docker, "web_keep", &svc, 10000, &err), 0);
	assert_int_equal(svc.replicas, 1);
	assert_http_body(port, "/files/note.txt", "kept across tasks");

	/* A running service: its task is replaced. */
	g = get_service("web_keep", false);
	assert_non_null(g);
	assert_string_equal(g->service->tasks[0]->state, "running");
	snprintf(first_task, sizeof(first_task), "%s", g->service->tasks[0]->id);
	berth_reply_free(&g->base);
	assert_int_equal(call("RestartService", &restart.base, (ProtobufCMessage **)&back, &st), 0);
	berth_reply_free(&back->base);
	/*
	 * It answers once the new task runs, although right after a stop-first
	 * update the scheduler may keep it pending a moment on the port of the
	 * task it replaces ("host-mode port already in use").
	 */
	g = get_service("web_keep", false);
	assert_non_null(g);
	printf("# right after RestartService: task %.12s %s\n", g->service->tasks[0]->id,
	    g->service->tasks[0]->state);
	assert_string_equal(g->service->tasks[0]->state, "running");
	assert_string_not_equal(g->service->tasks[0]->id, first_task);
	berth_reply_free(&g->base);
	assert_http_body(port, "/files/note.txt", "kept across tasks");
	berth_reply_free(&r->base);
}

/*
 * wait_healthy with an exec check: Swarm runs it (the task's Healthcheck)
 * and reports the task running only once it passed, so the launch answers
 * then, healthy, not at the end of its deadline.
 */
static void
test_wait_healthy_with_an_exec_check_answers_once_swarm_runs_the_task(void **state)
{
	static char *check[] = { "/berth-demo", "check" };
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	Berth__V1__LaunchServiceResponse *r = NULL;
	Berth__V1__GetServiceResponse *g;
	Berth__V1__Template t;
	berth_status st;
	int64_t t0, took_ms;

	(void)state;
	demo_template(&t, "checked", (uint16_t)(base_port + 20), 5);
	h.kind = "exec";
	h.exec_command = check;
	h.n_exec_command = 2;
	h.interval_s = 1;
	h.timeout_s = 1;
	h.retries = 2;
	t.health = &h;
	assert_int_equal(put_template(&t), 0);
	req.template_ = "checked";
	req.wait_healthy = true;
	t0 = clock_monotonic_ms();
	if (call("LaunchService", &req.base, (ProtobufCMessage **)&r, &st) != 0)
		fail_msg("launch with wait_healthy: %s: %s", berth_code_name(st.code), st.message);
	took_ms = clock_monotonic_ms() - t0;
	printf("# launch --wait with an exec check on swarm: %lld ms\n", (long long)took_ms);
	assert_true(took_ms < 25000); /* well before the call's deadline (120 s) */
	assert_string_equal(r->service->status, "running");
	g = get_service(r->service->service_id, false);
	assert_non_null(g);
	assert_true(g->service->n_tasks >= 1);
	assert_string_equal(g->service->tasks[0]->state, "running");
	berth_reply_free(&g->base);
	assert_http_body((uint16_t)r->service->port, "/", "instance=instance_1");
	berth_reply_free(&r->base);
}

/* rollout --rebuild needs a registry on swarm (no other node could pull the image): said so. */
static void
test_rebuild_without_a_registry_is_refused_naming_it(void **state)
{
	Berth__V1__StartRolloutRequest req = BERTH__V1__START_ROLLOUT_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *r = launch_ok("web", "rebuilt");
	ProtobufCMessage *reply = NULL;
	berth_status st;

	(void)state;
	req.template_ = "web";
	req.rebuild = true;
	assert_int_equal(call("StartRollout", &req.base, &reply, &st),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	printf("# %s\n", st.message);
	assert_non_null(strstr(st.message, "--registry"));
	berth_reply_free(reply);
	berth_reply_free(&r->base);
}

/* Remove deletes the service; the volume goes only with purge (and is reused till then). */
static void
test_remove_deletes_the_service_and_the_volume_only_with_purge(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok("web", "gone");
	Berth__V1__RemoveServiceResponse *rm;
	struct docker_service svc;
	struct docker_volume vol;
	struct error err;
	berth_status st;
	char service_id[DOCKER_ID_LEN + 1];

	(void)state;
	snprintf(service_id, sizeof(service_id), "%s", r->service->container_id);
	write_into_volume("web_gone_data", "left.txt", "still here");
	rm = remove_service("web_gone", false, &st);
	assert_non_null(rm);
	assert_true(rm->container_removed);
	assert_false(rm->volume_removed);
	berth_reply_free(&rm->base);
	assert_int_equal(docker_service_inspect(docker, service_id, &svc, 10000, &err),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_int_equal(docker_volume_inspect(docker, "web_gone_data", &vol, 10000, &err), 0);
	berth_reply_free(&r->base);

	/* The same instance name finds its data again. */
	r = launch_ok("web", "gone");
	assert_http_body((uint16_t)r->service->port, "/files/left.txt", "still here");
	rm = remove_service("web_gone", true, &st);
	assert_non_null(rm);
	assert_true(rm->container_removed);
	assert_true(rm->volume_removed);
	berth_reply_free(&rm->base);
	assert_int_equal(docker_volume_inspect(docker, "web_gone_data", &vol, 10000, &err),
	    BERTH__V1__CODE__NOT_FOUND);
	berth_reply_free(&r->base);
}

/* A template pinned to a node (node.hostname==H) bind-mounts the project directory. */
static void
test_a_pinned_template_bind_mounts_the_project_directory(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok("pinned", "");
	Berth__V1__GetServiceResponse *g;
	struct docker_volume vol;
	struct error err;

	(void)state;
	write_file(r->service->project_dir, "where.txt", "on this node's disk");
	assert_http_body((uint16_t)r->service->port, "/files/where.txt", "on this node's disk");
	assert_int_equal(docker_volume_inspect(docker, "pinned_instance_1_data", &vol, 10000, &err),
	    BERTH__V1__CODE__NOT_FOUND);
	g = get_service("pinned_instance_1", false);
	assert_non_null(g);
	assert_string_equal(g->service->volume, "");
	assert_string_equal(g->service->tasks[0]->node, node_hostname);
	berth_reply_free(&g->base);
	berth_reply_free(&r->base);
}

/*
 * A constraint no node meets: the launch succeeds (Swarm keeps the task
 * pending, a node may yet join), and GetService shows the pending task
 * with Docker's reason.
 */
static void
test_a_constraint_no_node_meets_leaves_the_task_pending_and_says_why(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok("nowhere", "");
	Berth__V1__GetServiceResponse *g;

	(void)state;
	assert_string_equal(r->service->status, "running"); /* desired: Swarm's to converge */
	g = get_service("nowhere_instance_1", false);
	assert_non_null(g);
	assert_string_equal(g->service->container->state, "restarting");
	assert_true(g->service->n_tasks >= 1);
	assert_string_equal(g->service->tasks[0]->state, "pending");
	assert_string_equal(g->service->tasks[0]->desired_state, "running");
	assert_string_equal(g->service->tasks[0]->node, "");
	if (strstr(g->service->tasks[0]->error, "no suitable node") == NULL)
		fail_msg("task error: \"%s\"", g->service->tasks[0]->error);
	berth_reply_free(&g->base);
	berth_reply_free(&r->base);
}

/*
 * wait_healthy for a task no node can run: the row says "running" (the
 * service is handed to Swarm), but no task runs, so the wait does not
 * answer OK; it ends FAILED_PRECONDITION at the call's deadline.
 */
static void
test_wait_healthy_for_a_task_no_node_runs_is_not_ok(void **state)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	int code;

	(void)state;
	req.template_ = "nowhere";
	req.wait_healthy = true;
	berth_set_timeout(dmn.client, 8000);
	code = call("LaunchService", &req.base, &reply, &st);
	berth_set_timeout(dmn.client, E2E_CALL_TIMEOUT_MS);
	berth_reply_free(reply);
	if (code != BERTH__V1__CODE__FAILED_PRECONDITION)
		fail_msg("launch --wait of an unschedulable task: %s: %s", berth_code_name(st.code),
		    st.message);
	assert_non_null(strstr(st.message, "not healthy within the call's deadline"));
}

/*
 * Docker's service events keep the registry live: a service removed behind
 * berth's back turns "missing"; restart recreates it with the same port and
 * the same volume.
 */
static void
test_a_service_removed_behind_berths_back_turns_missing_and_restart_recreates_it(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok("web", "phoenix");
	Berth__V1__RestartServiceRequest restart = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	Berth__V1__RestartServiceResponse *back = NULL;
	struct error err;
	berth_status st;

	(void)state;
	write_into_volume("web_phoenix_data", "survivor.txt", "risen");
	assert_int_equal(docker_service_remove(docker, r->service->container_id, 30000, &err), 0);
	assert_true(wait_status("web_phoenix", "missing", 10000));

	restart.service_id = "web_phoenix";
	assert_int_equal(call("RestartService", &restart.base, (ProtobufCMessage **)&back, &st), 0);
	assert_int_equal(back->service->port, r->service->port);
	assert_string_not_equal(back->service->container_id, r->service->container_id);
	assert_http_body((uint16_t)back->service->port, "/files/survivor.txt", "risen");
	berth_reply_free(&back->base);
	berth_reply_free(&r->base);
}

/*
 * berthd killed with -9: its services keep running; what changed while it
 * was away (a service deleted, one scaled to zero) is found at the next
 * start by reconciliation over the services.
 */
static void
test_reconciliation_after_kill_9_finds_what_changed_while_berthd_was_away(void **state)
{
	Berth__V1__LaunchServiceResponse *a = launch_ok("web", "ra");
	Berth__V1__LaunchServiceResponse *b = launch_ok("web", "rb");
	Berth__V1__LaunchServiceResponse *c = launch_ok("web", "rc");
	struct error err;
	char status[32];

	(void)state;
	berthd_proc_kill(&dmn.proc);
	assert_int_equal(docker_service_remove(docker, a->service->container_id, 30000, &err), 0);
	assert_int_equal(docker_service_scale(docker, b->service->container_id, 0, 30000, &err), 0);
	assert_http_body((uint16_t)c->service->port, "/", "instance=rc"); /* it never stopped */

	assert_int_equal(berthd_proc_restart(&dmn.proc, berthd_args), 0);
	assert_int_equal(open_client(), 0);
	status_of("web_ra", status, sizeof(status));
	assert_string_equal(status, "missing");
	status_of("web_rb", status, sizeof(status));
	assert_string_equal(status, "exited");
	status_of("web_rc", status, sizeof(status));
	assert_string_equal(status, "running");
	assert_true(berthd_proc_log_contains(&dmn.proc, "reconcile service=web_ra status=missing"));
	assert_http_body((uint16_t)c->service->port, "/", "instance=rc");
	berth_reply_free(&a->base);
	berth_reply_free(&b->base);
	berth_reply_free(&c->base);
}

/* SIGTERM (--on-exit remove, the default): berthd removes its services, keeps the volumes. */
static void
test_sigterm_removes_every_service(void **state)
{
	Berth__V1__LaunchServiceResponse *a = launch_ok("web", "last1");
	Berth__V1__LaunchServiceResponse *b = launch_ok("web", "last2");
	struct docker_service *services = NULL;
	struct docker_container *containers = NULL;
	struct docker_volume vol;
	struct error err;
	size_t n = 0;

	(void)state;
	berth_reply_free(&a->base);
	berth_reply_free(&b->base);
	berth_close(dmn.client);
	dmn.client = NULL;
	assert_int_equal(berthd_proc_stop(&dmn.proc, 120), 0);
	assert_true(berthd_proc_log_contains(&dmn.proc, "shutdown removed containers=2 rows=2 errors=0"));
	assert_int_equal(docker_service_list(docker, data_label, &services, &n, 10000, &err), 0);
	free(services);
	assert_int_equal(n, 0);
	/* Their containers are gone too (removal waits for those on this node). */
	assert_int_equal(docker_container_list(docker, data_label, &containers, &n, 10000, &err), 0);
	free(containers);
	assert_int_equal(n, 0);
	/* Data outlives a shutdown, as directories do with the engine backend. */
	assert_int_equal(docker_volume_inspect(docker, "web_last1_data", &vol, 10000, &err), 0);
}

/*
 * After the group: the engine is out of the swarm this test made (no
 * ingress network, no docker_gwbridge it did not have before), and a plain
 * container publishes on 127.0.0.1 and answers, as the other suites need.
 */
static void
test_the_engine_publishes_on_127_0_0_1_again_after_the_swarm(void **state)
{
	struct docker_label labels[] = { { "berth.test", "after-swarm" } };
	struct docker_container_spec spec = {
		.name = NULL, .image = DEMO_IMAGE, .labels = labels, .n_labels = 1,
		.container_port = 8000, .host_ip = "127.0.0.1",
	};
	struct docker_swarm_state sw;
	struct error err = { 0 };
	char id[DOCKER_ID_LEN + 1], name[64], *body = NULL;
	int status;

	(void)state;
	assert_int_equal(made_swarm, 0);
	assert_int_equal(docker_swarm_state(docker, &sw, 10000, &err), 0);
	if (strcmp(sw.local_node_state, "inactive") == 0) {
		assert_false(network_exists("ingress"));
		if (!had_gwbridge)
			assert_false(network_exists("docker_gwbridge"));
	}
	snprintf(name, sizeof(name), "berth-after-swarm-%d", (int)getpid());
	spec.name = name;
	spec.host_port = (uint16_t)(19500 + (getpid() % 12) * 40 + 39);
	assert_int_equal(docker_container_create(docker, &spec, id, 30000, &err), 0);
	if (docker_container_start(docker, id, 30000, &err) != 0) {
		docker_container_remove(docker, id, true, 30000, &err);
		fail_msg("docker run -p 127.0.0.1:%u:8000 failed: %s", spec.host_port, err.message);
	}
	status = http_get(spec.host_port, "/health", 10000, &body);
	free(body);
	docker_container_remove(docker, id, true, 30000, &err);
	assert_int_equal(status, 200);
}

/*
 * The new template fields with the engine backend: the resource limits
 * reach the container (HostConfig.NanoCpus, Memory); more than one replica
 * is refused, as one container per instance cannot honour it.
 */
static void
test_the_engine_backend_applies_limits_and_refuses_replicas(void **state)
{
	Berth__V1__Template t;
	Berth__V1__LaunchServiceResponse *r;
	Berth__V1__RemoveServiceResponse *rm;
	json_t *o, *host;
	berth_status st;
	char path[200];
	uint16_t first = (uint16_t)(19500 + (getpid() % 12) * 40 + 30);

	(void)state;
	memset(&dmn.proc, 0, sizeof(dmn.proc));
	assert_int_equal(berthd_proc_start(&dmn.proc, NULL), 0);
	assert_int_equal(open_client(), 0);
	demo_template(&t, "limited", first, 5);
	t.publish_mode = "";
	t.cpu_limit = 0.25;
	t.memory_limit_bytes = (uint64_t)32 << 20;
	assert_int_equal(put_template(&t), 0);
	r = launch_ok("limited", "");
	snprintf(path, sizeof(path), "/containers/%s/json", r->service->container_id);
	o = docker_json(path);
	assert_non_null(o);
	host = json_object_get(o, "HostConfig");
	assert_int_equal(json_integer_value(json_object_get(host, "NanoCpus")), 250000000);
	assert_int_equal(json_integer_value(json_object_get(host, "Memory")), 32 << 20);
	json_decref(o);
	assert_http_body((uint16_t)r->service->port, "/", "instance=instance_1");
	rm = remove_service(r->service->service_id, true, &st);
	assert_non_null(rm);
	berth_reply_free(&rm->base);
	berth_reply_free(&r->base);

	t.replicas = 2;
	assert_int_equal(put_template(&t), 0);
	assert_null(launch("limited", "", &st));
	assert_int_equal(st.code, BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "replicas"));
}

static int
setup_after(void **state)
{
	(void)state;
	if (docker == NULL) {
		print_message("skipped: no Docker client\n");
		skip();
	}
	return 0;
}

static int
teardown_after(void **state)
{
	(void)state;
	berth_close(dmn.client);
	dmn.client = NULL;
	if (dmn.proc.dir[0] != '\0') {
		snprintf(data_label, sizeof(data_label), "%s=%s", DOCKER_LABEL_DATA_DIR, dmn.proc.data_dir);
		berthd_proc_cleanup(&dmn.proc);
		remove_leftovers(); /* containers only: swarm_ready is false by now */
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest swarm_tests[] = {
		cmocka_unit_test_setup_teardown(test_launch_makes_a_labelled_swarm_service_that_answers,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(
		    test_two_instances_get_distinct_ports_and_foreign_service_ports_are_skipped,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(
		    test_a_port_a_program_holds_fails_the_task_and_the_launch_takes_the_next,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_stop_scales_to_zero_and_restart_scales_back,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(
		    test_wait_healthy_with_an_exec_check_answers_once_swarm_runs_the_task, setup_test,
		    teardown_test),
		cmocka_unit_test_setup_teardown(test_wait_healthy_for_a_task_no_node_runs_is_not_ok,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_rebuild_without_a_registry_is_refused_naming_it,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(
		    test_remove_deletes_the_service_and_the_volume_only_with_purge, setup_test,
		    teardown_test),
		cmocka_unit_test_setup_teardown(test_a_pinned_template_bind_mounts_the_project_directory,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(
		    test_a_constraint_no_node_meets_leaves_the_task_pending_and_says_why, setup_test,
		    teardown_test),
		cmocka_unit_test_setup_teardown(
		    test_a_service_removed_behind_berths_back_turns_missing_and_restart_recreates_it,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(
		    test_reconciliation_after_kill_9_finds_what_changed_while_berthd_was_away,
		    setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_sigterm_removes_every_service, setup_test,
		    teardown_test),
	};
	const struct CMUnitTest after_tests[] = {
		cmocka_unit_test(test_the_engine_publishes_on_127_0_0_1_again_after_the_swarm),
		cmocka_unit_test(test_the_engine_backend_applies_limits_and_refuses_replicas),
	};
	int failed;

	failed = cmocka_run_group_tests_name("swarm", swarm_tests, setup_group, teardown_group);
	failed += cmocka_run_group_tests_name("after the swarm", after_tests, setup_after,
	    teardown_after);
	return failed;
}
