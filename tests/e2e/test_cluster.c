/*
 * test_cluster.c - the swarm backend on a real three-node cluster: a berthd
 * with --backend swarm and --registry talking to node 1's engine, tasks
 * spread over the nodes, a node killed and brought back, a node drained,
 * Swarm's restart policy, a rollout rolled back, scale with a berthd
 * restart in between, and nothing left on any node afterwards.
 *
 * The cluster is tests/cluster-up.sh's (make test-cluster brings it up
 * before this binary and down after it): nodes berth-n1..3 in network
 * namespaces, their engines at $CLUSTER_DIR/nN/docker.sock, addresses in
 * nN/address, a registry at the address in $CLUSTER_DIR/registry. HTTP
 * goes only to those node addresses. The host's Docker engine is not used.
 *
 * Publishing is host mode (this kernel has no IPVS for Swarm's routing
 * mesh): a task answers on its own node's address, and two tasks of one
 * service never share a node (the published port is the node's).
 *
 * Everything the tests make carries berth's data-dir label: the group
 * teardown removes the services on the cluster, then the containers,
 * volumes and the registry's image tags on each node, also after a failed
 * test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "e2e.h"
#include "clock.h"
#include "engine/docker.h"

#define NODES 3
#define REPLICAS 2
#define FAILOVER_LIMIT_MS 30000 /* the promise: replicas elsewhere within 30 s */

static struct e2e_daemon dmn;
static char cluster_dir[PATH_MAX];
static char registry[64];                  /* HOST:PORT */
static char node_address[NODES + 1][32];   /* [1..3] */
static char node_name[NODES + 1][32];      /* berth-n1.. */
static struct docker *node_docker[NODES + 1];
static uint16_t base_port;
static char berthd_registry_arg[80];
static const char *berthd_args[] = { "--backend", "swarm", "--registry", berthd_registry_arg,
	NULL };

/* --- the cluster ------------------------------------------------------------------ */

static int
read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");

	if (f == NULL || fgets(out, (int)len, f) == NULL) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* tests/cluster-up.sh VERB N: "kill" node N, or "start" it again. */
static int
cluster(const char *verb, int n)
{
	char num[4];
	const char *argv[] = { "sh", "tests/cluster-up.sh", verb, num, NULL };
	char *out = NULL, *err = NULL;
	int rc;

	snprintf(num, sizeof(num), "%d", n);
	rc = run_program(argv, &out, &err);
	if (rc != 0)
		fprintf(stderr, "cluster-up.sh %s %d: %s%s\n", verb, n, out ? out : "", err ? err : "");
	free(out);
	free(err);
	return rc;
}

/* GET path on node n's engine, parsed; NULL when it does not answer. */
static json_t *
node_get(int n, const char *path)
{
	char *body = NULL;
	struct error err;
	json_t *j;

	if (docker_api_request(node_docker[n], "GET", path, NULL, 0, &body, NULL, 10000, &err) !=
	    0)
		return NULL;
	j = json_loads(body, 0, NULL);
	free(body);
	return j;
}

/* The node number of a host name, 0 when none. */
static int
node_of(const char *hostname)
{
	for (int n = 1; n <= NODES; n++)
		if (strcmp(node_name[n], hostname) == 0)
			return n;
	return 0;
}

/* GET http://ADDRESS:port/ once (3 s at most); the HTTP status, 0 when none. */
static long
http_status(const char *address, uint16_t port)
{
	CURL *c = curl_easy_init();
	char url[80];
	long status = 0;

	if (c == NULL)
		return 0;
	snprintf(url, sizeof(url), "http://%s:%u/", address, port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

/* --- berth -------------------------------------------------------------------------- */

static int
call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply, berth_status *st)
{
	return berth_call(dmn.client, method, req, reply, st);
}

static Berth__V1__GetServiceResponse *
get_service(const char *id)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	req.service_id = (char *)id;
	if (call("GetService", &req.base, &reply, &st) != 0)
		return NULL;
	return (Berth__V1__GetServiceResponse *)reply;
}

/*
 * Where the service's tasks run, as Swarm says now (GetService's tasks):
 * a bit per node number, and how many tasks run.
 */
static unsigned
running_on(const char *id, int *n_running)
{
	Berth__V1__GetServiceResponse *r = get_service(id);
	unsigned mask = 0;

	*n_running = 0;
	if (r == NULL)
		return 0;
	for (size_t i = 0; i < r->service->n_tasks; i++) {
		const Berth__V1__Task *t = r->service->tasks[i];

		if (strcmp(t->state, "running") == 0 && strcmp(t->desired_state, "running") == 0) {
			(*n_running)++;
			mask |= 1u << node_of(t->node);
		}
	}
	berth_reply_free(&r->base);
	return mask;
}

/* Prints the service's tasks: what a failed wait saw. */
static void
dump_tasks(const char *id)
{
	Berth__V1__GetServiceResponse *r = get_service(id);

	for (size_t i = 0; r != NULL && i < r->service->n_tasks; i++) {
		const Berth__V1__Task *t = r->service->tasks[i];

		printf("#   task %.12s node=%s state=%s desired=%s %s %s\n", t->id, t->node, t->state,
		    t->desired_state, t->message, t->error);
	}
	if (r != NULL)
		berth_reply_free(&r->base);
}

/* Whether `want` tasks run on `want` distinct nodes, none of them in `avoid`. */
static bool
spread(const char *id, int want, unsigned avoid, unsigned *mask)
{
	int n;

	*mask = running_on(id, &n);
	return n == want && __builtin_popcount(*mask) == want && (*mask & avoid) == 0;
}

/* The image a swarm service's spec names, as node 1 tells it, into out ("" when none). */
static void
service_image(const char *id, char *out, size_t len)
{
	char path[200];
	json_t *svc, *spec;
	const char *image;

	snprintf(path, sizeof(path), "/services/%s", id);
	svc = node_get(1, path);
	spec = json_object_get(json_object_get(json_object_get(svc, "Spec"), "TaskTemplate"),
	    "ContainerSpec");
	image = json_string_value(json_object_get(spec, "Image"));
	snprintf(out, len, "%s", image != NULL ? image : "");
	json_decref(svc);
}

/* StartRollout, then GetRollout until it is neither pending nor running (3 min at most). */
static Berth__V1__GetRolloutResponse *
rollout_run(const Berth__V1__StartRolloutRequest *req)
{
	Berth__V1__GetRolloutRequest get = BERTH__V1__GET_ROLLOUT_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	char rollout_id[64];

	if (call("StartRollout", &req->base, &reply, &st) != 0)
		fail_msg("StartRollout %s: %s: %s", req->template_, berth_code_name(st.code),
		    st.message);
	snprintf(rollout_id, sizeof(rollout_id), "%s",
	    ((Berth__V1__StartRolloutResponse *)reply)->rollout->id);
	berth_reply_free(reply);
	get.id = rollout_id;
	for (int64_t until = clock_monotonic_ms() + 180000; clock_monotonic_ms() < until;) {
		Berth__V1__Rollout *r;

		reply = NULL;
		assert_int_equal(call("GetRollout", &get.base, &reply, &st), 0);
		r = ((Berth__V1__GetRolloutResponse *)reply)->rollout;
		if (strcmp(r->state, "running") != 0 && strcmp(r->state, "pending") != 0)
			return (Berth__V1__GetRolloutResponse *)reply;
		berth_reply_free(reply);
		clock_sleep_ms(500);
	}
	fail_msg("rollout %s did not end within 3 minutes", rollout_id);
	return NULL;
}

/* The placement berth keeps (ListServices' nodes) as a node mask; ~0u when absent. */
static unsigned
listed_nodes(const char *id)
{
	Berth__V1__ListServicesResponse *r = e2e_list_services(dmn.client, NULL);
	unsigned mask = ~0u;

	if (r == NULL)
		return mask;
	for (size_t i = 0; i < r->n_services; i++) {
		if (strcmp(r->services[i]->service_id, id) != 0)
			continue;
		mask = 0;
		for (size_t j = 0; j < r->services[i]->n_nodes; j++)
			mask |= 1u << node_of(r->services[i]->nodes[j]);
	}
	berth_reply_free(&r->base);
	return mask;
}

static Berth__V1__ListNodesResponse *
list_nodes(void)
{
	Berth__V1__ListNodesRequest req = BERTH__V1__LIST_NODES_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	if (call("ListNodes", &req.base, &reply, &st) != 0) {
		fprintf(stderr, "ListNodes: %s\n", st.message);
		return NULL;
	}
	return (Berth__V1__ListNodesResponse *)reply;
}

/* Node n's field as ListNodes says: "availability" or "state"; "" when absent. */
static bool
node_is(int n, const char *field, const char *want)
{
	Berth__V1__ListNodesResponse *r = list_nodes();
	bool is = false;

	for (size_t i = 0; r != NULL && i < r->n_nodes; i++) {
		const Berth__V1__Node *node = r->nodes[i];

		if (strcmp(node->hostname, node_name[n]) == 0)
			is = strcmp(strcmp(field, "state") == 0 ? node->state : node->availability,
				 want) == 0;
	}
	if (r != NULL)
		berth_reply_free(&r->base);
	return is;
}

/* Running containers of a Swarm service over every node that answers. */
static int
running_containers(const char *swarm_service_id)
{
	char path[300];
	int total = 0;

	snprintf(path, sizeof(path),
	    "/containers/json?filters=%%7B%%22label%%22%%3A%%5B%%22com.docker.swarm.service.id%%3D%s"
	    "%%22%%5D%%7D",
	    swarm_service_id);
	for (int n = 1; n <= NODES; n++) {
		json_t *list = node_get(n, path);

		if (list != NULL)
			total += (int)json_array_size(list);
		json_decref(list);
	}
	return total;
}

/* Whether an event of `type` about the service was published after `after`. */
static bool
event_seen(const char *id, Berth__V1__Event__Type type, uint64_t after)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	Berth__V1__WatchEventsResponse *r;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	bool seen = false;

	req.after_sequence = after;
	req.max_events = 1000;
	req.service_id = (char *)id;
	if (call("WatchEvents", &req.base, &reply, &st) != 0)
		return false;
	r = (Berth__V1__WatchEventsResponse *)reply;
	for (size_t i = 0; i < r->n_events; i++)
		if (r->events[i]->type == type) {
			printf("# event: %s\n", r->events[i]->message);
			seen = true;
		}
	berth_reply_free(reply);
	return seen;
}

/* The last event sequence now. */
static uint64_t
last_sequence(void)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	uint64_t last = 0;

	req.after_sequence = ~(uint64_t)0 >> 1;
	if (call("WatchEvents", &req.base, &reply, &st) == 0) {
		last = ((Berth__V1__WatchEventsResponse *)reply)->last_sequence;
		berth_reply_free(reply);
	}
	return last;
}

static void
demo_template(Berth__V1__Template *t, const char *name, uint16_t first, uint16_t n)
{
	berth__v1__template__init(t);
	e2e_demo_template(t, name, first, (uint16_t)(first + n - 1));
	t->publish_mode = "host";
	t->replicas = REPLICAS;
	/*
	 * Swarm replaces a task lost with its node (or drained away) only under
	 * a restart condition other than "none": "no" would leave it lost.
	 */
	t->restart = "on-failure";
}

static void
put_template(Berth__V1__Template *t)
{
	berth_status st;

	if (e2e_put_template(dmn.client, t, &st) != 0)
		fail_msg("PutTemplate %s: %s", t->name, st.message);
}

/* A launch of `tmpl` that must succeed; its service id and port. */
static void
launch_ok(const char *tmpl, char *id, size_t len, uint16_t *port)
{
	Berth__V1__LaunchServiceResponse *r;
	berth_status st;

	r = e2e_launch(dmn.client, tmpl, "", 0, &st);
	if (r == NULL)
		fail_msg("launch %s: %s: %s", tmpl, berth_code_name(st.code), st.message);
	snprintf(id, len, "%s", r->service->service_id);
	if (port != NULL)
		*port = (uint16_t)r->service->port;
	berth_reply_free(&r->base);
}

/* Swarm's id of a service berth runs (the registry's container_id). */
static void
swarm_id_of(const char *id, char *out, size_t len)
{
	Berth__V1__GetServiceResponse *r = get_service(id);

	assert_non_null(r);
	snprintf(out, len, "%s", r->service->container_id);
	berth_reply_free(&r->base);
}

/* --- fixture -------------------------------------------------------------------------- */

/* Removes, on every node, what carries this run's label, and the registry's image tags. */
static void
remove_leftovers(void)
{
	char filter[PATH_MAX + 200], *esc, path[PATH_MAX + 400];
	struct error err;

	if (dmn.label[0] == '\0')
		return;
	snprintf(filter, sizeof(filter), "{\"label\":[\"%s\"]}", dmn.label);
	esc = curl_easy_escape(NULL, filter, 0);
	for (int n = 1; n <= NODES; n++) {
		json_t *list, *item;
		size_t i;

		if (node_docker[n] == NULL || esc == NULL)
			continue;
		if (n == 1 && (list = (snprintf(path, sizeof(path), "/services?filters=%s", esc),
				      node_get(1, path))) != NULL) {
			json_array_foreach (list, i, item) {
				snprintf(path, sizeof(path), "/services/%s",
				    json_string_value(json_object_get(item, "ID")));
				docker_api_request(node_docker[1], "DELETE", path, NULL, 0, NULL, NULL,
				    10000, &err);
			}
			json_decref(list);
		}
		snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s", esc);
		if ((list = node_get(n, path)) != NULL) {
			json_array_foreach (list, i, item) {
				snprintf(path, sizeof(path), "/containers/%s?force=1&v=1",
				    json_string_value(json_object_get(item, "Id")));
				docker_api_request(node_docker[n], "DELETE", path, NULL, 0, NULL, NULL,
				    30000, &err);
			}
			json_decref(list);
		}
		snprintf(path, sizeof(path), "/volumes?filters=%s", esc);
		if ((list = node_get(n, path)) != NULL) {
			json_array_foreach (json_object_get(list, "Volumes"), i, item) {
				snprintf(path, sizeof(path), "/volumes/%s?force=1",
				    json_string_value(json_object_get(item, "Name")));
				docker_api_request(node_docker[n], "DELETE", path, NULL, 0, NULL, NULL,
				    10000, &err);
			}
			json_decref(list);
		}
	}
	curl_free(esc);
}

/* The image tags and digests of the cluster's registry on each node: pulled for this run. */
static void
remove_registry_images(void)
{
	struct error err;

	for (int n = 1; n <= NODES; n++) {
		json_t *list = node_docker[n] != NULL ? node_get(n, "/images/json") : NULL, *img;
		size_t i;

		json_array_foreach (list, i, img) {
			const char *id = json_string_value(json_object_get(img, "Id"));
			char blob[4096] = "", path[200];

			json_t *tags = json_object_get(img, "RepoTags"),
			       *digests = json_object_get(img, "RepoDigests");
			char *t = json_dumps(tags, 0), *d = json_dumps(digests, 0);

			snprintf(blob, sizeof(blob), "%s %s", t ? t : "", d ? d : "");
			free(t);
			free(d);
			if (id == NULL || strstr(blob, registry) == NULL)
				continue;
			snprintf(path, sizeof(path), "/images/%s?force=1", id);
			docker_api_request(node_docker[n], "DELETE", path, NULL, 0, NULL, NULL, 30000,
			    &err);
		}
		json_decref(list);
	}
}

static int
setup_group(void **state)
{
	Berth__V1__Template web;
	const char *dir = getenv("CLUSTER_DIR");
	char path[PATH_MAX + 32];
	struct error err;

	(void)state;
	snprintf(cluster_dir, sizeof(cluster_dir), "%s", dir != NULL ? dir : "/run/berth-cluster");
	snprintf(path, sizeof(path), "%s/ready", cluster_dir);
	if (access(path, F_OK) != 0 || e2e_demo_context() == NULL) {
		fprintf(stderr, "test_cluster: no cluster at %s (sh tests/cluster-up.sh; make "
				"test-cluster does it)\n",
		    cluster_dir);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/registry", cluster_dir);
	if (read_line(path, registry, sizeof(registry)) != 0)
		return -1;
	snprintf(berthd_registry_arg, sizeof(berthd_registry_arg), "%s", registry);
	for (int n = 1; n <= NODES; n++) {
		char host[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/n%d/address", cluster_dir, n);
		snprintf(node_name[n], sizeof(node_name[n]), "berth-n%d", n);
		snprintf(host, sizeof(host), "unix://%s/n%d/docker.sock", cluster_dir, n);
		if (read_line(path, node_address[n], sizeof(node_address[n])) != 0 ||
		    docker_open(&node_docker[n], host, &err) != 0) {
			fprintf(stderr, "test_cluster: node %d: %s\n", n, err.message);
			return -1;
		}
	}
	/* berthd and this binary's own Docker calls go to node 1, a manager. */
	snprintf(path, sizeof(path), "unix://%s/n1/docker.sock", cluster_dir);
	setenv("DOCKER_HOST", path, 1);
	if (e2e_daemon_start(&dmn, berthd_args) != 0)
		return -1;
	base_port = (uint16_t)(21000 + (getpid() % 20) * 50);
	demo_template(&web, "web", base_port, 20);
	put_template(&web);
	return 0;
}

/* Every node up and active again: what a failed test may have left killed or drained. */
static void
cluster_restore(void)
{
	for (int n = 2; n <= NODES; n++)
		cluster("start", n);
	for (int n = 1; dmn.client != NULL && n <= NODES; n++) {
		Berth__V1__SetNodeAvailabilityRequest req = BERTH__V1__SET_NODE_AVAILABILITY_REQUEST__INIT;
		ProtobufCMessage *reply = NULL;
		berth_status st;

		if (node_is(n, "availability", "active"))
			continue;
		req.node = node_name[n];
		req.availability = "active";
		if (call("SetNodeAvailability", &req.base, &reply, &st) == 0)
			berth_reply_free(reply);
	}
}

static int
teardown_group(void **state)
{
	(void)state;
	cluster_restore();
	if (dmn.client != NULL)
		e2e_remove_all_services(dmn.client);
	e2e_daemon_destroy(&dmn, false);
	remove_leftovers();
	remove_registry_images();
	for (int n = 1; n <= NODES; n++)
		docker_close(node_docker[n]);
	return 0;
}

static int
teardown_test(void **state)
{
	(void)state;
	cluster_restore();
	if (dmn.client != NULL)
		e2e_remove_all_services(dmn.client);
	return 0;
}

/* --- tests --------------------------------------------------------------------------- */

/*
 * Two replicas land on two nodes, answer on both nodes' addresses, and
 * berth names the nodes (GetService's tasks, ListServices' nodes, `berth
 * ls`). The image was built on node 1 from the build context and pushed to
 * the registry: a node that never built it pulled it from there.
 */
static void
test_replicas_spread_over_nodes_and_the_image_reaches_them(void **state)
{
	char id[160], *out = NULL, *err = NULL;
	int64_t t0 = clock_monotonic_ms();
	unsigned mask = 0;
	bool pulled = false;
	uint16_t port;

	(void)state;
	launch_ok("web", id, sizeof(id), &port);
	assert_true(E2E_WAIT_UNTIL(spread(id, REPLICAS, 0, &mask), 60000));
	printf("# launch to %d replicas running on the cluster: %lld ms\n", REPLICAS,
	    (long long)(clock_monotonic_ms() - t0));
	for (int n = 1; n <= NODES; n++) {
		if ((mask & (1u << n)) == 0)
			continue;
		assert_true(E2E_WAIT_UNTIL(http_status(node_address[n], port) == 200, 20000));
		if (n != 1) {
			json_t *images = node_get(n, "/images/json");
			char *dump = json_dumps(images, 0);

			pulled = pulled || (dump != NULL && strstr(dump, registry) != NULL);
			free(dump);
			json_decref(images);
		}
	}
	assert_true(pulled); /* a node other than node 1 runs it, from the registry */
	assert_true(E2E_WAIT_UNTIL(listed_nodes(id) == mask, 10000));

	/* The same launch kept on berthd's own node, one replica: the single-engine case. */
	{
		static char constraint[64];
		char *constraints[1] = { constraint };
		Berth__V1__Template one;
		char one_id[160];
		unsigned one_mask;

		demo_template(&one, "one", (uint16_t)(base_port + 45), 5);
		one.replicas = 1;
		snprintf(constraint, sizeof(constraint), "node.hostname==%s", node_name[1]);
		one.constraints = constraints;
		one.n_constraints = 1;
		put_template(&one);
		t0 = clock_monotonic_ms();
		launch_ok("one", one_id, sizeof(one_id), NULL);
		assert_true(E2E_WAIT_UNTIL(spread(one_id, 1, 0, &one_mask), 60000));
		printf("# launch to 1 replica pinned to %s: %lld ms\n", node_name[1],
		    (long long)(clock_monotonic_ms() - t0));
		assert_int_equal(one_mask, 1u << 1);
	}

	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "ls", NULL), 0);
	assert_non_null(strstr(out, "NODE"));
	for (int n = 1; n <= NODES; n++)
		if (mask & (1u << n))
			assert_non_null(strstr(out, node_name[n]));
	free(out);
	free(err);
}

/*
 * A node that runs a replica dies (its dockerd, containerd and containers
 * killed): Swarm runs the replica on the third node; berth's placement and
 * an event say so. The node comes back: its old task is not run again, so
 * two replicas run in all, not three.
 */
static void
test_a_dead_node_s_replica_moves_and_is_not_duplicated_when_it_returns(void **state)
{
	char id[160], swarm_id[80];
	unsigned mask = 0, after = 0;
	uint64_t seq;
	int victim = 0;
	int64_t t0, took;

	(void)state;
	launch_ok("web", id, sizeof(id), NULL);
	assert_true(E2E_WAIT_UNTIL(spread(id, REPLICAS, 0, &mask), 60000));
	swarm_id_of(id, swarm_id, sizeof(swarm_id));
	for (int n = NODES; n >= 2 && victim == 0; n--) /* not node 1: berthd talks to it */
		if (mask & (1u << n))
			victim = n;
	assert_true(victim != 0);
	assert_true(E2E_WAIT_UNTIL(listed_nodes(id) == mask, 10000));
	seq = last_sequence();

	t0 = clock_monotonic_ms();
	assert_int_equal(cluster("kill", victim), 0);
	if (!E2E_WAIT_UNTIL(spread(id, REPLICAS, 1u << victim, &after), FAILOVER_LIMIT_MS)) {
		dump_tasks(id);
		fail_msg("the replicas do not run away from %s", node_name[victim]);
	}
	took = clock_monotonic_ms() - t0;
	printf("# failover: node %s killed -> %d replicas running elsewhere in %lld ms\n",
	    node_name[victim], REPLICAS, (long long)took);
	assert_true(E2E_WAIT_UNTIL(listed_nodes(id) == after, 5000));
	assert_true(E2E_WAIT_UNTIL(event_seen(id, BERTH__V1__EVENT__TYPE__SERVICE_PLACEMENT_CHANGED,
					seq),
	    5000));
	assert_true(E2E_WAIT_UNTIL(node_is(victim, "state", "down"), 30000));

	assert_int_equal(cluster("start", victim), 0);
	assert_true(E2E_WAIT_UNTIL(node_is(victim, "state", "ready"), 60000));
	/* The returning node stops what it ran before it died. */
	assert_true(E2E_WAIT_UNTIL(running_containers(swarm_id) == REPLICAS, 30000));
	clock_sleep_ms(3000);
	assert_int_equal(running_containers(swarm_id), REPLICAS);
	assert_true(spread(id, REPLICAS, 0, &mask));
	assert_int_equal(mask, after);
}

/* `berth node drain` moves the node's replica away; `berth node activate` takes it back in. */
static void
test_draining_a_node_moves_its_replica_and_activate_undoes_it(void **state)
{
	char id[160], *out = NULL, *err = NULL;
	unsigned mask = 0;
	int drained = 0;

	(void)state;
	launch_ok("web", id, sizeof(id), NULL);
	assert_true(E2E_WAIT_UNTIL(spread(id, REPLICAS, 0, &mask), 60000));
	for (int n = NODES; n >= 1 && drained == 0; n--)
		if (mask & (1u << n))
			drained = n;

	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "node", "drain", node_name[drained], NULL),
	    0);
	assert_non_null(strstr(out, "drain"));
	free(out);
	free(err);
	assert_true(node_is(drained, "availability", "drain"));
	assert_true(E2E_WAIT_UNTIL(spread(id, REPLICAS, 1u << drained, &mask), 60000));

	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "nodes", NULL), 0);
	assert_non_null(strstr(out, node_name[drained]));
	assert_non_null(strstr(out, "drain"));
	free(out);
	free(err);

	assert_int_equal(berth_cli(&dmn.proc, &out, &err, "node", "activate", node_name[drained],
			     NULL),
	    0);
	free(out);
	free(err);
	assert_true(node_is(drained, "availability", "active"));
}

/*
 * The template's restart policy is the tasks': a killed task of an
 * "on-failure" template is replaced by Swarm; one of a "no" template is not.
 */
static void
test_swarm_restarts_a_killed_task_per_the_template_policy(void **state)
{
	Berth__V1__Template again, never;
	char id_again[160], id_never[160];
	unsigned mask;
	int n;

	(void)state;
	demo_template(&again, "again", (uint16_t)(base_port + 20), 10);
	again.replicas = 1;
	again.restart = "on-failure";
	put_template(&again);
	demo_template(&never, "never", (uint16_t)(base_port + 30), 10);
	never.replicas = 1;
	never.restart = "no";
	put_template(&never);
	launch_ok("again", id_again, sizeof(id_again), NULL);
	launch_ok("never", id_never, sizeof(id_never), NULL);
	assert_true(E2E_WAIT_UNTIL(spread(id_again, 1, 0, &mask), 60000));
	assert_true(E2E_WAIT_UNTIL(spread(id_never, 1, 0, &mask), 60000));

	for (int k = 0; k < 2; k++) {
		const char *id = k == 0 ? id_again : id_never;
		Berth__V1__GetServiceResponse *r = get_service(id);
		char path[200];
		struct error err;
		int node = 0;

		assert_non_null(r);
		for (size_t i = 0; i < r->service->n_tasks && node == 0; i++)
			if (strcmp(r->service->tasks[i]->state, "running") == 0) {
				node = node_of(r->service->tasks[i]->node);
				snprintf(path, sizeof(path), "/containers/%s/kill",
				    r->service->tasks[i]->container_id);
			}
		berth_reply_free(&r->base);
		assert_true(node != 0);
		assert_int_equal(docker_api_request(node_docker[node], "POST", path, NULL, 0, NULL,
				     NULL, 10000, &err),
		    0);
	}
	/* Swarm's restart delay is 1 s: a replacement runs within seconds. */
	assert_true(E2E_WAIT_UNTIL((running_on(id_again, &n), n == 1), 30000));
	clock_sleep_ms(5000);
	running_on(id_never, &n);
	assert_int_equal(n, 0);
}

/* A rollout to a revision whose health check never passes: Swarm rolls it back, berth says so. */
static void
test_a_rollout_to_a_never_healthy_revision_is_rolled_back(void **state)
{
	static char *ok_check[] = { "/berth-demo", "check" };
	static char *bad_check[] = { "/berth-demo", "emit", "exit", "1" };
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	Berth__V1__StartRolloutRequest req = BERTH__V1__START_ROLLOUT_REQUEST__INIT;
	Berth__V1__GetRolloutResponse *g;
	Berth__V1__Template t;
	Berth__V1__Rollout *r;
	char id[160], state_now[32] = "";
	Berth__V1__GetServiceResponse *s;
	unsigned mask;
	uint32_t revision;

	(void)state;
	demo_template(&t, "roll", (uint16_t)(base_port + 40), 10);
	h.kind = "exec";
	h.exec_command = ok_check;
	h.n_exec_command = 2;
	h.interval_s = 1;
	h.timeout_s = 1;
	h.retries = 2;
	t.health = &h;
	put_template(&t);
	launch_ok("roll", id, sizeof(id), NULL);
	assert_true(E2E_WAIT_UNTIL(spread(id, REPLICAS, 0, &mask), 60000));
	assert_non_null(s = get_service(id));
	revision = s->service->revision;
	berth_reply_free(&s->base);

	h.exec_command = bad_check;
	h.n_exec_command = 4;
	put_template(&t);
	req.template_ = "roll";
	req.on_failure = "rollback";
	g = rollout_run(&req);
	r = g->rollout;
	snprintf(state_now, sizeof(state_now), "%s", r->state);
	printf("# rollout %s: %s\n", state_now, r->message);
	assert_string_equal(state_now, "failed");
	assert_int_equal(r->n_instances, 1);
	assert_string_equal(r->instances[0]->state, "rolled_back");
	berth_reply_free(&g->base);

	assert_non_null(s = get_service(id));
	assert_int_equal(s->service->revision, revision);
	berth_reply_free(&s->base);
	assert_true(E2E_WAIT_UNTIL(spread(id, REPLICAS, 0, &mask), 60000));
}

/*
 * rollout --rebuild of template tmpl: the image is built again on berthd's
 * node, pushed, and Swarm's update moves every replica to the new digest,
 * pulled by the nodes that run them.
 */
static void
rebuild_moves_every_replica(const char *tmpl, char id[160])
{
	static char *args[] = { "BERTH_REBUILD=1" };
	Berth__V1__StartRolloutRequest req = BERTH__V1__START_ROLLOUT_REQUEST__INIT;
	Berth__V1__GetRolloutResponse *g;
	Berth__V1__GetServiceResponse *s;
	char before[600], after[600];
	unsigned mask;
	uint32_t revision;
	uint16_t port;

	launch_ok(tmpl, id, 160, &port);
	assert_true(E2E_WAIT_UNTIL(spread(id, REPLICAS, 0, &mask), 60000));
	assert_non_null(s = get_service(id));
	revision = s->service->revision;
	berth_reply_free(&s->base);
	service_image(id, before, sizeof(before));
	assert_non_null(strstr(before, registry));
	assert_non_null(strstr(before, "@sha256:"));

	req.template_ = (char *)tmpl;
	req.rebuild = true;
	req.no_cache = true;
	req.build_args = args;
	req.n_build_args = 1;
	g = rollout_run(&req);
	printf("# rebuild rollout %s %s\n", g->rollout->state, g->rollout->message);
	assert_string_equal(g->rollout->state, "done");
	berth_reply_free(&g->base);

	service_image(id, after, sizeof(after));
	printf("# image before %s\n# image after  %s\n", before, after);
	assert_non_null(strstr(after, registry));
	assert_non_null(strstr(after, "@sha256:"));
	assert_string_not_equal(after, before);
	assert_non_null(s = get_service(id));
	assert_int_equal(s->service->revision, revision + 1);
	berth_reply_free(&s->base);
	assert_true(E2E_WAIT_UNTIL(spread(id, REPLICAS, 0, &mask), 60000));
	for (int n = 1; n <= NODES; n++)
		if (mask & (1u << n))
			assert_true(E2E_WAIT_UNTIL(http_status(node_address[n], port) == 200, 20000));
}

static void
test_a_rebuild_rollout_moves_every_replica_to_the_new_digest(void **state)
{
	char id[160];

	(void)state;
	rebuild_moves_every_replica("web", id);
}

/* A cached rebuild of tmpl (no build args) to its end: the service's revision after it. */
static uint32_t
cached_rebuild(const char *tmpl, const char *id)
{
	Berth__V1__StartRolloutRequest req = BERTH__V1__START_ROLLOUT_REQUEST__INIT;
	Berth__V1__GetRolloutResponse *g;
	Berth__V1__GetServiceResponse *s;
	uint32_t revision;

	req.template_ = (char *)tmpl;
	req.rebuild = true;
	g = rollout_run(&req);
	assert_string_equal(g->rollout->state, "done");
	berth_reply_free(&g->base);
	assert_non_null(s = get_service(id));
	revision = s->service->revision;
	berth_reply_free(&s->base);
	return revision;
}

/*
 * A template whose image already names the registry, built by berthd from
 * its build context: pushed under its own name and pinned like any other
 * (the registry had never seen it: the other node could not pull it), at
 * launch and again after a rebuild.
 */
static void
test_an_image_named_in_the_registry_is_pushed_when_berthd_builds_it(void **state)
{
	static char image[400];
	char id[160], before[600], after[600];
	Berth__V1__Template t;
	uint32_t revision;

	(void)state;
	demo_template(&t, "inreg", (uint16_t)(base_port + 40), 5);
	snprintf(image, sizeof(image), "%s/berth-demo:inreg-%d", registry, (int)getpid());
	t.image = image;
	put_template(&t);
	rebuild_moves_every_replica("inreg", id);

	/*
	 * A rebuild that makes the image the tag already names (the second of
	 * two cached builds) is no new revision: nothing is rolled out.
	 */
	revision = cached_rebuild("inreg", id);
	service_image(id, before, sizeof(before));
	assert_int_equal(cached_rebuild("inreg", id), revision);
	service_image(id, after, sizeof(after));
	assert_string_equal(after, before);
}

/*
 * Scale to 3 instances and back to 0, with berthd killed and started again
 * in between: the registry and the placement it shows hold across the
 * restart, and scale 0 leaves no service, task container or volume of the
 * template on any node.
 */
static void
test_scale_to_three_and_zero_across_a_berthd_restart(void **state)
{
	Berth__V1__ScaleTemplateRequest req = BERTH__V1__SCALE_TEMPLATE_REQUEST__INIT;
	Berth__V1__ListServicesResponse *l;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	char filter[PATH_MAX + 200], *esc, path[PATH_MAX + 400];
	int with_nodes;

	(void)state;
	req.template_ = "web";
	req.instances = 3;
	if (call("ScaleTemplate", &req.base, &reply, &st) != 0)
		fail_msg("ScaleTemplate 3: %s: %s", berth_code_name(st.code), st.message);
	assert_int_equal(((Berth__V1__ScaleTemplateResponse *)reply)->n_launched, 3);
	berth_reply_free(reply);

	berthd_proc_kill(&dmn.proc);
	assert_int_equal(e2e_daemon_restart(&dmn, berthd_args), 0);
	assert_true(E2E_WAIT_UNTIL(
	    ({
		    with_nodes = 0;
		    l = e2e_list_services(dmn.client, NULL);
		    for (size_t i = 0; l != NULL && i < l->n_services; i++)
			    if (l->services[i]->n_nodes == REPLICAS &&
				strcmp(l->services[i]->status, "running") == 0)
				    with_nodes++;
		    if (l != NULL)
			    berth_reply_free(&l->base);
		    with_nodes == 3;
	    }),
	    60000));

	req.instances = 0;
	req.purge = true;
	reply = NULL;
	if (call("ScaleTemplate", &req.base, &reply, &st) != 0)
		fail_msg("ScaleTemplate 0: %s: %s", berth_code_name(st.code), st.message);
	assert_int_equal(((Berth__V1__ScaleTemplateResponse *)reply)->n_removed, 3);
	berth_reply_free(reply);

	/* Nothing of them on any node: services, task containers, volumes. */
	snprintf(filter, sizeof(filter), "{\"label\":[\"berth.template=web\",\"%s\"]}", dmn.label);
	esc = curl_easy_escape(NULL, filter, 0);
	assert_non_null(esc);
	for (int n = 1; n <= NODES; n++) {
		json_t *j;

		if (n == 1) {
			snprintf(path, sizeof(path), "/services?filters=%s", esc);
			assert_non_null(j = node_get(1, path));
			assert_int_equal(json_array_size(j), 0);
			json_decref(j);
		}
		snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s", esc);
		assert_true(E2E_WAIT_UNTIL(
		    (j = node_get(n, path), ({
			    bool empty = j != NULL && json_array_size(j) == 0;
			    json_decref(j);
			    empty;
		    })),
		    30000));
		snprintf(path, sizeof(path), "/volumes?filters=%s", esc);
		assert_non_null(j = node_get(n, path));
		if (json_array_size(json_object_get(j, "Volumes")) != 0)
			printf("# node %d keeps %zu volume(s) of the template\n", n,
			    json_array_size(json_object_get(j, "Volumes")));
		json_decref(j);
	}
	curl_free(esc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_replicas_spread_over_nodes_and_the_image_reaches_them,
		    teardown_test),
		cmocka_unit_test_teardown(
		    test_a_dead_node_s_replica_moves_and_is_not_duplicated_when_it_returns,
		    teardown_test),
		cmocka_unit_test_teardown(test_draining_a_node_moves_its_replica_and_activate_undoes_it,
		    teardown_test),
		cmocka_unit_test_teardown(test_swarm_restarts_a_killed_task_per_the_template_policy,
		    teardown_test),
		cmocka_unit_test_teardown(test_a_rollout_to_a_never_healthy_revision_is_rolled_back,
		    teardown_test),
		cmocka_unit_test_teardown(test_a_rebuild_rollout_moves_every_replica_to_the_new_digest,
		    teardown_test),
		cmocka_unit_test_teardown(
		    test_an_image_named_in_the_registry_is_pushed_when_berthd_builds_it, teardown_test),
		cmocka_unit_test_teardown(test_scale_to_three_and_zero_across_a_berthd_restart,
		    teardown_test),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests_name("cluster", tests, setup_group, teardown_group);
}
