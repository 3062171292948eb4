/*
 * docker_swarm.c - the rest of the Swarm part of the Engine API: nodes,
 * named volumes, and the swarm itself (state; init and leave).
 * Services and tasks are docker_services.c.
 *
 * Threads: any worker may call any function; there is no shared state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/docker_internal.h"
#include "engine/docker_swarm.h"

/* --- nodes ------------------------------------------------------------------------------- */

static void
node_from_json(void *out, const json_t *o)
{
	struct docker_node *node = out;
	const json_t *spec = json_object_get(o, "Spec");
	const json_t *manager, *version;

	memset(node, 0, sizeof(*node));

	docker_copy_text(node->id, sizeof(node->id), docker_json_text(o, "ID"));
	docker_copy_text(node->hostname, sizeof(node->hostname),
	    docker_json_text(json_object_get(o, "Description"), "Hostname"));
	docker_copy_text(node->state, sizeof(node->state),
	    docker_json_text(json_object_get(o, "Status"), "State"));
	docker_copy_text(node->availability, sizeof(node->availability),
	    docker_json_text(spec, "Availability"));
	docker_copy_text(node->role, sizeof(node->role), docker_json_text(spec, "Role"));
	docker_copy_text(node->address, sizeof(node->address),
	    docker_json_text(json_object_get(o, "Status"), "Addr"));
	/* Docker says Leader only on the leader; the others have Reachability alone. */
	manager = json_object_get(o, "ManagerStatus");
	if (json_is_true(json_object_get(manager, "Leader")))
		docker_copy_text(node->manager_status, sizeof(node->manager_status), "leader");
	else
		docker_copy_text(node->manager_status, sizeof(node->manager_status),
		    docker_json_text(manager, "Reachability"));
	version = json_object_get(o, "Version");
	node->version = (uint64_t)json_integer_value(json_object_get(version, "Index"));
}

int
docker_node_list(struct docker *d, struct docker_node **out, size_t *n, int64_t timeout_ms,
    struct error *err)
{
	void *list = NULL;
	int rc;

	rc = docker_get_list(d, "/nodes", NULL, NULL, NULL, NULL, NULL, "node", sizeof(**out),
	    node_from_json, &list, n, timeout_ms, err);
	*out = list;
	return rc;
}

int
docker_node_inspect(struct docker *d, const char *ref, struct docker_node *out,
    int64_t timeout_ms, struct error *err)
{
	memset(out, 0, sizeof(*out));
	return docker_get_object(d, "/nodes/", ref, "", "node id", node_from_json, out,
	    timeout_ms, err);
}

bool
docker_node_availability_valid(const char *availability)
{
	static const char *const valid[] = { "active", "pause", "drain" };

	for (size_t i = 0; availability != NULL && i < sizeof(valid) / sizeof(valid[0]); i++)
		if (strcmp(availability, valid[i]) == 0)
			return true;
	return false;
}

static int
set_availability(json_t *spec, void *arg, struct error *err)
{
	(void)err;
	json_object_set_new(spec, "Availability", json_string(arg));
	return DOCKER_OK;
}

/* Swarm takes a node's whole Spec on update, at the version it was read at. */
int
docker_node_set_availability(struct docker *d, const char *ref, const char *availability,
    int64_t timeout_ms, struct error *err)
{
	if (!docker_node_availability_valid(availability))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "availability must be active, pause or drain");
	return docker_spec_update(d, "nodes", ref, set_availability, (void *)availability,
	    timeout_ms, err);
}

/* --- volumes ---------------------------------------------------------------------------- */

int
docker_volume_create(struct docker *d, const char *name, const char *driver,
    const struct docker_label *labels, size_t n_labels, int64_t timeout_ms,
    struct error *err)
{
	json_t *body;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(name))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid volume name");
	body = json_pack("{s:s, s:s, s:o*}", "Name", name, "Driver",
	    driver != NULL && driver[0] != '\0' ? driver : "local", "Labels",
	    docker_json_labels(labels, n_labels));
	if (body == NULL)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "volume: a string is not UTF-8 (or out of memory)");
	rc = docker_send(d, "POST", "/volumes/create", body, deadline, err);
	json_decref(body);
	return rc;
}

static void
volume_from_json(void *out, const json_t *o)
{
	struct docker_volume *v = out;
	memset(v, 0, sizeof(*v));
	docker_copy_text(v->name, sizeof(v->name), docker_json_text(o, "Name"));
	docker_copy_text(v->driver, sizeof(v->driver), docker_json_text(o, "Driver"));
	docker_copy_text(v->mountpoint, sizeof(v->mountpoint), docker_json_text(o, "Mountpoint"));
	docker_copy_text(v->label_data_dir, sizeof(v->label_data_dir),
	    docker_json_text(json_object_get(o, "Labels"), DOCKER_LABEL_DATA_DIR));
}

int
docker_volume_inspect(struct docker *d, const char *name, struct docker_volume *out,
    int64_t timeout_ms, struct error *err)
{
	memset(out, 0, sizeof(*out));
	return docker_get_object(d, "/volumes/", name, "", "volume name", volume_from_json, out,
	    timeout_ms, err);
}

int
docker_volume_list(struct docker *d, const char *label, struct docker_volume **out, size_t *n,
    int64_t timeout_ms, struct error *err)
{
	void *list = NULL;
	int rc;

	rc = docker_get_list(d, "/volumes", "label", label, NULL, NULL, "Volumes", "volume",
	    sizeof(**out), volume_from_json, &list, n, timeout_ms, err);
	*out = list;
	return rc;
}

int
docker_volume_remove(struct docker *d, const char *name, bool force, int64_t timeout_ms,
    struct error *err)
{
	char path[300];
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(name))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid volume name");
	snprintf(path, sizeof(path), "/volumes/%s?force=%s", name, force ? "true" : "false");
	return docker_send(d, "DELETE", path, NULL, deadline, err);
}

/* --- the swarm ---------------------------------------------------------------------------- */

int
docker_swarm_state(struct docker *d, struct docker_swarm_state *out, int64_t timeout_ms,
    struct error *err)
{
	struct docker_request rq = { .method = "GET", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	json_t *o, *swarm;
	int64_t deadline;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	docker_path_add(&rq.path, "/info");
	if ((rc = docker_request(d, &rq, deadline, &resp, err)) == DOCKER_OK) {
		o = resp.json;
		swarm = json_object_get(o, "Swarm");
		docker_copy_text(out->local_node_state, sizeof(out->local_node_state),
		    docker_json_text(swarm, "LocalNodeState"));
		out->manager = json_is_true(json_object_get(swarm, "ControlAvailable"));
		docker_copy_text(out->node_id, sizeof(out->node_id),
		    docker_json_text(swarm, "NodeID"));
		docker_copy_text(out->hostname, sizeof(out->hostname), docker_json_text(o, "Name"));
	}
	docker_response_free(&resp);
	return rc;
}

int
docker_swarm_init(struct docker *d, const char *listen_addr, const char *advertise_addr,
    int64_t timeout_ms, struct error *err)
{
	json_t *body;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	body = json_pack("{s:s, s:s}", "ListenAddr", listen_addr, "AdvertiseAddr", advertise_addr);
	if (body == NULL)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "swarm init: bad address");
	rc = docker_send(d, "POST", "/swarm/init", body, deadline, err);
	json_decref(body);
	return rc;
}

int
docker_swarm_leave(struct docker *d, bool force, int64_t timeout_ms, struct error *err)
{
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	return docker_send(d, "POST", force ? "/swarm/leave?force=true" : "/swarm/leave", NULL,
	    deadline, err);
}
