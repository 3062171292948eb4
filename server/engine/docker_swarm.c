/*
 * docker_swarm.c - services, tasks, nodes, volumes and the swarm, as JSON
 * over docker_api_request.
 *
 * Threads: any worker may call any function; there is no shared state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "berth/v1/berth.pb-c.h"
#include "clock.h"
#include "engine/docker_swarm.h"
#include "engine/docker_util.h"

#define CODE_OK BERTH__V1__CODE__OK
#define LOGS_MAX ((size_t)16 << 20)
/* Updates that lose a race with another update are retried this often. */
#define UPDATE_ATTEMPTS 5


/* The time left of a deadline taken at the start of a call. */
static int64_t
left(int64_t deadline)
{
	return deadline - clock_monotonic_ms();
}

/* Swarm's rule for service names: a DNS label, [A-Za-z0-9] at both ends, '_' allowed. */
static bool
valid_service_name(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
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

/* A request whose answer, when wanted, is JSON. */
static int
request_json(struct docker *d, const char *method, const char *path, const json_t *body,
    json_t **answer, long *status, int64_t timeout_ms, struct error *err)
{
	char *text = NULL, *reply = NULL;
	size_t len = 0;
	json_error_t jerr;
	int rc;

	if (answer != NULL)
		*answer = NULL;
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		return fail_memory(err);
	rc = docker_api_call(d, method, path, text, 0, answer != NULL ? &reply : NULL, &len, status,
	    timeout_ms, err);
	free(text);
	if (rc != CODE_OK || answer == NULL)
		return rc;
	*answer = json_loadb(reply != NULL ? reply : "", len, 0, &jerr);
	free(reply);
	if (*answer == NULL)
		return fail(err, BERTH__V1__CODE__INTERNAL, "Docker sent malformed JSON: %s", jerr.text);
	return CODE_OK;
}

/* Fills one struct (a list's element, an inspect's result) from Docker's JSON object. */
typedef void (*from_json_fn)(void *out, const json_t *o);

/* GET `prefix` + ref, an object that from_json turns into *out. `what` names ref in errors. */
static int
get_one(struct docker *d, const char *prefix, const char *ref, const char *what,
    from_json_fn from_json, void *out, int64_t timeout_ms, struct error *err)
{
	char path[300];
	json_t *o = NULL;
	int rc;

	if (!valid_ref(ref))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid %s", what);
	snprintf(path, sizeof(path), "%s%s", prefix, ref);
	if ((rc = request_json(d, "GET", path, NULL, &o, NULL, timeout_ms, err)) == CODE_OK)
		from_json(out, o);
	json_decref(o);
	return rc;
}

/*
 * GET `path`, a JSON array (or, with `member`, an object whose member of
 * that name is the array, absent when empty), into *out: a calloc'ed
 * array of *n elements of `size` bytes, each filled by from_json; NULL
 * when empty. `what` names the list in errors.
 */
static int
get_list(struct docker *d, const char *path, const char *member, const char *what, size_t size,
    from_json_fn from_json, void **out, size_t *n, int64_t timeout_ms, struct error *err)
{
	json_t *o = NULL, *list, *item;
	char *elements;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	rc = request_json(d, "GET", path, NULL, &o, NULL, timeout_ms, err);
	list = member != NULL ? json_object_get(o, member) : o;
	if (rc == CODE_OK && !json_is_array(list) &&
	    !(member != NULL && (list == NULL || json_is_null(list))))
		rc = fail(err, BERTH__V1__CODE__INTERNAL, "Docker's %s list is not an array", what);
	if (rc == CODE_OK && json_array_size(list) > 0) {
		if ((elements = calloc(json_array_size(list), size)) == NULL) {
			rc = fail_memory(err);
		} else {
			json_array_foreach (list, i, item)
				from_json(elements + (*n)++ * size, item);
			*out = elements;
		}
	}
	json_decref(o);
	return rc;
}

/* "PREFIX?filters=<url-encoded {"KEY":["VALUE"], ...}>" from key/value pairs (NULL values skipped). */
static char *
filtered_path(const char *prefix, const char *k1, const char *v1, const char *k2, const char *v2)
{
	json_t *filters = json_object();
	char *text, *escaped, *path = NULL;

	if (filters == NULL)
		return NULL;
	if (v1 != NULL)
		json_object_set_new(filters, k1, json_pack("[s]", v1));
	if (v2 != NULL)
		json_object_set_new(filters, k2, json_pack("[s]", v2));
	text = json_dumps(filters, JSON_COMPACT);
	json_decref(filters);
	if (text == NULL)
		return NULL;
	escaped = curl_easy_escape(NULL, text, 0);
	free(text);
	if (escaped == NULL)
		return NULL;
	if (asprintf(&path, "%s?filters=%s", prefix, escaped) < 0)
		path = NULL;
	curl_free(escaped);
	return path;
}

static json_t *
string_array(const char *const *items, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (items[i] == NULL || json_array_append_new(a, json_string(items[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
label_object(const struct docker_label *labels, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; o != NULL && i < n; i++) {
		if (labels[i].key == NULL ||
		    json_object_set_new(o, labels[i].key,
			json_string(labels[i].value != NULL ? labels[i].value : "")) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* --- services ------------------------------------------------------------------- */

/* The body of POST /services/create; NULL when a string is not UTF-8 (or no memory). */
static json_t *
service_body(const struct docker_service_spec *spec)
{
	json_t *container, *task, *body, *resources, *limits, *mount;
	bool ok = true;

	container = json_pack("{s:s, s:o*, s:o*, s:o*}", "Image", spec->image, "Env",
	    string_array(spec->env, spec->n_env), "Labels",
	    label_object(spec->container_labels, spec->n_container_labels), "Args",
	    spec->n_args > 0 ? string_array(spec->args, spec->n_args) : NULL);
	if (container == NULL)
		return NULL;
	if (spec->stop_grace_ns > 0)
		ok = json_object_set_new(container, "StopGracePeriod", json_integer(spec->stop_grace_ns)) ==
		    0;
	if (ok && spec->mount_type != NULL) {
		mount = json_pack("{s:s, s:s, s:s}", "Type", spec->mount_type, "Source",
		    spec->mount_source, "Target", spec->mount_target);
		/* Where the volume does not exist yet (another node), Docker makes it so. */
		if (mount != NULL && strcmp(spec->mount_type, "volume") == 0)
			ok = json_object_set_new(mount, "VolumeOptions",
				 json_pack("{s:o*, s:{s:s}}", "Labels",
				     label_object(spec->volume_labels, spec->n_volume_labels),
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
	task = json_pack("{s:o, s:o*, s:{s:o*}}", "ContainerSpec", container, "Resources", resources,
	    "Placement", "Constraints",
	    spec->n_constraints > 0 ? string_array(spec->constraints, spec->n_constraints) : NULL);
	if (!ok || task == NULL) {
		json_decref(task);
		return NULL;
	}
	body = json_pack("{s:s, s:o*, s:o, s:{s:{s:I}}}", "Name", spec->name, "Labels",
	    label_object(spec->labels, spec->n_labels), "TaskTemplate", task, "Mode", "Replicated",
	    "Replicas", (json_int_t)spec->replicas);
	if (body != NULL && spec->target_port != 0 &&
	    json_object_set_new(body, "EndpointSpec",
		json_pack("{s:[{s:s, s:i, s:i, s:s}]}", "Ports", "Protocol", "tcp", "TargetPort",
		    (int)spec->target_port, "PublishedPort", (int)spec->published_port, "PublishMode",
		    spec->publish_mode != NULL ? spec->publish_mode : "ingress")) != 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* Docker's words for a published port that another service (or program) holds. */
static bool
port_taken(const char *message)
{
	return strstr(message, "already in use") != NULL ||
	    strstr(message, "port is already allocated") != NULL;
}

int
docker_service_create(struct docker *d, const struct docker_service_spec *spec,
    char id[DOCKER_ID_LEN + 1], int64_t timeout_ms, struct error *err)
{
	json_t *body, *answer = NULL;
	const char *new_id;
	long status = 0;
	int rc;

	id[0] = '\0';
	memset(err, 0, sizeof(*err));
	if (!valid_service_name(spec->name))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "'%s' cannot name a Swarm service: at most 63 of A-Z, a-z, 0-9, '_' and '-', "
		    "beginning and ending with a letter or digit",
		    spec->name != NULL ? spec->name : "");
	if (spec->mount_type != NULL && (spec->mount_target == NULL || spec->mount_target[0] != '/'))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "mount target must be an absolute path");
	if ((body = service_body(spec)) == NULL)
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "service spec: a string is missing or not UTF-8 (or out of memory)");
	rc = request_json(d, "POST", "/services/create", body, &answer, &status, timeout_ms, err);
	json_decref(body);
	if (rc == CODE_OK) {
		new_id = json_text(answer, "ID");
		if (new_id == NULL || strlen(new_id) > DOCKER_ID_LEN)
			rc = fail(err, BERTH__V1__CODE__INTERNAL, "Docker sent no service id");
		else
			copy_text(id, DOCKER_ID_LEN + 1, new_id);
	} else if (status == 409) {
		rc = err->code = BERTH__V1__CODE__ALREADY_EXISTS; /* the name is taken */
	} else if (status >= 400 && status < 500 && port_taken(err->message)) {
		snprintf(err->reason, sizeof(err->reason), "%s", DOCKER_REASON_PORT_IN_USE);
		rc = err->code = BERTH__V1__CODE__ABORTED;
	}
	json_decref(answer);
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
	copy_text(s->id, sizeof(s->id), json_text(o, "ID"));
	copy_text(s->name, sizeof(s->name), json_text(spec, "Name"));
	copy_text(s->label_service, sizeof(s->label_service), json_text(labels, DOCKER_LABEL_SERVICE));
	copy_text(s->label_template, sizeof(s->label_template),
	    json_text(labels, DOCKER_LABEL_TEMPLATE));
	copy_text(s->label_instance, sizeof(s->label_instance),
	    json_text(labels, DOCKER_LABEL_INSTANCE));
	copy_text(s->label_data_dir, sizeof(s->label_data_dir),
	    json_text(labels, DOCKER_LABEL_DATA_DIR));
	copy_text(s->label_replicas, sizeof(s->label_replicas), json_text(labels, "berth.replicas"));
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
			       json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec"),
			       "Mounts"),
	    i, mount) {
		const char *type = json_text(mount, "Type");
		if (type != NULL && strcmp(type, "volume") == 0) {
			copy_text(s->volume, sizeof(s->volume), json_text(mount, "Source"));
			break;
		}
	}
	copy_text(s->updated_at, sizeof(s->updated_at), json_text(o, "UpdatedAt"));
}

int
docker_service_inspect(struct docker *d, const char *ref, struct docker_service *out,
    int64_t timeout_ms, struct error *err)
{
	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	return get_one(d, "/services/", ref, "service id", service_from_json, out, timeout_ms, err);
}

int
docker_service_list(struct docker *d, const char *label, struct docker_service **out,
    size_t *n, int64_t timeout_ms, struct error *err)
{
	char *path = filtered_path("/services", "label", label, NULL, NULL);
	void *list = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	memset(err, 0, sizeof(*err));
	if (path == NULL)
		return fail_memory(err);
	rc = get_list(d, path, NULL, "service", sizeof(**out), service_from_json, &list, n,
	    timeout_ms, err);
	free(path);
	*out = list;
	return rc;
}

/*
 * Reads the service's spec, lets `change` edit it, and posts it back with
 * the version it was read at. When another update came in between, Swarm
 * refuses ("update out of sequence"): read and try again.
 */
static int
service_update(struct docker *d, const char *ref,
    int (*change)(json_t *spec, void *arg, struct error *err), void *arg,
    int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	int rc = CODE_OK;

	memset(err, 0, sizeof(*err));
	if (!valid_ref(ref))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid service id");
	for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
		char path[400];
		json_t *o = NULL, *spec;
		json_int_t version;
		const char *id;

		snprintf(path, sizeof(path), "/services/%s", ref);
		if ((rc = request_json(d, "GET", path, NULL, &o, NULL, left(deadline), err)) != CODE_OK)
			return rc;
		spec = json_object_get(o, "Spec");
		version = json_integer_value(json_object_get(json_object_get(o, "Version"), "Index"));
		id = json_text(o, "ID");
		if (!json_is_object(spec) || id == NULL || !valid_ref(id)) {
			json_decref(o);
			return fail(err, BERTH__V1__CODE__INTERNAL, "Docker's service %s has no spec", ref);
		}
		if ((rc = change(spec, arg, err)) != CODE_OK) {
			json_decref(o);
			return rc;
		}
		snprintf(path, sizeof(path), "/services/%s/update?version=%lld", id, (long long)version);
		rc = request_json(d, "POST", path, spec, NULL, NULL, left(deadline), err);
		json_decref(o);
		if (rc == CODE_OK || strstr(err->message, "out of sequence") == NULL)
			return rc;
	}
	return rc;
}

static int
set_replicas(json_t *spec, void *arg, struct error *err)
{
	json_t *replicated = json_object_get(json_object_get(spec, "Mode"), "Replicated");

	if (!json_is_object(replicated))
		return fail(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "service %s is not replicated: it cannot be scaled", json_text(spec, "Name"));
	json_object_set_new(replicated, "Replicas", json_integer((json_int_t) * (uint64_t *)arg));
	return CODE_OK;
}

int
docker_service_scale(struct docker *d, const char *ref, uint64_t replicas, int64_t timeout_ms,
    struct error *err)
{
	return service_update(d, ref, set_replicas, &replicas, timeout_ms, err);
}

static int
bump_force_update(json_t *spec, void *arg, struct error *err)
{
	json_t *task = json_object_get(spec, "TaskTemplate");

	(void)arg;
	if (!json_is_object(task))
		return fail(err, BERTH__V1__CODE__INTERNAL, "service %s has no task template",
		    json_text(spec, "Name"));
	json_object_set_new(task, "ForceUpdate",
	    json_integer(json_integer_value(json_object_get(task, "ForceUpdate")) + 1));
	return CODE_OK;
}

int
docker_service_force_update(struct docker *d, const char *ref, int64_t timeout_ms,
    struct error *err)
{
	return service_update(d, ref, bump_force_update, NULL, timeout_ms, err);
}

int
docker_service_remove(struct docker *d, const char *ref, int64_t timeout_ms,
    struct error *err)
{
	char path[300];

	memset(err, 0, sizeof(*err));
	if (!valid_ref(ref))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid service id");
	snprintf(path, sizeof(path), "/services/%s", ref);
	return docker_api_request(d, "DELETE", path, NULL, 0, NULL, NULL, timeout_ms, err);
}

int
docker_service_logs(struct docker *d, const char *ref, unsigned tail, char **out,
    int64_t timeout_ms, struct error *err)
{
	char path[400];
	size_t len = 0;
	int rc;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (!valid_ref(ref))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid service id");
	if (tail > 0)
		snprintf(path, sizeof(path), "/services/%s/logs?stdout=1&stderr=1&tail=%u", ref, tail);
	else
		snprintf(path, sizeof(path), "/services/%s/logs?stdout=1&stderr=1&tail=all", ref);
	rc = docker_api_request(d, "GET", path, NULL, LOGS_MAX, out, &len, timeout_ms, err);
	if (rc == CODE_OK) {
		len = docker_demultiplex(*out, len);
		(*out)[len] = '\0';
	}
	return rc;
}

/* --- tasks and nodes ---------------------------------------------------------------- */

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
	copy_text(t->id, sizeof(t->id), json_text(o, "ID"));
	copy_text(t->service_id, sizeof(t->service_id), json_text(o, "ServiceID"));
	copy_text(t->node_id, sizeof(t->node_id), json_text(o, "NodeID"));
	t->slot = (int)json_integer_value(json_object_get(o, "Slot"));
	copy_text(t->state, sizeof(t->state), json_text(status, "State"));
	copy_text(t->desired_state, sizeof(t->desired_state), json_text(o, "DesiredState"));
	copy_text(t->message, sizeof(t->message), json_text(status, "Message"));
	copy_text(t->error, sizeof(t->error), json_text(status, "Err"));
	copy_text(t->container_id, sizeof(t->container_id), json_text(cs, "ContainerID"));
	t->exit_code = (int)json_integer_value(json_object_get(cs, "ExitCode"));
	copy_text(t->updated_at, sizeof(t->updated_at), json_text(status, "Timestamp"));
	t->updated_s = parse_time(t->updated_at);
}

int
docker_task_list(struct docker *d, const char *service, const char *desired_state,
    struct docker_task **out, size_t *n, int64_t timeout_ms, struct error *err)
{
	void *list = NULL;
	char *path;
	int rc;

	*out = NULL;
	*n = 0;
	memset(err, 0, sizeof(*err));
	if (service != NULL && !valid_ref(service))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid service id");
	if ((path = filtered_path("/tasks", "service", service, "desired-state", desired_state)) ==
	    NULL)
		return fail_memory(err);
	rc = get_list(d, path, NULL, "task", sizeof(**out), task_from_json, &list, n, timeout_ms,
	    err);
	free(path);
	*out = list;
	return rc;
}

static void
node_from_json(void *out, const json_t *o)
{
	struct docker_node *node = out;
	const json_t *spec = json_object_get(o, "Spec");

	copy_text(node->id, sizeof(node->id), json_text(o, "ID"));
	copy_text(node->hostname, sizeof(node->hostname),
	    json_text(json_object_get(o, "Description"), "Hostname"));
	copy_text(node->state, sizeof(node->state), json_text(json_object_get(o, "Status"), "State"));
	copy_text(node->availability, sizeof(node->availability), json_text(spec, "Availability"));
	copy_text(node->role, sizeof(node->role), json_text(spec, "Role"));
}

int
docker_node_list(struct docker *d, struct docker_node **out, size_t *n, int64_t timeout_ms,
    struct error *err)
{
	void *list = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = get_list(d, "/nodes", NULL, "node", sizeof(**out), node_from_json, &list, n, timeout_ms,
	    err);
	*out = list;
	return rc;
}

/* --- volumes ---------------------------------------------------------------------------- */

int
docker_volume_create(struct docker *d, const char *name, const char *driver,
    const struct docker_label *labels, size_t n_labels, int64_t timeout_ms,
    struct error *err)
{
	json_t *body;
	int rc;

	memset(err, 0, sizeof(*err));
	if (!valid_ref(name))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid volume name");
	body = json_pack("{s:s, s:s, s:o*}", "Name", name, "Driver",
	    driver != NULL && driver[0] != '\0' ? driver : "local", "Labels",
	    label_object(labels, n_labels));
	if (body == NULL)
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "volume: a string is not UTF-8 (or out of memory)");
	rc = request_json(d, "POST", "/volumes/create", body, NULL, NULL, timeout_ms, err);
	json_decref(body);
	return rc;
}

static void
volume_from_json(void *out, const json_t *o)
{
	struct docker_volume *v = out;
	memset(v, 0, sizeof(*v));
	copy_text(v->name, sizeof(v->name), json_text(o, "Name"));
	copy_text(v->driver, sizeof(v->driver), json_text(o, "Driver"));
	copy_text(v->mountpoint, sizeof(v->mountpoint), json_text(o, "Mountpoint"));
	copy_text(v->label_data_dir, sizeof(v->label_data_dir),
	    json_text(json_object_get(o, "Labels"), DOCKER_LABEL_DATA_DIR));
}

int
docker_volume_inspect(struct docker *d, const char *name, struct docker_volume *out,
    int64_t timeout_ms, struct error *err)
{
	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	return get_one(d, "/volumes/", name, "volume name", volume_from_json, out, timeout_ms, err);
}

int
docker_volume_list(struct docker *d, const char *label, struct docker_volume **out, size_t *n,
    int64_t timeout_ms, struct error *err)
{
	char *path = filtered_path("/volumes", "label", label, NULL, NULL);
	void *list = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	memset(err, 0, sizeof(*err));
	if (path == NULL)
		return fail_memory(err);
	rc = get_list(d, path, "Volumes", "volume", sizeof(**out), volume_from_json, &list, n,
	    timeout_ms, err);
	free(path);
	*out = list;
	return rc;
}

int
docker_volume_remove(struct docker *d, const char *name, bool force, int64_t timeout_ms,
    struct error *err)
{
	char path[300];

	memset(err, 0, sizeof(*err));
	if (!valid_ref(name))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid volume name");
	snprintf(path, sizeof(path), "/volumes/%s?force=%s", name, force ? "true" : "false");
	return docker_api_request(d, "DELETE", path, NULL, 0, NULL, NULL, timeout_ms, err);
}

/* --- the swarm ---------------------------------------------------------------------------- */

int
docker_swarm_state(struct docker *d, struct docker_swarm_state *out, int64_t timeout_ms,
    struct error *err)
{
	json_t *o = NULL, *swarm;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if ((rc = request_json(d, "GET", "/info", NULL, &o, NULL, timeout_ms, err)) == CODE_OK) {
		swarm = json_object_get(o, "Swarm");
		copy_text(out->local_node_state, sizeof(out->local_node_state),
		    json_text(swarm, "LocalNodeState"));
		out->manager = json_is_true(json_object_get(swarm, "ControlAvailable"));
		copy_text(out->node_id, sizeof(out->node_id), json_text(swarm, "NodeID"));
		copy_text(out->hostname, sizeof(out->hostname), json_text(o, "Name"));
	}
	json_decref(o);
	return rc;
}

int
docker_swarm_init(struct docker *d, const char *listen_addr, const char *advertise_addr,
    int64_t timeout_ms, struct error *err)
{
	json_t *body;
	int rc;

	memset(err, 0, sizeof(*err));
	body = json_pack("{s:s, s:s}", "ListenAddr", listen_addr, "AdvertiseAddr", advertise_addr);
	if (body == NULL)
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "swarm init: bad address");
	rc = request_json(d, "POST", "/swarm/init", body, NULL, NULL, timeout_ms, err);
	json_decref(body);
	return rc;
}

int
docker_swarm_leave(struct docker *d, bool force, int64_t timeout_ms, struct error *err)
{
	memset(err, 0, sizeof(*err));
	return docker_api_request(d, "POST", force ? "/swarm/leave?force=true" : "/swarm/leave",
	    NULL, 0, NULL, NULL, timeout_ms, err);
}
