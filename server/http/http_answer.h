/*
 * http_answer.h - one HTTP answer as the gateway builds it, and the two
 * rules that shape answers: gRPC code -> HTTP status (grpc-gateway's
 * mapping) and the JSON error body.
 *
 *   OK 200; INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE 400;
 *   UNAUTHENTICATED 401; PERMISSION_DENIED 403; NOT_FOUND 404;
 *   ALREADY_EXISTS, ABORTED 409; RESOURCE_EXHAUSTED 429; CANCELLED 499;
 *   UNIMPLEMENTED 501; UNAVAILABLE 503; DEADLINE_EXCEEDED 504; others 500.
 *
 * Error body: {"code":"NOT_FOUND","message":"...","details":[{"field":
 * "...","reason":"...","description":"..."}]}. Any thread.
 */
#ifndef BERTH_HTTP_ANSWER_H
#define BERTH_HTTP_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/v1/berth.pb-c.h"

struct http_answer {
	unsigned status;
	char *body; /* malloc'ed; whoever holds the answer frees it */
	size_t len;
	const char *content_type; /* static */
	const char *allow;        /* static; set: an Allow header (405) */
	bool api;                 /* Cache-Control: no-store */
};

/* The HTTP status of a berth.v1.Code. */
unsigned http_status_of_code(int code);

/*
 * Makes *a an error answer: `status` (0: http_status_of_code(code)) with
 * the JSON error body of code, message and details[0..n). On allocation
 * failure the body is a fixed text.
 */
void http_answer_error(struct http_answer *a, unsigned status, int code, const char *message,
    Berth__V1__ErrorDetail *const *details, size_t n_details);

/* As http_answer_error with one detail (field and reason may be ""). */
void http_answer_error_detail(struct http_answer *a, unsigned status, int code,
    const char *field, const char *reason, const char *message);

/* Frees the body; the answer may be used again. NULL-safe. */
void http_answer_clear(struct http_answer *a);

#endif
