/*
 * call.c - error reporting and deadlines of one call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/call.h"
#include "clock.h"

void
call_init(struct call *call, const char *what, void *app, void *worker, int64_t timeout_ms)
{
	memset(call, 0, sizeof(*call));
	arena_init(&call->arena);
	call->method = what;
	call->request_id = "";
	call->token = "";
	call->deadline_ms = clock_monotonic_ms() + timeout_ms;
	call->app = app;
	call->worker = worker;
	call->role = RPC_ROLE_ADMIN; /* berthd's own work */
}

void
call_finish(struct call *call)
{
	arena_reset(&call->arena);
}

static void
set_message(struct call *call, int code, const char *fmt, va_list ap)
{
	call->error.code = code;
	call->error.field[0] = '\0';
	call->error.reason[0] = '\0';
	vsnprintf(call->error.message, sizeof(call->error.message), fmt, ap);
}

int
call_fail(struct call *call, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(call, code, fmt, ap);
	va_end(ap);
	return code;
}

void
call_clear_failure(struct call *call)
{
	error_clear(&call->error);
	call->n_details = 0;
}

static void
add_detail(struct call *call, const char *field, const char *reason, const char *description)
{
	Berth__V1__ErrorDetail *d;

	if (call->n_details >= CALL_DETAILS_MAX)
		return;
	d = ARENA_NEW(&call->arena, Berth__V1__ErrorDetail);
	berth__v1__error_detail__init(d);
	d->field = arena_strdup(&call->arena, field);
	d->reason = arena_strdup(&call->arena, reason);
	d->description = arena_strdup(&call->arena, description);
	call->details[call->n_details++] = d;
}

int
call_fail_detail(struct call *call, int code, const char *field, const char *reason,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_message(call, code, fmt, ap);
	va_end(ap);
	add_detail(call, field, reason, call->error.message);
	snprintf(call->error.field, sizeof(call->error.field), "%s", field);
	snprintf(call->error.reason, sizeof(call->error.reason), "%s", reason);
	return code;
}

int
call_fail_error(struct call *call, const struct error *err)
{
	int code = err->code != 0 ? err->code : BERTH__V1__CODE__INTERNAL;

	if (err->field[0] != '\0')
		return call_fail_detail(call, code, err->field, err->reason, "%s", err->message);
	return call_fail(call, code, "%s", err->message);
}

int64_t
call_remaining_ms(const struct call *call)
{
	int64_t left = call->deadline_ms - clock_monotonic_ms();
	return left > 0 ? left : 0;
}

bool
call_expired(const struct call *call)
{
	return call_remaining_ms(call) == 0;
}

bool
call_park(struct call *call, int64_t until_ms, int poll_ms, unsigned channel)
{
	if (until_ms > call->deadline_ms)
		until_ms = call->deadline_ms;
	if (!call->may_park || until_ms <= clock_monotonic_ms())
		return false;
	call->parked = true;
	call->park_until_ms = until_ms;
	call->park_poll_ms = poll_ms > 0 ? poll_ms : 0;
	call->park_channel = channel;
	return true;
}
