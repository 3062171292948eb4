/*
 * docker_exec.c - a command run inside a running container: for exec
 * health probes (create the exec, start it detached, poll its state) and
 * for ExecService (start it attached, read its stdout and stderr as
 * frames until it ends, then its exit code).
 *
 * Docker 20.10 cannot kill an exec'd process: at the deadline berth stops
 * waiting and the command keeps running in the container.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "engine/docker.h"
#include "engine/docker_internal.h"

#define POLL_FIRST_MS 20
#define POLL_MAX_MS 250

/* POST /containers/{id}/exec: the exec's id; attach: its output comes back on start. */
static int
exec_create(struct docker *d, const char *id, char *const *argv, size_t argc, bool attach,
    int64_t deadline, char exec_id[DOCKER_ID_LEN + 1], struct error *err)
{
	struct docker_request rq = { .method = "POST", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	const char *got;
	json_t *body;
	int rc;

	body = json_pack("{s:o, s:b, s:b, s:b}", "Cmd",
	    docker_json_strings((const char *const *)argv, argc), "AttachStdin", 0, "AttachStdout",
	    attach, "AttachStderr", attach);
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
	/*
	 * Podman 4.3 never reports a detached exec session as ended (its
	 * inspect says Running until the container stops): there the command
	 * runs attached, its output read and dropped, as ExecService runs one.
	 */
	if (docker_is_podman(d)) {
		struct docker_exec_output out;

		rc = docker_container_exec_output(d, id, argv, argc, 4096, &out,
		    deadline - clock_monotonic_ms(), err);
		if (rc == DOCKER_OK)
			*exit_code = out.exit_code;
		else if (rc == BERTH__V1__CODE__DEADLINE_EXCEEDED)
			error_set(err, rc,
			    "timed out after %lld ms (the command goes on running in the container)",
			    (long long)timeout_ms);
		docker_exec_output_free(&out);
		return rc;
	}
	if ((rc = exec_create(d, id, argv, argc, false, deadline, exec_id, err)) != DOCKER_OK)
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

/* --- with its output (ExecService) ------------------------------------------ */

/* What the attached stream has given so far. */
struct exec_capture {
	struct docker_buf out; /* limit: the cap; too_large means some was dropped */
	struct docker_buf err;
	size_t cap;
	bool raw;
	bool truncated;
	bool no_memory;
};

/* Keeps what fits under the cap of the frame's stream; drops the rest. */
static int
capture_frame(void *arg, int stream, const char *data, size_t len)
{
	struct exec_capture *c = arg;
	struct docker_buf *b = stream == 2 ? &c->err : &c->out;
	size_t room = c->cap - b->len;

	if (len > room) {
		c->truncated = true;
		len = room;
	}
	if (len > 0 && docker_buf_append(b, data, len) != 0) {
		c->no_memory = true;
		return -1;
	}
	return 0;
}

static int
capture_sink(void *arg, struct docker_buf *body, bool final)
{
	struct exec_capture *c = arg;

	return docker_frames_consume(body, final, &c->raw, capture_frame, c);
}

/* A buffer's text, or a fresh "" when it never got any; NULL when out of memory. */
static char *
take_text(struct docker_buf *b, size_t *len)
{
	char *text = b->data != NULL ? b->data : strdup("");

	*len = b->data != NULL ? b->len : 0;
	b->data = NULL;
	return text;
}

int
docker_container_exec_output(struct docker *d, const char *id, char *const *argv,
    size_t argc, size_t max_bytes, struct docker_exec_output *out, int64_t timeout_ms,
    struct error *err)
{
	struct docker_request rq = { .method = "POST", .answer = DOCKER_ANSWER_SINK };
	struct exec_capture c = { .out = { .limit = max_bytes },
		.err = { .limit = max_bytes },
		.cap = max_bytes };
	struct docker_response resp;
	char exec_id[DOCKER_ID_LEN + 1];
	int64_t deadline, wait = POLL_FIRST_MS;
	bool running = true;
	json_t *start;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(id))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	if (argc == 0)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "no command to run");
	if ((rc = exec_create(d, id, argv, argc, true, deadline, exec_id, err)) != DOCKER_OK)
		return rc;
	if ((start = json_pack("{s:b, s:b}", "Detach", 0, "Tty", 0)) == NULL)
		return docker_fail_memory(err);
	/* The answer is the command's output, until it closes its streams. */
	docker_path_add(&rq.path, "/exec/%s/start", exec_id);
	rq.json = start;
	rq.sink = capture_sink;
	rq.sink_arg = &c;
	rc = docker_request(d, &rq, deadline, &resp, err);
	docker_response_free(&resp);
	json_decref(start);
	/* Its streams closed: it has ended, or is about to (the code comes a moment later). */
	while (rc == DOCKER_OK) {
		if ((rc = exec_state(d, exec_id, deadline, &running, &out->exit_code, err)) !=
			DOCKER_OK ||
		    !running)
			break;
		if (clock_monotonic_ms() + wait >= deadline) {
			rc = error_set(err, BERTH__V1__CODE__DEADLINE_EXCEEDED,
			    "timed out after %lld ms (the command may still be running)",
			    (long long)timeout_ms);
			break;
		}
		clock_sleep_ms(wait);
		wait = wait * 2 < POLL_MAX_MS ? wait * 2 : POLL_MAX_MS;
	}
	if (rc == DOCKER_OK) {
		out->out = take_text(&c.out, &out->out_len);
		out->err = take_text(&c.err, &out->err_len);
		out->truncated = c.truncated;
		if (out->out == NULL || out->err == NULL)
			rc = docker_fail_memory(err);
	}
	docker_buf_free(&c.out);
	docker_buf_free(&c.err);
	if (rc != DOCKER_OK)
		docker_exec_output_free(out);
	return rc;
}

void
docker_exec_output_free(struct docker_exec_output *out)
{
	if (out == NULL)
		return;
	free(out->out);
	free(out->err);
	memset(out, 0, sizeof(*out));
}
