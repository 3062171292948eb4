/*
 * docker_logs.c - a container's (or Swarm service's) log entry by entry,
 * each with the timestamp Docker recorded: GetServiceLogs' since, cursor
 * and follow rest on these stamps. Always asks for timestamps; whoever
 * shows the lines decides whether to print them.
 *
 * Threads: any worker; nothing shared.
 */
#include <string.h>

#include "engine/docker.h"
#include "engine/docker_internal.h"

struct log_reader {
	docker_log_fn fn;
	void *arg;
	bool raw;
	struct timestamp last; /* an entry without a readable stamp gets the one before */
};

/* One frame (one entry, "STAMP text"): split and handed to the caller. */
static int
log_frame(void *arg, int stream, const char *data, size_t len)
{
	struct log_reader *r = arg;
	struct docker_log_entry e = { .stream = stream };
	const char *space = memchr(data, ' ', len < 64 ? len : 64);

	if (space != NULL && timestamp_parse_rfc3339(data, (size_t)(space - data), &e.time)) {
		e.stamp = data;
		e.stamp_len = (size_t)(space - data);
		e.text = space + 1;
		e.len = len - e.stamp_len - 1;
		r->last = e.time;
	} else {
		e.time = r->last;
		e.stamp = "";
		e.text = data;
		e.len = len;
	}
	return r->fn(r->arg, &e);
}

static int
log_sink(void *arg, struct docker_buf *body, bool final)
{
	struct log_reader *r = arg;

	return docker_frames_consume(body, final, &r->raw, log_frame, r);
}

int
docker_logs_each(struct docker *d, const char *kind, const char *ref,
    const struct docker_logs_query *q, docker_log_fn fn, void *arg, int64_t timeout_ms,
    struct error *err)
{
	struct docker_request rq = { .method = "GET", .answer = DOCKER_ANSWER_SINK };
	struct log_reader reader = { .fn = fn, .arg = arg };
	struct docker_response resp;
	char at[TIMESTAMP_UNIX_LEN];
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(ref))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid %.*s id",
		    (int)strlen(kind) - 1, kind);
	docker_path_add(&rq.path, "/%s/%s/logs?timestamps=1&stdout=%d&stderr=%d", kind, ref,
	    !q->no_stdout, !q->no_stderr);
	if (q->tail > 0)
		docker_path_add(&rq.path, "&tail=%u", q->tail);
	else
		docker_path_add(&rq.path, "&tail=all");
	if (q->has_since) {
		timestamp_format_unix(&q->since, at, sizeof(at));
		docker_path_add(&rq.path, "&since=%s", at);
	}
	if (q->has_until) {
		timestamp_format_unix(&q->until, at, sizeof(at));
		docker_path_add(&rq.path, "&until=%s", at);
	}
	rq.sink = log_sink;
	rq.sink_arg = &reader;
	rc = docker_request(d, &rq, deadline, &resp, err);
	docker_response_free(&resp);
	return rc;
}
