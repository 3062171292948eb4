/*
 * docker_containers.c - containers: create, start, stop, restart, kill,
 * remove, inspect, list, and their logs (demultiplexed) and stats.
 *
 * Threads: any; no state here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/docker_internal.h"

/* The body of POST /containers/create; NULL with err set on failure. */
static json_t *
create_body(const struct docker_container_spec *spec, struct error *err)
{
	json_t *body = NULL, *env = NULL, *cmd = NULL, *labels = NULL, *exposed = NULL;
	json_t *bindings = NULL, *binds = NULL;
	char port_key[16], host_port[8], *bind;
	size_t n;

	if (spec->bind_source != NULL && *spec->bind_source != '\0' &&
	    (spec->bind_target == NULL || spec->bind_target[0] != '/')) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "bind target must be an absolute path");
		return NULL;
	}
	env = docker_json_strings(spec->env, spec->n_env);
	cmd = spec->n_command > 0 ? docker_json_strings(spec->command, spec->n_command) : NULL;
	labels = docker_json_labels(spec->labels, spec->n_labels);
	if (env == NULL || (spec->n_command > 0 && cmd == NULL) || labels == NULL)
		goto invalid;
	if (spec->container_port != 0) {
		snprintf(port_key, sizeof(port_key), "%u/tcp", (unsigned)spec->container_port);
		if (spec->host_port != 0)
			snprintf(host_port, sizeof(host_port), "%u", (unsigned)spec->host_port);
		else
			host_port[0] = '\0'; /* Docker picks one */
		exposed = json_pack("{s:{}}", port_key);
		bindings = json_pack("{s:[{s:s, s:s}]}", port_key, "HostIp",
		    spec->host_ip != NULL ? spec->host_ip : "", "HostPort", host_port);
		if (exposed == NULL || bindings == NULL)
			goto invalid;
	}
	if (spec->bind_source != NULL && *spec->bind_source != '\0') {
		n = strlen(spec->bind_source) + strlen(spec->bind_target) + 2;
		if ((bind = malloc(n)) == NULL)
			goto invalid;
		snprintf(bind, n, "%s:%s", spec->bind_source, spec->bind_target);
		binds = json_pack("[s]", bind);
		free(bind);
		if (binds == NULL)
			goto invalid;
	}
	/* "o*" steals the reference (also on failure) and leaves a NULL out. */
	body = json_pack("{s:s, s:o, s:o*, s:o, s:o*, s:{s:o*, s:o*, s:{s:s}}}", "Image",
	    spec->image, "Env", env, "Cmd", cmd, "Labels", labels, "ExposedPorts", exposed,
	    "HostConfig", "PortBindings", bindings, "Binds", binds, "RestartPolicy", "Name", "no");
	if (body == NULL)
		goto failed;
	if (spec->stop_timeout_s > 0 &&
	    json_object_set_new(body, "StopTimeout", json_integer(spec->stop_timeout_s)) != 0) {
		json_decref(body);
		goto failed;
	}
	/* Resource limits: HostConfig.NanoCpus and Memory, as `docker run --cpus --memory`. */
	if ((spec->nano_cpus > 0 &&
		json_object_set_new(json_object_get(body, "HostConfig"), "NanoCpus",
		    json_integer(spec->nano_cpus)) != 0) ||
	    (spec->memory_bytes > 0 &&
		json_object_set_new(json_object_get(body, "HostConfig"), "Memory",
		    json_integer(spec->memory_bytes)) != 0) ||
	    (spec->init &&
		json_object_set_new(json_object_get(body, "HostConfig"), "Init", json_true()) != 0) ||
	    (spec->user != NULL && spec->user[0] != '\0' &&
		json_object_set_new(body, "User", json_string(spec->user)) != 0)) {
		json_decref(body);
		goto failed;
	}
	return body;
invalid:
	json_decref(env);
	json_decref(cmd);
	json_decref(labels);
	json_decref(exposed);
	json_decref(bindings);
	json_decref(binds);
failed:
	error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
	    "container spec: a string is missing or not UTF-8 (or out of memory)");
	return NULL;
}

int
docker_container_create(struct docker *d, const struct docker_container_spec *spec,
    char id[DOCKER_ID_LEN + 1], int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "POST", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	json_t *body;
	const char *new_id;
	int64_t deadline;
	int rc;

	id[0] = '\0';
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_image_ref(spec->image))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	if (spec->name != NULL && !docker_valid_ref(spec->name))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container name");
	if ((body = create_body(spec, err)) == NULL)
		return err->code;
	docker_path_add(&rq.path, "/containers/create");
	if (spec->name != NULL) {
		docker_path_add(&rq.path, "?name=");
		docker_path_escaped(&rq.path, spec->name);
	}
	rq.json = body;
	rc = docker_request(d, &rq, deadline, &resp, err);
	json_decref(body);
	if (rc == DOCKER_OK) {
		new_id = docker_json_text(resp.json, "Id");
		if (new_id == NULL || strlen(new_id) > DOCKER_ID_LEN)
			rc = error_set(err, BERTH__V1__CODE__INTERNAL,
			    "Docker sent no container id");
		else
			docker_copy_text(id, DOCKER_ID_LEN + 1, new_id);
	} else if (rc == BERTH__V1__CODE__FAILED_PRECONDITION && resp.status == 409) {
		rc = err->code = BERTH__V1__CODE__ALREADY_EXISTS; /* the name is taken */
	}
	docker_response_free(&resp);
	return rc;
}

/*
 * METHOD /containers/{id}[/ACTION][?query]: the calls whose answer is only
 * a status. An action (start, restart, ...) that finds the host port taken
 * is ABORTED with reason PORT_IN_USE.
 */
static int
container_call(struct docker *d, const char *method, const char *id, const char *action,
    const char *query, int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = method };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(id))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	docker_path_add(&rq.path, "/containers/%s%s%s%s", id, action != NULL ? "/" : "",
	    action != NULL ? action : "", query);
	rc = docker_request(d, &rq, deadline, &resp, err);
	if (rc != DOCKER_OK && action != NULL && resp.status >= 400 &&
	    docker_port_taken(err->message))
		rc = docker_fail_port_in_use(err);
	docker_response_free(&resp);
	return rc;
}

/* "?t=N", or "" when stop_timeout_s < 0 (the container's StopTimeout applies). */
static const char *
stop_query(int stop_timeout_s, char *buf, size_t len)
{
	if (stop_timeout_s < 0)
		return "";
	snprintf(buf, len, "?t=%d", stop_timeout_s);
	return buf;
}

int
docker_container_start(struct docker *d, const char *id, int64_t timeout_ms, struct error *err)
{
	return container_call(d, "POST", id, "start", "", timeout_ms, err);
}

int
docker_container_stop(struct docker *d, const char *id, int stop_timeout_s, int64_t timeout_ms,
    struct error *err)
{
	char q[32];

	return container_call(d, "POST", id, "stop", stop_query(stop_timeout_s, q, sizeof(q)),
	    timeout_ms, err);
}

int
docker_container_restart(struct docker *d, const char *id, int stop_timeout_s,
    int64_t timeout_ms, struct error *err)
{
	char q[32];

	return container_call(d, "POST", id, "restart", stop_query(stop_timeout_s, q, sizeof(q)),
	    timeout_ms, err);
}

int
docker_container_kill(struct docker *d, const char *id, int64_t timeout_ms, struct error *err)
{
	return container_call(d, "POST", id, "kill", "", timeout_ms, err);
}

int
docker_container_rename(struct docker *d, const char *id, const char *new_name,
    int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "POST" };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(id) || !docker_valid_ref(new_name))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container name");
	docker_path_add(&rq.path, "/containers/%s/rename?name=", id);
	docker_path_escaped(&rq.path, new_name);
	rc = docker_request(d, &rq, deadline, &resp, err);
	if (rc == BERTH__V1__CODE__FAILED_PRECONDITION && resp.status == 409)
		rc = err->code = BERTH__V1__CODE__ALREADY_EXISTS; /* the name is taken (docker.h) */
	docker_response_free(&resp);
	return rc;
}

int
docker_container_remove(struct docker *d, const char *id, bool force, int64_t timeout_ms,
    struct error *err)
{
	return container_call(d, "DELETE", id, NULL,
	    force ? "?force=true&v=true" : "?force=false&v=true",
	    timeout_ms, err);
}

static void
add_port(struct docker_container *c, json_int_t port)
{
	if (port <= 0 || port > 65535)
		return;
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i] == (uint16_t)port)
			return; /* IPv4 and IPv6 bindings of the same port */
	if (c->n_ports < DOCKER_MAX_PORTS)
		c->ports[c->n_ports++] = (uint16_t)port;
}

static void
fill_labels(struct docker_container *c, const json_t *labels)
{
	docker_copy_text(c->label_service, sizeof(c->label_service),
	    docker_json_text(labels, DOCKER_LABEL_SERVICE));
	docker_copy_text(c->label_template, sizeof(c->label_template),
	    docker_json_text(labels, DOCKER_LABEL_TEMPLATE));
	docker_copy_text(c->label_instance, sizeof(c->label_instance),
	    docker_json_text(labels, DOCKER_LABEL_INSTANCE));
	docker_copy_text(c->label_data_dir, sizeof(c->label_data_dir),
	    docker_json_text(labels, DOCKER_LABEL_DATA_DIR));
}

/* {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}], "9/udp": null} */
static void
fill_port_map(struct docker_container *c, const json_t *map)
{
	const char *key;
	json_t *list, *binding;
	size_t i;

	json_object_foreach ((json_t *)map, key, list) {
		json_array_foreach (list, i, binding) {
			const char *text = docker_json_text(binding, "HostPort");
			char *end;
			long port;

			if (text == NULL || *text == '\0')
				continue;
			port = strtol(text, &end, 10);
			if (*end == '\0')
				add_port(c, port);
		}
	}
}

/* One entry of GET /containers/json. */
static void
container_from_list(void *out, const json_t *o)
{
	struct docker_container *c = out;
	const char *name = json_string_value(json_array_get(json_object_get(o, "Names"), 0));
	json_t *port;
	size_t i;

	memset(c, 0, sizeof(*c));
	docker_copy_text(c->id, sizeof(c->id), docker_json_text(o, "Id"));
	if (name != NULL && name[0] == '/')
		name++;
	docker_copy_text(c->name, sizeof(c->name), name);
	docker_copy_text(c->state, sizeof(c->state), docker_json_text(o, "State"));
	fill_labels(c, json_object_get(o, "Labels"));
	json_array_foreach (json_object_get(o, "Ports"), i, port)
		add_port(c, json_integer_value(json_object_get(port, "PublicPort")));
}

/*
 * The container's own address on its network while it runs (the health
 * probes connect there): the default bridge's, else the first network's
 * with one.
 */
static void
fill_address(struct docker_container *c, const json_t *net)
{
	const char *ip = docker_json_text(net, "IPAddress");
	const char *key;
	json_t *n;

	if (ip == NULL || ip[0] == '\0') {
		json_object_foreach ((json_t *)json_object_get(net, "Networks"), key, n) {
			ip = docker_json_text(n, "IPAddress");
			if (ip != NULL && ip[0] != '\0')
				break;
		}
	}
	docker_copy_text(c->ip, sizeof(c->ip), ip);
}

/* GET /containers/{id}/json: Docker's object into *out. */
static void
container_from_inspect(void *to, const json_t *o)
{
	struct docker_container *out = to;
	const json_t *state = json_object_get(o, "State");
	const char *name = docker_json_text(o, "Name");

	docker_copy_text(out->id, sizeof(out->id), docker_json_text(o, "Id"));
	if (name != NULL && name[0] == '/')
		name++;
	docker_copy_text(out->name, sizeof(out->name), name);
	docker_copy_text(out->state, sizeof(out->state), docker_json_text(state, "Status"));
	out->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
	docker_copy_text(out->started_at, sizeof(out->started_at),
	    docker_json_text(state, "StartedAt"));
	docker_copy_text(out->finished_at, sizeof(out->finished_at),
	    docker_json_text(state, "FinishedAt"));
	docker_copy_text(out->image_id, sizeof(out->image_id), docker_json_text(o, "Image"));
	fill_labels(out, json_object_get(json_object_get(o, "Config"), "Labels"));
	fill_address(out, json_object_get(o, "NetworkSettings"));
	/* Ports actually bound while running; what was asked for otherwise. */
	fill_port_map(out, json_object_get(json_object_get(o, "NetworkSettings"), "Ports"));
	if (out->n_ports == 0)
		fill_port_map(out, json_object_get(json_object_get(o, "HostConfig"),
		    "PortBindings"));
}

int
docker_container_inspect(struct docker *d, const char *id, struct docker_container *out,
    int64_t timeout_ms, struct error *err)
{
	memset(out, 0, sizeof(*out));
	return docker_get_object(d, "/containers/", id, "/json", "container id",
	    container_from_inspect, out, timeout_ms, err);
}

int
docker_container_list(struct docker *d, const char *label, struct docker_container **out,
    size_t *n, int64_t timeout_ms, struct error *err)
{
	void *list = NULL;
	int rc;

	/* filters={"label":["berth.managed=true"]}, url-encoded */
	rc = docker_get_list(d, "/containers/json?all=1", "label", label, NULL, NULL, NULL,
	    "container", sizeof(**out), container_from_list, &list, n, timeout_ms, err);
	*out = list;
	return rc;
}

/*
 * Without a TTY Docker multiplexes stdout and stderr: frames of an 8-byte
 * header (stream 0/1/2, three zero bytes, big-endian length) and payload.
 * Decoded in place; anything that does not look like a frame is raw text.
 */
size_t
docker_demultiplex(char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t in = 0, out = 0;

	if (len < 8 || p[0] > 2 || p[1] != 0 || p[2] != 0 || p[3] != 0)
		return len;
	while (len - in >= 8) {
		size_t frame = (size_t)p[in + 4] << 24 | (size_t)p[in + 5] << 16 |
		    (size_t)p[in + 6] << 8 | (size_t)p[in + 7];
		in += 8;
		if (frame > len - in)
			frame = len - in; /* cut short by the tail of the answer */
		memmove(data + out, data + in, frame);
		out += frame;
		in += frame;
	}
	return out;
}

int
docker_read_logs(struct docker *d, struct docker_request *rq, char **out, int64_t deadline,
    struct error *err)
{
	struct docker_response resp;
	int rc;

	*out = NULL;
	rq->method = "GET";
	rq->answer = DOCKER_ANSWER_TEXT;
	rq->limit = DOCKER_LOGS_MAX;
	if ((rc = docker_request(d, rq, deadline, &resp, err)) == DOCKER_OK) {
		resp.len = docker_demultiplex(resp.text, resp.len);
		resp.text[resp.len] = '\0';
		*out = resp.text;
		resp.text = NULL;
	}
	docker_response_free(&resp);
	return rc;
}

int
docker_object_logs(struct docker *d, const char *kind, const char *ref, unsigned tail,
    char **out, int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "GET" };
	int64_t deadline;
	int rc;

	*out = NULL;
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(ref))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid %.*s id",
		    (int)strlen(kind) - 1, kind);
	docker_path_add(&rq.path, "/%s/%s/logs?stdout=1&stderr=1", kind, ref);
	if (tail > 0)
		docker_path_add(&rq.path, "&tail=%u", tail);
	else
		docker_path_add(&rq.path, "&tail=all");
	return docker_read_logs(d, &rq, out, deadline, err);
}

int
docker_container_logs(struct docker *d, const char *id, unsigned tail, char **out,
    int64_t timeout_ms, struct error *err)
{
	return docker_object_logs(d, "containers", id, tail, out, timeout_ms, err);
}

/* GET /containers/{id}/stats: Docker's object into *out. */
static void
stats_from_json(struct docker_stats *out, const json_t *o)
{
	const json_t *cpu, *pre, *mem, *mstats, *v;
	uint64_t total, pre_total, system, pre_system, online, usage, inactive;

	cpu = json_object_get(o, "cpu_stats");
	pre = json_object_get(o, "precpu_stats");
	total = docker_json_u64(json_object_get(cpu, "cpu_usage"), "total_usage");
	pre_total = docker_json_u64(json_object_get(pre, "cpu_usage"), "total_usage");
	system = docker_json_u64(cpu, "system_cpu_usage");
	pre_system = docker_json_u64(pre, "system_cpu_usage");
	online = docker_json_u64(cpu, "online_cpus");
	if (online == 0)
		online = json_array_size(
		    json_object_get(json_object_get(cpu, "cpu_usage"), "percpu_usage"));
	if (online == 0)
		online = 1;
	/* Only a previous sample gives a rate; one-shot sends none. */
	if (pre_system > 0 && system > pre_system && total > pre_total)
		out->cpu_percent = (double)(total - pre_total) / (double)(system - pre_system) *
		    (double)online * 100.0;

	/* As `docker stats`: cgroup v1 total_inactive_file, v2 inactive_file. */
	mem = json_object_get(o, "memory_stats");
	mstats = json_object_get(mem, "stats");
	usage = docker_json_u64(mem, "usage");
	if ((v = json_object_get(mstats, "total_inactive_file")) == NULL)
		v = json_object_get(mstats, "inactive_file");
	inactive = 0;
	if (json_is_integer(v) && json_integer_value(v) > 0)
		inactive = (uint64_t)json_integer_value(v);
	out->memory_bytes = inactive < usage ? usage - inactive : usage;
	out->memory_limit_bytes = docker_json_u64(mem, "limit");
}

int
docker_container_stats(struct docker *d, const char *id, struct docker_stats *out,
    int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "GET", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(id))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	docker_path_add(&rq.path, "/containers/%s/stats?stream=false&one-shot=true", id);
	if ((rc = docker_request(d, &rq, deadline, &resp, err)) == DOCKER_OK)
		stats_from_json(out, resp.json);
	docker_response_free(&resp);
	return rc;
}
