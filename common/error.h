/*
 * error.h - one way to say "it failed", from the Engine client and the store
 * up to the RPC reply and the CLI's exit status.
 *
 * A struct error carries a berth.v1.Code (gRPC's numbers, status.h) and a
 * message, and, when the failure concerns one request field, that field's
 * dotted path and a stable reason, as ErrorDetail carries them. Callers own
 * the struct (usually on the stack); nothing in it is allocated. Every
 * function accepts a NULL error and then only returns the code, so a caller
 * that does not care passes NULL.
 */
#ifndef BERTH_ERROR_H
#define BERTH_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define ERROR_MESSAGE_MAX 512
#define ERROR_FIELD_MAX 64
#define ERROR_REASON_MAX 48

struct error {
	int code;                        /* berth.v1.Code; 0 (OK) = no failure */
	char message[ERROR_MESSAGE_MAX]; /* for people: what failed and why */
	char field[ERROR_FIELD_MAX];     /* "template.port_range_start", or "" */
	char reason[ERROR_REASON_MAX];   /* UPPER_SNAKE_CASE (ErrorDetail.reason), or "" */
};

/* Records a failure and returns `code`: `return error_set(err, NOT_FOUND, ...)`. */
int error_set(struct error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* As error_set, naming the request field and a stable reason. */
int error_set_field(struct error *e, int code, const char *field, const char *reason,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Puts "<context>: " in front of the message, keeping code, field and
 * reason ("registry: disk I/O error"). Returns e->code.
 */
int error_prefix(struct error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Back to "no failure". */
void error_clear(struct error *e);

/* True when e holds a failure. */
static inline bool
error_failed(const struct error *e)
{
	return e != NULL && e->code != 0;
}

#endif
