/*
 * docker_frames.c - Docker's multiplexed stdout/stderr stream (logs and
 * exec without a TTY) taken apart as it arrives: an 8-byte header (stream
 * 0/1/2, three zero bytes, big-endian length), then the payload. A TTY's
 * stream has no frames; it is handed on line by line.
 *
 * Threads: whichever thread reads the answer; no shared state.
 */
#include <string.h>

#include "engine/docker_internal.h"

static bool
looks_framed(const unsigned char *p)
{
	return p[0] <= 2 && p[1] == 0 && p[2] == 0 && p[3] == 0;
}

/* Drops the first `used` bytes of body. */
static void
drop_front(struct docker_buf *body, size_t used)
{
	if (used == 0)
		return;
	memmove(body->data, body->data + used, body->len - used);
	body->len -= used;
	body->data[body->len] = '\0';
}

/* A TTY's raw stream: complete lines (all of it at the end) as stream 1. */
static int
consume_raw(struct docker_buf *body, bool final, docker_frame_fn fn, void *arg)
{
	size_t start = 0;
	const char *nl;
	int rc = 0;

	while (rc == 0 && start < body->len &&
	    (nl = memchr(body->data + start, '\n', body->len - start)) != NULL) {
		size_t end = (size_t)(nl - body->data) + 1;
		rc = fn(arg, 1, body->data + start, end - start);
		start = end;
	}
	if (rc == 0 && final && start < body->len) {
		rc = fn(arg, 1, body->data + start, body->len - start);
		start = body->len;
	}
	drop_front(body, start);
	return rc;
}

int
docker_frames_consume(struct docker_buf *body, bool final, bool *raw, docker_frame_fn fn,
    void *arg)
{
	const unsigned char *p = (const unsigned char *)body->data;
	size_t in = 0;
	int rc = 0;

	if (body->len == 0)
		return 0;
	if (!*raw && body->len >= 4 && !looks_framed(p))
		*raw = true;
	if (*raw)
		return consume_raw(body, final, fn, arg);
	while (rc == 0 && body->len - in >= 8) {
		size_t frame = (size_t)p[in + 4] << 24 | (size_t)p[in + 5] << 16 |
		    (size_t)p[in + 6] << 8 | (size_t)p[in + 7];
		int stream = p[in] == 2 ? 2 : 1;

		if (!looks_framed(p + in)) { /* out of step: the rest is text */
			*raw = true;
			break;
		}
		if (frame > body->len - in - 8) {
			if (!final)
				break;
			frame = body->len - in - 8; /* cut short at the end */
		}
		rc = fn(arg, stream, body->data + in + 8, frame);
		in += 8 + frame;
	}
	drop_front(body, in);
	if (rc == 0 && *raw)
		return consume_raw(body, final, fn, arg);
	if (rc == 0 && final && body->len > 0)
		drop_front(body, body->len); /* a header cut short: nothing to hand on */
	return rc;
}
