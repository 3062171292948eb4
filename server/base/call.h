/*
 * call.h - the context of one RPC as a handler sees it.
 *
 * A worker thread fills a struct call for each request it receives, the
 * dispatcher hands it to the method's handler, and the handler reports
 * failure through call_fail*() so that a gRPC code, a message and error
 * details travel all the way to the reply. All memory hangs off call->arena.
 */
#ifndef BERTH_CALL_H
#define BERTH_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "berth/v1/berth.pb-c.h"
#include "base/role.h"
#include "error.h"

#define CALL_DETAILS_MAX 64 /* a spec reports every mistake (spec.c) */

struct call {
	struct arena arena;
	const char *method;     /* full path, "/berth.v1.Berth/Health" */
	const char *request_id; /* "" when the client sent none */
	const char *token;
	int64_t deadline_ms;    /* monotonic ms; the call must be done by then */

	void *app;              /* the application (berthd: struct berthd *) */
	void *worker;           /* per-worker state (berthd: struct registry *) */

	/* Who calls: filled by the RPC server from the connection (nng pipe). */
	int peer_family;        /* NNG_AF_IPC, NNG_AF_INET, NNG_AF_INET6; 0 = unknown */
	char peer[96];          /* "ipc uid=0 pid=42", "10.0.0.5:51234"; "" = unknown */
	char principal[64];     /* set by the authorize hook: token name, "local" or "" */
	enum rpc_role role;     /* what the caller may do, as the authorize hook found it */
	bool mutating;          /* the method changes state (its route says so) */
	const ProtobufCMessage *request; /* the decoded request, once dispatch_call has it */

	/*
	 * Exactly once across restarts. request_key names a mutating call with
	 * a request id (NULL otherwise): the handler stamps its first change
	 * with it (requests_stamp). When an earlier attempt of the same call was
	 * cut short by a crash, resumed is true and resumed_subject (if that
	 * attempt got as far as a change) says what it changed, resumed_detail
	 * what it kept to answer for it: the handler answers for that change
	 * instead of making it again.
	 */
	const char *request_key;
	bool resumed;
	const char *resumed_subject;
	const void *resumed_detail;
	size_t resumed_detail_len;

	/*
	 * Long polls (WatchEvents, GetServiceLogs with follow). A transport
	 * that can hold a call without holding a thread sets may_park. A
	 * handler with nothing to answer yet calls call_park() and, when it
	 * returns true, returns OK without filling its response: the transport
	 * sends nothing and runs the whole request again, as a fresh call, when
	 * call_wake(channel) is called, every poll_ms (if not 0), and finally at
	 * until_ms, that last time with may_park false so the handler answers.
	 */
	bool may_park;
	bool parked;              /* set by call_park */
	int64_t park_until_ms;    /* monotonic ms */
	int park_poll_ms;         /* 0: only when woken or at park_until_ms */
	unsigned park_channel;    /* enum call_wake_channel */

	/* Outcome, set by call_fail*(): the code, the message, the first field. */
	struct error error;
	Berth__V1__ErrorDetail *details[CALL_DETAILS_MAX];
	size_t n_details;
};

/*
 * Prepares a call for work berthd does on its own behalf (start-up
 * reconciliation, shutdown, the event follower): same context, same error
 * reporting, a deadline of timeout_ms from now. Release with call_finish.
 */
void call_init(struct call *call, const char *what, void *app, void *worker, int64_t timeout_ms);
void call_finish(struct call *call);

/*
 * Records a failure and returns `code`, so handlers can write
 * `return call_fail(call, BERTH__V1__CODE__NOT_FOUND, "...")`.
 */
int call_fail(struct call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As call_fail, and adds an ErrorDetail naming the field and reason. */
int call_fail_detail(struct call *call, int code, const char *field, const char *reason,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Forgets a recorded failure the handler recovered from (it tried again). */
void call_clear_failure(struct call *call);

/*
 * Records a failure carried up as a struct error (validate_*(), the
 * engine, the store): its code and message, and an ErrorDetail when it
 * names a field. Returns err->code.
 */
int call_fail_error(struct call *call, const struct error *err);

/* What a parked call waits for, besides its poll period and its end. */
enum call_wake_channel {
	CALL_WAKE_NONE = 0,
	CALL_WAKE_EVENTS = 1, /* a berth event was published */
};

/*
 * Asks the transport to hold the call until woken on `channel`, every
 * poll_ms, or until_ms (capped at the call's deadline). Returns false when
 * the transport cannot park it (may_park is false, or the time is up): the
 * handler must answer now.
 */
bool call_park(struct call *call, int64_t until_ms, int poll_ms, unsigned channel);

/* Milliseconds left before the deadline; 0 when it has passed. */
int64_t call_remaining_ms(const struct call *call);

/* True when the deadline has passed (the handler should give up). */
bool call_expired(const struct call *call);

#endif
