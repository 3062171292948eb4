/*
 * docker_util.h - the small helpers docker.c and docker_swarm.c share:
 * filling a docker_error, reading jansson values, checking the ids and
 * names that go into URL paths. Internal to the two
 * Engine API files; static inline, so each file keeps them private.
 */
#ifndef BERTH_DOCKER_UTIL_H
#define BERTH_DOCKER_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>

#include <jansson.h>

#include "berth/v1/berth.pb-c.h"
#include "engine/docker.h"

static inline int __attribute__((format(printf, 3, 4)))
fail(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;

	error_clear(err);
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

/*
 * docker_api_request that also tells the HTTP status of the answer
 * (*status, 0 when none came; NULL: not wanted), for the callers that tell
 * a 409 from a 400 (docker.c).
 */
int docker_api_call(struct docker *d, const char *method, const char *path, const char *json_body,
    size_t limit, char **body, size_t *len, long *status, int64_t timeout_ms, struct error *err);

static inline int
fail_memory(struct error *err)
{
	return fail(err, BERTH__V1__CODE__INTERNAL, "docker: out of memory");
}

/*
 * Container, service and volume ids and names go into URL paths: only
 * Docker's name characters are let through, so nothing can be smuggled
 * into the path or the query.
 */
static inline bool
valid_ref(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

static inline void
copy_text(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

/* The string value of `key` in object `o`, or NULL. */
static inline const char *
json_text(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

#endif
