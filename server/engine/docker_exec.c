/*
 * docker_exec.c - a command run inside a running container, for exec
 * health probes: create the exec, start it detached, poll its state.
 *
 * Docker 20.10 cannot kill an exec'd process: at the deadline berth stops
 * waiting and the command keeps running in the container.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "engine/docker.h"
#include "engine/docker_internal.h"

#define POLL_FIRST_MS 20
#define POLL_MAX_MS 250

/* POST /containers/{id}/exec: the exec's id. */
static int
exec_create(struct docker *d, const char *id, char *const *argv, size_t argc, int64_t deadline,
    char exec_id[DOCKER_ID_LEN + 1], struct error *err)
{
	struct docker_request rq = { .method = "POST", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	const char *got;
	json_t *body;
	int rc;

	body = json_pack("{s:o, s:b, s:b, s:b}", "Cmd",
	    docker_json_strings((const char *const *)argv, argc), "AttachStdin", 0, "AttachStdout",
	    0, "AttachStderr", 0);
	if (body == NULL)
		return docker_fail_memory(err);
	docker_path_add(&rq.path, "/containers/%s/exec", id);
	rq.json = body;
	rc = docker_request(d, &rq, deadline, &resp, err);
	json_decref(body);
	if (rc == DOCKER_OK) {
		got = docker_json_text(resp.json, "Id");
		if (got == NULL || strlen(got) > DOCKER_ID_LEN || !docker_valid_ref(got))
			rc = error_set(err, BERTH__V1__CODE__INTERNAL, "Docker sent no exec id");
		else
			docker_copy_text(exec_id, DOCKER_ID_LEN + 1, got);
	}
	docker_response_free(&resp);
	return rc;
}

/* GET /exec/{id}/json: whether it still runs, and its exit code once not. */
static int
exec_state(struct docker *d, const char *exec_id, int64_t deadline, bool *running,
    int *exit_code, struct error *err)
{
	struct docker_request rq = { .method = "GET", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	int rc;

	docker_path_add(&rq.path, "/exec/%s/json", exec_id);
	rc = docker_request(d, &rq, deadline, &resp, err);
	if (rc == DOCKER_OK) {
		*running = json_is_true(json_object_get(resp.json, "Running"));
		*exit_code = (int)json_integer_value(json_object_get(resp.json, "ExitCode"));
	}
	docker_response_free(&resp);
	return rc;
}

int
docker_container_exec(struct docker *d, const char *id, char *const *argv, size_t argc,
    int64_t timeout_ms, int *exit_code, struct error *err)
{
	char exec_id[DOCKER_ID_LEN + 1], path[128];
	json_t *start;
	int64_t deadline, wait = POLL_FIRST_MS;
	bool running = true;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(id))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	if (argc == 0)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "no command to run");
	if ((rc = exec_create(d, id, argv, argc, deadline, exec_id, err)) != DOCKER_OK)
		return rc;
	if ((start = json_pack("{s:b, s:b}", "Detach", 1, "Tty", 0)) == NULL)
		return docker_fail_memory(err);
	snprintf(path, sizeof(path), "/exec/%s/start", exec_id);
	rc = docker_send(d, "POST", path, start, deadline, err);
	json_decref(start);
	if (rc != DOCKER_OK)
		return rc;
	for (;;) {
		if ((rc = exec_state(d, exec_id, deadline, &running, exit_code, err)) != DOCKER_OK)
			return rc;
		if (!running)
			return DOCKER_OK;
		if (clock_monotonic_ms() + wait >= deadline)
			return error_set(err, BERTH__V1__CODE__DEADLINE_EXCEEDED,
			    "timed out after %lld ms (the command goes on running in the container)",
			    (long long)timeout_ms);
		clock_sleep_ms(wait);
		wait = wait * 2 < POLL_MAX_MS ? wait * 2 : POLL_MAX_MS;
	}
}
