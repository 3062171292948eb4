/*
 * test_lifecycle.c - the original design's examples, end to end: a real berthd, the
 * real Docker engine, the demo image built from tests/demo, real HTTP.
 *
 * Every container the tests make carries berth's data-dir label (or, for
 * the foreign one, a berth.test label); the group teardown removes all of
 * them even when a test failed half-way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth.h"
#include "e2e.h"
#include "engine/docker.h"
#include "http.h"

#define DEMO_IMAGE E2E_DEMO_IMAGE
#define CONCURRENT_LAUNCHES 20

static struct e2e_daemon dmn;
static struct docker *docker;
static uint16_t base_port;
static char foreign_label[300];

/* --- helpers --------------------------------------------------------------- */

static int
call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply, berth_status *st)
{
	return berth_call(dmn.client, method, req, reply, st);
}

static Berth__V1__LaunchServiceResponse *
launch(const char *template_name, const char *instance, uint32_t port, berth_status *st)
{
	return e2e_launch(dmn.client, template_name, instance, port, st);
}

static Berth__V1__LaunchServiceResponse *
launch_ok(const char *instance)
{
	berth_status st;
	Berth__V1__LaunchServiceResponse *r = launch("demo", instance, 0, &st);

	if (r == NULL)
		fail_msg("launch failed: %s: %s", berth_code_name(st.code), st.message);
	return r;
}

static int
remove_service(const char *id, bool purge, bool keep)
{
	return e2e_remove_service(dmn.client, id, purge, keep);
}

/* GetService; NULL on failure. Free with berth_reply_free(&r->base). */
static Berth__V1__GetServiceResponse *
get_service(const char *id, berth_status *st)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	req.service_id = (char *)id;
	if (call("GetService", &req.base, &reply, st) != 0)
		return NULL;
	return (Berth__V1__GetServiceResponse *)reply;
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

static bool
dir_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A base port with 60 free ports above it, away from the ephemeral range. */
static uint16_t
pick_base_port(void)
{
	return (uint16_t)(21000 + (getpid() % 150) * 60);
}

/* --- fixture --------------------------------------------------------------- */

static int
setup_group(void **state)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_status st;

	(void)state;
	if ((docker = e2e_docker()) == NULL || e2e_demo_context() == NULL)
		return -1;
	if (e2e_daemon_start(&dmn, NULL) != 0)
		return -1;
	snprintf(foreign_label, sizeof(foreign_label), "berth.test=%s", dmn.proc.dir);
	base_port = pick_base_port();
	e2e_demo_template(&t, "demo", base_port, (uint16_t)(base_port + 59));
	if (e2e_put_template(dmn.client, &t, &st) != 0) {
		fprintf(stderr, "PutTemplate: %s\n", st.message);
		return -1;
	}
	return 0;
}

static int
teardown_group(void **state)
{
	(void)state;
	e2e_remove_labelled(foreign_label);
	e2e_daemon_destroy(&dmn, true);
	return 0;
}

/* Each test starts and ends with an empty registry. */
static int
teardown_test(void **state)
{
	(void)state;
	e2e_remove_all_services(dmn.client);
	return 0;
}

/* --- tests ----------------------------------------------------------------- */

/* Three launches get start, start+1, start+2; instance_1, instance_2, a named one. */
static void
test_three_launches_get_consecutive_ports_and_own_directories(void **state)
{
	Berth__V1__LaunchServiceResponse *r[3];
	const char *names[3] = { "", "", "staging" };
	const char *ids[3] = { "demo_instance_1", "demo_instance_2", "demo_staging" };

	(void)state;
	for (int i = 0; i < 3; i++) {
		r[i] = launch_ok(names[i]);
		assert_string_equal(r[i]->service->service_id, ids[i]);
		assert_int_equal(r[i]->service->port, base_port + i);
		assert_string_equal(r[i]->service->status, "running");
		assert_true(dir_exists(r[i]->service->project_dir));
		write_file(r[i]->service->project_dir, "who.txt", ids[i]);
	}
	assert_string_equal(r[0]->service->instance, "instance_1");
	assert_int_equal(r[0]->service->instance_number, 1);
	assert_string_equal(r[1]->service->instance, "instance_2");
	assert_int_equal(r[2]->service->instance_number, 0);
	assert_true(strstr(r[2]->service->project_dir, "/templates/demo/staging") != NULL);

	for (int i = 0; i < 3; i++) {
		char *body = NULL, url[64];

		snprintf(url, sizeof(url), "http://127.0.0.1:%u", base_port + i);
		assert_string_equal(r[i]->service->url, url);
		assert_int_equal(http_get((uint16_t)r[i]->service->port, "/files/who.txt", 5000, &body),
		    200);
		assert_string_equal(body, ids[i]);
		free(body);
		assert_int_equal(http_get((uint16_t)r[i]->service->port, "/", 5000, &body), 200);
		assert_non_null(strstr(body, r[i]->service->instance));
		free(body);
		berth_reply_free(&r[i]->base);
	}
}

/* The registry, Docker's bindings and a bind test are all consulted. */
static void
test_ports_held_by_a_listener_or_a_foreign_container_are_skipped(void **state)
{
	struct docker_label labels[] = { { "berth.test", dmn.proc.dir } };
	struct docker_container_spec spec = {
		.name = NULL, .image = DEMO_IMAGE, .labels = labels, .n_labels = 1,
		.container_port = 8000, .host_ip = "127.0.0.1",
	};
	struct error err = { 0 };
	Berth__V1__LaunchServiceResponse *r;
	char id[DOCKER_ID_LEN + 1], name[64];
	int fd;

	(void)state;
	fd = e2e_listen_on(base_port);
	assert_true(fd >= 0);
	snprintf(name, sizeof(name), "berth-foreign-%d", (int)getpid());
	spec.name = name;
	spec.host_port = (uint16_t)(base_port + 1);
	assert_int_equal(docker_container_create(docker, &spec, id, 30000, &err), 0);
	assert_int_equal(docker_container_start(docker, id, 30000, &err), 0);

	/*
	 * berthd learns of the foreign container from Docker's event stream.
	 * Until that event has arrived the port is still skipped, by the bind
	 * test ("host", docker-proxy listens there); once it has, the reason is
	 * "docker". Retry a few times so the Docker source itself is proven.
	 */
	for (int attempt = 0;; attempt++) {
		bool by_docker;

		r = launch_ok("");
		assert_int_equal(r->service->port, base_port + 2);
		assert_int_equal(r->n_skipped_ports, 2);
		assert_int_equal(r->skipped_ports[0]->port, base_port);
		assert_string_equal(r->skipped_ports[0]->reason, "host");
		assert_int_equal(r->skipped_ports[1]->port, base_port + 1);
		by_docker = strcmp(r->skipped_ports[1]->reason, "docker") == 0;
		if (!by_docker)
			assert_string_equal(r->skipped_ports[1]->reason, "host");
		assert_int_equal(remove_service(r->service->service_id, true, false), 0);
		berth_reply_free(&r->base);
		if (by_docker)
			break;
		if (attempt >= 20)
			fail_msg("berthd never learned that a foreign container publishes port %u",
			    base_port + 1);
		usleep(250 * 1000); /* pacing: each attempt is a launch */
	}

	close(fd);
	docker_container_remove(docker, id, true, 30000, &err);
}

/*
 * A launch without an instance name whose lowest free number is the name of
 * a container outside the registry (here made by hand; also one kept by
 * `rm --keep-container`) leaves that container alone and takes the next
 * number, saying which it passed over. With the name given, it is refused.
 */
static void
test_auto_named_launch_passes_over_a_name_taken_outside_the_registry(void **state)
{
	struct docker_label labels[] = { { "berth.test", dmn.proc.dir } };
	struct docker_container_spec spec = {
		.name = "demo_instance_1", .image = DEMO_IMAGE, .labels = labels, .n_labels = 1,
		.container_port = 8000,
	};
	struct error err = { 0 };
	struct docker_container c;
	Berth__V1__LaunchServiceResponse *r;
	char id[DOCKER_ID_LEN + 1];
	berth_status st;

	(void)state;
	assert_int_equal(docker_container_create(docker, &spec, id, 30000, &err), 0);

	r = launch_ok("");
	assert_string_equal(r->service->service_id, "demo_instance_2");
	assert_int_equal(r->n_skipped_instances, 1);
	assert_string_equal(r->skipped_instances[0], "instance_1");
	assert_int_equal(remove_service(r->service->service_id, true, false), 0);
	berth_reply_free(&r->base);

	/* Named explicitly: refused, and the other container is untouched. */
	assert_null(launch("demo", "instance_1", 0, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__ALREADY_EXISTS);
	assert_int_equal(docker_container_inspect(docker, id, &c, 30000, &err), 0);
	assert_string_equal(c.state, "created");

	assert_int_equal(docker_container_remove(docker, id, true, 30000, &err), 0);
}

/* Stop keeps the row and the port; restart brings it back. */
static void
test_stop_all_of_a_template_then_restart_one(void **state)
{
	Berth__V1__ListServicesRequest list = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	Berth__V1__ListServicesResponse *services = NULL;
	Berth__V1__GetStatsRequest stats_req = BERTH__V1__GET_STATS_REQUEST__INIT;
	Berth__V1__GetStatsResponse *stats = NULL;
	Berth__V1__RestartServiceRequest restart = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	Berth__V1__RestartServiceResponse *restarted = NULL;
	Berth__V1__GetServiceResponse *s;
	berth_status st;
	char *body = NULL;

	(void)state;
	berth_reply_free(&launch_ok("")->base);
	berth_reply_free(&launch_ok("")->base);

	list.template_ = "demo";
	assert_int_equal(call("ListServices", &list.base, (ProtobufCMessage **)&services, &st), 0);
	assert_int_equal(services->n_services, 2);
	for (size_t i = 0; i < services->n_services; i++) {
		Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
		Berth__V1__StopServiceResponse *stopped = NULL;

		stop.service_id = services->services[i]->service_id;
		assert_int_equal(call("StopService", &stop.base, (ProtobufCMessage **)&stopped, &st), 0);
		assert_string_equal(stopped->service->status, "stopped");
		berth_reply_free(&stopped->base);
	}
	berth_reply_free(&services->base);

	s = get_service("demo_instance_1", &st);
	assert_non_null(s);
	assert_string_equal(s->service->status, "stopped");
	assert_string_equal(s->service->container->state, "exited");
	berth_reply_free(&s->base);

	assert_int_equal(call("GetStats", &stats_req.base, (ProtobufCMessage **)&stats, &st), 0);
	assert_int_equal(stats->total_services, 2);
	assert_int_equal(stats->stopped_services, 2);
	assert_int_equal(stats->n_used_ports, 2); /* stopped services keep their ports */
	berth_reply_free(&stats->base);

	restart.service_id = "demo_instance_2";
	assert_int_equal(call("RestartService", &restart.base, (ProtobufCMessage **)&restarted, &st), 0);
	assert_string_equal(restarted->service->status, "running");
	assert_int_equal(http_get((uint16_t)restarted->service->port, "/health", 5000, &body), 200);
	free(body);
	berth_reply_free(&restarted->base);
}

/* Remove with and without purge. */
static void
test_remove_keeps_the_directory_unless_purged(void **state)
{
	Berth__V1__LaunchServiceResponse *a = launch_ok("keep");
	Berth__V1__LaunchServiceResponse *b = launch_ok("purge");
	berth_status st;
	struct docker_container c;
	struct error err;

	(void)state;
	write_file(a->service->project_dir, "data.txt", "kept");
	assert_int_equal(remove_service("demo_keep", false, false), 0);
	assert_true(dir_exists(a->service->project_dir));
	assert_int_equal(docker_container_inspect(docker, a->service->container_id, &c, 10000, &err),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_null(get_service("demo_keep", &st));
	assert_int_equal(st.code, BERTH__V1__CODE__NOT_FOUND);

	assert_int_equal(remove_service("demo_purge", true, false), 0);
	assert_false(dir_exists(b->service->project_dir));
	assert_int_equal(remove_service("demo_purge", true, false), BERTH__V1__CODE__NOT_FOUND);

	berth_reply_free(&a->base);
	berth_reply_free(&b->base);
}

/* A container deleted outside berth is recreated by restart: same port, same data. */
static void
test_restart_recreates_a_container_removed_behind_berths_back(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok("phoenix");
	Berth__V1__RestartServiceRequest restart = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	Berth__V1__RestartServiceResponse *back = NULL;
	struct error err;
	Berth__V1__GetServiceResponse *s;
	berth_status st;
	char *body = NULL;

	(void)state;
	write_file(r->service->project_dir, "survivor.txt", "still here");
	assert_int_equal(docker_container_remove(docker, r->service->container_id, true, 30000, &err), 0);

	s = get_service("demo_phoenix", &st);
	assert_non_null(s);
	assert_string_equal(s->service->container->state, "missing");
	berth_reply_free(&s->base);

	restart.service_id = "demo_phoenix";
	assert_int_equal(call("RestartService", &restart.base, (ProtobufCMessage **)&back, &st), 0);
	assert_int_equal(back->service->port, r->service->port);
	assert_string_not_equal(back->service->container_id, r->service->container_id);
	assert_int_equal(http_get((uint16_t)back->service->port, "/files/survivor.txt", 5000, &body),
	    200);
	assert_string_equal(body, "still here");
	free(body);
	berth_reply_free(&back->base);
	berth_reply_free(&r->base);
}

/* An unknown template: "Template 'x' not found. Available templates: ..." */
static void
test_unknown_template_lists_the_available_ones(void **state)
{
	berth_status st;

	(void)state;
	assert_null(launch("invalid_template", "", 0, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__NOT_FOUND);
	assert_string_equal(st.message,
	    "Template 'invalid_template' not found. Available templates: auth_service, buckets, "
	    "database_service, db, demo, file_manager");
}

static void
test_bad_names_and_taken_ports_are_refused(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok("taken");
	const char *bad[] = { "../escape", "Upper", "a/b", "..", "-dash",
		"a234567890123456789012345678901234567890123456789012345678901234" };
	berth_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(launch("demo", bad[i], 0, &st));
		assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
		assert_string_equal(st.field, "instance");
	}
	assert_null(launch("demo", "taken", 0, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__ALREADY_EXISTS);
	assert_null(launch("demo", "other", r->service->port, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__ALREADY_EXISTS);
	assert_string_equal(st.field, "port");
	assert_null(launch("demo", "other", 70000, &st));
	assert_int_equal(st.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	berth_reply_free(&r->base);
}

/* A launch that fails at start leaves nothing: no container, no row, port free. */
static void
test_failed_launch_is_undone(void **state)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__DeleteTemplateRequest del = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	Berth__V1__GetStatsRequest stats_req = BERTH__V1__GET_STATS_REQUEST__INIT;
	Berth__V1__GetStatsResponse *stats = NULL;
	ProtobufCMessage *reply = NULL;
	struct docker_container c;
	struct error err;
	berth_status st;

	(void)state;
	t.name = "broken";
	t.image = DEMO_IMAGE;
	t.container_port = 8000;
	t.port_range_start = base_port + 50;
	t.port_range_end = base_port + 59;
	/* A directory mounted over the image's only file: Docker's start fails. */
	t.mount_path = "/berth-demo";
	put.template_ = &t;
	assert_int_equal(call("PutTemplate", &put.base, &reply, &st), 0);
	berth_reply_free(reply);

	assert_null(launch("broken", "", 0, &st));
	assert_int_not_equal(st.code, BERTH__V1__CODE__OK);
	assert_int_equal(docker_container_inspect(docker, "broken_instance_1", &c, 10000, &err),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_int_equal(call("GetStats", &stats_req.base, (ProtobufCMessage **)&stats, &st), 0);
	assert_int_equal(stats->total_services, 0);
	assert_int_equal(stats->n_used_ports, 0);
	berth_reply_free(&stats->base);

	del.name = "broken";
	assert_int_equal(call("DeleteTemplate", &del.base, &reply, &st), 0);
	berth_reply_free(reply);
}

struct launch_result {
	uint32_t port;
	char id[128];
	int code;
};

static void *
launch_thread(void *arg)
{
	struct launch_result *out = arg;
	berth_status st;
	Berth__V1__LaunchServiceResponse *r = launch("demo", "", 0, &st);

	out->code = st.code;
	if (r != NULL) {
		out->port = r->service->port;
		snprintf(out->id, sizeof(out->id), "%s", r->service->service_id);
		berth_reply_free(&r->base);
	}
	return NULL;
}

/* Race-free allocation: 20 launches at once get 20 distinct ports and names. */
static void
test_concurrent_launches_get_distinct_ports_and_names(void **state)
{
	struct launch_result results[CONCURRENT_LAUNCHES];
	pthread_t threads[CONCURRENT_LAUNCHES];

	(void)state;
	memset(results, 0, sizeof(results));
	for (int i = 0; i < CONCURRENT_LAUNCHES; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, launch_thread, &results[i]), 0);
	for (int i = 0; i < CONCURRENT_LAUNCHES; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < CONCURRENT_LAUNCHES; i++) {
		assert_int_equal(results[i].code, BERTH__V1__CODE__OK);
		for (int j = 0; j < i; j++) {
			assert_int_not_equal(results[i].port, results[j].port);
			assert_string_not_equal(results[i].id, results[j].id);
		}
	}
}

/* Health names the engine and its version: "docker 20.10.24", "podman 4.3.1". */
static void
test_health_names_the_engine(void **state)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *rep = NULL;
	const char *engine = getenv("BERTH_TEST_ENGINE");
	char want[32];
	berth_status st;

	(void)state;
	assert_int_equal(berth_call(dmn.client, "Health", &req.base, (ProtobufCMessage **)&rep, &st),
	    0);
	snprintf(want, sizeof(want), "%s ", engine != NULL ? engine : "docker");
	print_message("engine: %s\n", rep->engine);
	assert_true(rep->docker_available);
	assert_true(strncmp(rep->engine, want, strlen(want)) == 0);
	assert_true(strlen(rep->engine) > strlen(want)); /* and a version */
	berth_reply_free(&rep->base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_three_launches_get_consecutive_ports_and_own_directories,
		    teardown_test),
		cmocka_unit_test_teardown(test_ports_held_by_a_listener_or_a_foreign_container_are_skipped,
		    teardown_test),
		cmocka_unit_test_teardown(
		    test_auto_named_launch_passes_over_a_name_taken_outside_the_registry, teardown_test),
		cmocka_unit_test_teardown(test_stop_all_of_a_template_then_restart_one, teardown_test),
		cmocka_unit_test_teardown(test_remove_keeps_the_directory_unless_purged, teardown_test),
		cmocka_unit_test_teardown(test_restart_recreates_a_container_removed_behind_berths_back,
		    teardown_test),
		cmocka_unit_test_teardown(test_unknown_template_lists_the_available_ones, teardown_test),
		cmocka_unit_test_teardown(test_bad_names_and_taken_ports_are_refused, teardown_test),
		cmocka_unit_test_teardown(test_failed_launch_is_undone, teardown_test),
		cmocka_unit_test_teardown(test_concurrent_launches_get_distinct_ports_and_names,
		    teardown_test),
		cmocka_unit_test_teardown(test_health_names_the_engine, teardown_test),
	};

	return cmocka_run_group_tests_name("lifecycle", tests, setup_group, teardown_group);
}
