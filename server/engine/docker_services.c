/*
 * docker_services.c - Swarm services and their tasks: create, inspect,
 * list, scale, force an update, remove, logs; the tasks of a service.
 *
 * Threads: any worker may call any function; there is no shared state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/docker_internal.h"
#include "engine/docker_swarm.h"

/* Updates that lose a race with another update are retried this often. */
#define UPDATE_ATTEMPTS 5

/* Swarm's rule for service names: a DNS label, [A-Za-z0-9] at both ends, '_' allowed. */
static bool
valid_service_name(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9');
		if (!alnum && ((c != '_' && c != '-') || i == 0 || i == n - 1))
			return false;
	}
	return true;
}

/* "2026-11-26T10:30:00.123456789Z" -> seconds since the epoch; 0 when unreadable. */
static int64_t
parse_time(const char *text)
{
	struct tm tm;
	const char *rest;

	if (text == NULL || text[0] == '\0')
		return 0;
	memset(&tm, 0, sizeof(tm));
	rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL || tm.tm_year < 70)
		return 0;
	return (int64_t)timegm(&tm);
}

/* --- services ------------------------------------------------------------------- */

/* An exec check as Docker's Healthcheck: Swarm replaces a task that turns unhealthy. */
static json_t *
healthcheck(const struct docker_service_spec *spec)
{
	json_t *test = docker_json_strings(spec->health_cmd, spec->n_health_cmd);

	if (test == NULL || json_array_insert_new(test, 0, json_string("CMD")) != 0) {
		json_decref(test);
		return NULL;
	}
	return json_pack("{s:o, s:I, s:I, s:I, s:i}", "Test", test, "Interval",
	    (json_int_t)spec->health_interval_ns, "Timeout", (json_int_t)spec->health_timeout_ns,
	    "StartPeriod", (json_int_t)spec->health_start_period_ns, "Retries",
	    spec->health_retries);
}

/*
 * UpdateConfig (or RollbackConfig): one task at a time; stop-first, since a
 * host-mode port cannot be held twice on one node; a task that fails within
 * Monitor fails the update at once (MaxFailureRatio 0) and, for an update,
 * Swarm rolls back to the previous spec.
 */
static json_t *
update_config(const struct docker_service_spec *spec, const char *failure_action)
{
	return json_pack("{s:i, s:s, s:s, s:I, s:f}", "Parallelism", 1, "Order", "stop-first",
	    "FailureAction", failure_action, "Monitor", (json_int_t)spec->update_monitor_ns,
	    "MaxFailureRatio", 0.0);
}

/* The body of POST /services/create (and of an update); NULL when a string is not UTF-8 (or no memory). */
json_t *
docker_service_body(const struct docker_service_spec *spec)
{
	json_t *container, *task, *body, *resources, *limits, *mount;
	bool ok = true;

	container = json_pack("{s:s, s:o*, s:o*, s:o*}", "Image", spec->image, "Env",
	    docker_json_strings(spec->env, spec->n_env), "Labels",
	    docker_json_labels(spec->container_labels, spec->n_container_labels), "Args",
	    spec->n_args > 0 ? docker_json_strings(spec->args, spec->n_args) : NULL);
	if (container == NULL)
		return NULL;
	if (spec->stop_grace_ns > 0)
		ok = json_object_set_new(container, "StopGracePeriod",
		    json_integer(spec->stop_grace_ns)) ==
		    0;
	if (ok && spec->init)
		ok = json_object_set_new(container, "Init", json_true()) == 0;
	if (ok && spec->user != NULL && spec->user[0] != '\0')
		ok = json_object_set_new(container, "User", json_string(spec->user)) == 0;
	if (ok && spec->n_health_cmd > 0)
		ok = json_object_set_new(container, "Healthcheck", healthcheck(spec)) == 0;
	if (ok && spec->mount_type != NULL) {
		mount = json_pack("{s:s, s:s, s:s}", "Type", spec->mount_type, "Source",
		    spec->mount_source, "Target", spec->mount_target);
		/* Where the volume does not exist yet (another node), Docker makes it so. */
		if (mount != NULL && strcmp(spec->mount_type, "volume") == 0)
			ok = json_object_set_new(mount, "VolumeOptions",
				 json_pack("{s:o*, s:{s:s}}", "Labels",
				     docker_json_labels(spec->volume_labels, spec->n_volume_labels),
				     "DriverConfig", "Name",
				     spec->volume_driver != NULL && spec->volume_driver[0] != '\0'
					 ? spec->volume_driver
					 : "local")) == 0;
		if (!ok)
			json_decref(mount);
		ok = ok && mount != NULL &&
		    json_object_set_new(container, "Mounts", json_pack("[o]", mount)) == 0;
	}
	limits = json_object();
	if (limits != NULL && spec->nano_cpus > 0)
		json_object_set_new(limits, "NanoCPUs", json_integer(spec->nano_cpus));
	if (limits != NULL && spec->memory_bytes > 0)
		json_object_set_new(limits, "MemoryBytes", json_integer(spec->memory_bytes));
	resources = json_pack("{s:o*}", "Limits", limits);
	task = json_pack("{s:o, s:o*, s:{s:o*}}", "ContainerSpec", container, "Resources",
	    resources,
	    "Placement", "Constraints",
	    spec->n_constraints > 0 ? docker_json_strings(spec->constraints,
	    spec->n_constraints) : NULL);
	if (ok && task != NULL && spec->restart_condition != NULL)
		ok = json_object_set_new(task, "RestartPolicy",
			 json_pack("{s:s, s:I, s:I, s:I}", "Condition", spec->restart_condition,
			     "Delay", (json_int_t)spec->restart_delay_ns, "MaxAttempts",
			     (json_int_t)spec->restart_max_attempts, "Window",
			     (json_int_t)spec->restart_window_ns)) == 0;
	if (!ok || task == NULL) {
		json_decref(task);
		return NULL;
	}
	body = json_pack("{s:s, s:o*, s:o, s:{s:{s:I}}}", "Name", spec->name, "Labels",
	    docker_json_labels(spec->labels, spec->n_labels), "TaskTemplate", task, "Mode",
	    "Replicated",
	    "Replicas", (json_int_t)spec->replicas);
	if (body != NULL && spec->target_port != 0 &&
	    json_object_set_new(body, "EndpointSpec",
		json_pack("{s:[{s:s, s:i, s:i, s:s}]}", "Ports", "Protocol", "tcp", "TargetPort",
		    (int)spec->target_port, "PublishedPort", (int)spec->published_port,
		    "PublishMode",
		    spec->publish_mode != NULL ? spec->publish_mode : "ingress")) != 0) {
		json_decref(body);
		return NULL;
	}
	if (body != NULL && spec->update_monitor_ns > 0 &&
	    (json_object_set_new(body, "UpdateConfig", update_config(spec, "rollback")) != 0 ||
		json_object_set_new(body, "RollbackConfig", update_config(spec, "pause")) != 0)) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* What Swarm would refuse in a spec, as INVALID_ARGUMENT; 0 when none. */
static int
check_spec(const struct docker_service_spec *spec, struct error *err)
{
	if (!valid_service_name(spec->name))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "'%s' cannot name a Swarm service: at most 63 of A-Z, a-z, 0-9, '_' and '-', "
		    "beginning and ending with a letter or digit",
		    spec->name != NULL ? spec->name : "");
	if (spec->mount_type != NULL &&
	    (spec->mount_target == NULL || spec->mount_target[0] != '/'))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "mount target must be an absolute path");
	return 0;
}

int
docker_service_create(struct docker *d, const struct docker_service_spec *spec,
    char id[DOCKER_ID_LEN + 1], int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "POST", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	const char *new_id;
	json_t *body;
	int64_t deadline;
	int rc;

	id[0] = '\0';
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if ((rc = check_spec(spec, err)) != 0)
		return rc;
	if ((body = docker_service_body(spec)) == NULL)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "service spec: a string is missing or not UTF-8 (or out of memory)");
	docker_path_add(&rq.path, "/services/create");
	rq.json = body;
	rc = docker_request(d, &rq, deadline, &resp, err);
	json_decref(body);
	if (rc == DOCKER_OK) {
		new_id = docker_json_text(resp.json, "ID");
		if (new_id == NULL || strlen(new_id) > DOCKER_ID_LEN)
			rc = error_set(err, BERTH__V1__CODE__INTERNAL, "Docker sent no service id");
		else
			docker_copy_text(id, DOCKER_ID_LEN + 1, new_id);
	} else if (resp.status == 409) {
		rc = err->code = BERTH__V1__CODE__ALREADY_EXISTS; /* the name is taken */
	} else if (resp.status >= 400 && resp.status < 500 && docker_port_taken(err->message)) {
		rc = docker_fail_port_in_use(err);
	}
	docker_response_free(&resp);
	return rc;
}

static void
add_port(struct docker_service *s, json_int_t port)
{
	if (port <= 0 || port > 65535)
		return;
	for (size_t i = 0; i < s->n_ports; i++)
		if (s->ports[i] == (uint16_t)port)
			return;
	if (s->n_ports < DOCKER_MAX_PORTS)
		s->ports[s->n_ports++] = (uint16_t)port;
}

/* One object of GET /services. */
static void
service_from_json(void *out, const json_t *o)
{
	struct docker_service *s = out;
	const json_t *spec = json_object_get(o, "Spec");
	const json_t *labels = json_object_get(spec, "Labels");
	const json_t *replicated = json_object_get(json_object_get(spec, "Mode"), "Replicated");
	const json_t *ports, *port, *mount;
	size_t i;

	memset(s, 0, sizeof(*s));
	docker_copy_text(s->id, sizeof(s->id), docker_json_text(o, "ID"));
	docker_copy_text(s->name, sizeof(s->name), docker_json_text(spec, "Name"));
	docker_copy_text(s->label_service, sizeof(s->label_service),
	    docker_json_text(labels, DOCKER_LABEL_SERVICE));
	docker_copy_text(s->label_template, sizeof(s->label_template),
	    docker_json_text(labels, DOCKER_LABEL_TEMPLATE));
	docker_copy_text(s->label_instance, sizeof(s->label_instance),
	    docker_json_text(labels, DOCKER_LABEL_INSTANCE));
	docker_copy_text(s->label_data_dir, sizeof(s->label_data_dir),
	    docker_json_text(labels, DOCKER_LABEL_DATA_DIR));
	docker_copy_text(s->label_replicas, sizeof(s->label_replicas),
	    docker_json_text(labels, "berth.replicas"));
	s->replicated = json_is_object(replicated);
	if (s->replicated) {
		json_int_t r = json_integer_value(json_object_get(replicated, "Replicas"));
		s->replicas = r > 0 ? (uint64_t)r : 0;
	}
	/* What Swarm has allocated; the spec's own ports while it has not yet. */
	ports = json_object_get(json_object_get(o, "Endpoint"), "Ports");
	json_array_foreach (ports, i, port)
		add_port(s, json_integer_value(json_object_get(port, "PublishedPort")));
	if (s->n_ports == 0) {
		ports = json_object_get(json_object_get(spec, "EndpointSpec"), "Ports");
		json_array_foreach (ports, i, port)
			add_port(s, json_integer_value(json_object_get(port, "PublishedPort")));
	}
	json_array_foreach (json_object_get(
			       json_object_get(json_object_get(spec, "TaskTemplate"),
			       "ContainerSpec"),
			       "Mounts"),
	    i, mount) {
		const char *type = docker_json_text(mount, "Type");
		if (type != NULL && strcmp(type, "volume") == 0) {
			docker_copy_text(s->volume, sizeof(s->volume),
			    docker_json_text(mount, "Source"));
			break;
		}
	}
	docker_copy_text(s->updated_at, sizeof(s->updated_at), docker_json_text(o, "UpdatedAt"));
	docker_copy_text(s->update_state, sizeof(s->update_state),
	    docker_json_text(json_object_get(o, "UpdateStatus"), "State"));
	docker_copy_text(s->update_message, sizeof(s->update_message),
	    docker_json_text(json_object_get(o, "UpdateStatus"), "Message"));
	docker_copy_text(s->update_started_at, sizeof(s->update_started_at),
	    docker_json_text(json_object_get(o, "UpdateStatus"), "StartedAt"));
}

int
docker_service_inspect(struct docker *d, const char *ref, struct docker_service *out,
    int64_t timeout_ms, struct error *err)
{
	memset(out, 0, sizeof(*out));
	return docker_get_object(d, "/services/", ref, "", "service id", service_from_json, out,
	    timeout_ms, err);
}

int
docker_service_list(struct docker *d, const char *label, struct docker_service **out,
    size_t *n, int64_t timeout_ms, struct error *err)
{
	void *list = NULL;
	int rc;

	rc = docker_get_list(d, "/services", "label", label, NULL, NULL, NULL, "service",
	    sizeof(**out), service_from_json, &list, n, timeout_ms, err);
	*out = list;
	return rc;
}

/*
 * Reads the object's spec (kind "services" or "nodes"), lets `change` edit
 * it, and posts it back with the version it was read at. When another
 * update came in between, Swarm refuses ("update out of sequence"): read
 * and try again.
 */
int
docker_spec_update(struct docker *d, const char *kind, const char *ref,
    int (*change)(json_t *spec, void *arg, struct error *err), void *arg,
    int64_t timeout_ms, struct error *err)
{
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(ref))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid id for %s: %.80s", kind, ref);
	for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
		struct docker_request get = { .method = "GET", .answer = DOCKER_ANSWER_JSON };
		struct docker_response resp;
		char path[400];
		json_t *o, *spec;
		json_int_t version;
		const char *id;

		docker_path_add(&get.path, "/%s/%s", kind, ref);
		if ((rc = docker_request(d, &get, deadline, &resp, err)) != DOCKER_OK)
			return rc;
		o = resp.json;
		spec = json_object_get(o, "Spec");
		version = json_integer_value(json_object_get(json_object_get(o, "Version"),
		    "Index"));
		id = docker_json_text(o, "ID");
		if (!json_is_object(spec) || id == NULL || !docker_valid_ref(id)) {
			docker_response_free(&resp);
			return error_set(err, BERTH__V1__CODE__INTERNAL,
			    "Docker's %s/%s has no spec", kind, ref);
		}
		if ((rc = change(spec, arg, err)) != DOCKER_OK) {
			docker_response_free(&resp);
			return rc;
		}
		snprintf(path, sizeof(path), "/%s/%s/update?version=%lld", kind, id,
		    (long long)version);
		rc = docker_send(d, "POST", path, spec, deadline, err);
		docker_response_free(&resp);
		if (rc == DOCKER_OK || strstr(err->message, "out of sequence") == NULL)
			return rc;
	}
	return rc;
}

static int
set_replicas(json_t *spec, void *arg, struct error *err)
{
	json_t *replicated = json_object_get(json_object_get(spec, "Mode"), "Replicated");

	if (!json_is_object(replicated))
		return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "service %s is not replicated: it cannot be scaled", docker_json_text(spec,
		    "Name"));
	json_object_set_new(replicated, "Replicas", json_integer((json_int_t) * (uint64_t *)arg));
	return DOCKER_OK;
}

int
docker_service_scale(struct docker *d, const char *ref, uint64_t replicas, int64_t timeout_ms,
    struct error *err)
{
	return docker_spec_update(d, "services", ref, set_replicas, &replicas, timeout_ms, err);
}

/* The whole spec replaced by the new one's, its replica count 0 when it is 0 now. */
static int
replace_spec(json_t *spec, void *arg, struct error *err)
{
	const struct docker_service_spec *next = arg;
	json_t *replicated = json_object_get(json_object_get(spec, "Mode"), "Replicated");
	bool scaled_down = json_is_object(replicated) &&
	    json_integer_value(json_object_get(replicated, "Replicas")) == 0;
	json_t *body = docker_service_body(next);

	if (body == NULL)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "service spec: a string is missing or not UTF-8 (or out of memory)");
	if (scaled_down)
		json_object_set_new(json_object_get(json_object_get(body, "Mode"), "Replicated"),
		    "Replicas", json_integer(0));
	json_object_clear(spec);
	json_object_update(spec, body);
	json_decref(body);
	return DOCKER_OK;
}

int
docker_service_update(struct docker *d, const char *ref, const struct docker_service_spec *spec,
    int64_t timeout_ms, struct error *err)
{
	int rc;

	if ((rc = check_spec(spec, err)) != 0)
		return rc;
	return docker_spec_update(d, "services", ref, replace_spec, (void *)spec, timeout_ms, err);
}

static int
bump_force_update(json_t *spec, void *arg, struct error *err)
{
	json_t *task = json_object_get(spec, "TaskTemplate");

	(void)arg;
	if (!json_is_object(task))
		return error_set(err, BERTH__V1__CODE__INTERNAL, "service %s has no task template",
		    docker_json_text(spec, "Name"));
	json_object_set_new(task, "ForceUpdate",
	    json_integer(json_integer_value(json_object_get(task, "ForceUpdate")) + 1));
	return DOCKER_OK;
}

int
docker_service_force_update(struct docker *d, const char *ref, int64_t timeout_ms,
    struct error *err)
{
	return docker_spec_update(d, "services", ref, bump_force_update, NULL, timeout_ms, err);
}

int
docker_service_remove(struct docker *d, const char *ref, int64_t timeout_ms,
    struct error *err)
{
	char path[300];
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(ref))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid service id");
	snprintf(path, sizeof(path), "/services/%s", ref);
	return docker_send(d, "DELETE", path, NULL, deadline, err);
}

int
docker_service_logs(struct docker *d, const char *ref, unsigned tail, char **out,
    int64_t timeout_ms, struct error *err)
{
	return docker_object_logs(d, "services", ref, tail, out, timeout_ms, err);
}

/* --- tasks ------------------------------------------------------------------------------- */

bool
docker_task_state_active(const char *state)
{
	static const char *const active[] = { "new", "allocated", "pending", "assigned", "accepted",
		"preparing", "ready", "starting", "running" };

	for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++)
		if (strcmp(state, active[i]) == 0)
			return true;
	return false;
}

static void
task_from_json(void *out, const json_t *o)
{
	struct docker_task *t = out;
	const json_t *status = json_object_get(o, "Status");
	const json_t *cs = json_object_get(status, "ContainerStatus");

	memset(t, 0, sizeof(*t));
	docker_copy_text(t->id, sizeof(t->id), docker_json_text(o, "ID"));
	docker_copy_text(t->service_id, sizeof(t->service_id), docker_json_text(o, "ServiceID"));
	docker_copy_text(t->node_id, sizeof(t->node_id), docker_json_text(o, "NodeID"));
	t->slot = (int)json_integer_value(json_object_get(o, "Slot"));
	docker_copy_text(t->state, sizeof(t->state), docker_json_text(status, "State"));
	docker_copy_text(t->desired_state, sizeof(t->desired_state),
	    docker_json_text(o, "DesiredState"));
	docker_copy_text(t->message, sizeof(t->message), docker_json_text(status, "Message"));
	docker_copy_text(t->error, sizeof(t->error), docker_json_text(status, "Err"));
	docker_copy_text(t->container_id, sizeof(t->container_id),
	    docker_json_text(cs, "ContainerID"));
	t->exit_code = (int)json_integer_value(json_object_get(cs, "ExitCode"));
	docker_copy_text(t->updated_at, sizeof(t->updated_at),
	    docker_json_text(status, "Timestamp"));
	t->updated_s = parse_time(t->updated_at);
}

int
docker_task_list(struct docker *d, const char *service, const char *desired_state,
    struct docker_task **out, size_t *n, int64_t timeout_ms, struct error *err)
{
	void *list = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (service != NULL && !docker_valid_ref(service))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid service id");
	rc = docker_get_list(d, "/tasks", "service", service, "desired-state", desired_state, NULL,
	    "task", sizeof(**out), task_from_json, &list, n, timeout_ms, err);
	*out = list;
	return rc;
}
