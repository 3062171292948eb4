/*
 * parking.h - long polls held without a thread (call_park, base/call.h).
 *
 * A call whose handler parks is answered later: the transport keeps where
 * its answer goes (the nng context that received it, or the done callback
 * of rpc_server_submit) and a copy of its request bytes, and runs the whole
 * request again, as a fresh call from the same peer with the same deadline,
 * when it is woken on its channel (parking_wake), every poll period it
 * asked for, and finally at the time it parked until, that last time
 * unable to park again. Re-runs happen on a few threads of this module,
 * each with its own per-worker state: never on nng's threads, never on the
 * thread that wakes.
 *
 * Internal to server/rpc/. Thread-safe: one mutex guards the lists and
 * counts; no lock is held while a call runs.
 */
#ifndef BERTH_RPC_PARKING_H
#define BERTH_RPC_PARKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "rpc/rpc_server.h"

struct parking;
struct rpc_context;

/* Where a parked call's answer goes: an nng context (and its pipe), or done. */
struct parked_origin {
	struct rpc_context *ctx; /* NULL for a submitted call */
	nng_pipe pipe;
	rpc_done_fn done;
	void *arg;
};

/*
 * Starts `threads` re-run threads for `srv`, at most `max_parked` calls
 * parked at once (0: no call ever parks). 0, or -1 with err set.
 */
int parking_start(struct parking **out, struct rpc_server *srv, int max_parked, int threads,
    struct error *err);

/*
 * Takes a place for one more parked call before a call runs: true when
 * the call may park (set call->may_park), false at the cap or once
 * stopping. A place taken is given back by parking_unreserve when the call
 * did not park, or passes to parking_hold when it did. *wakes_seen is set
 * to the wake count as the call starts: parking_hold runs the call again at
 * once when its channel was woken since (a wake while it ran is not lost).
 */
bool parking_reserve(struct parking *p, uint64_t *wakes_seen);
void parking_unreserve(struct parking *p);

/*
 * Holds `call`, which parked (call->parked), on its reserved place: copies
 * `data` (the request bytes) and the peer; `origin` says where the answer
 * goes. `started_us` is when the request arrived, `work_us` how long its
 * runs took so far. 0, or -1 (out of memory; the place is given back and
 * the caller answers the call now).
 */
int parking_hold(struct parking *p, const struct parked_origin *origin, const struct call *call,
    const void *data, size_t len, int64_t started_us, int64_t work_us, uint64_t wakes_seen);

/* Runs again every call parked on `channel` (soon, on a re-run thread). Any thread. */
void parking_wake(struct parking *p, unsigned channel);

/* The connection `pipe` is gone: its parked calls are dropped unanswered. Any thread. */
void parking_pipe_gone(struct parking *p, nng_pipe pipe);

/* Calls parked now. */
int parking_count(struct parking *p);

/*
 * Gives every parked call its final run (answered with what there is),
 * waits until none is left or reserved, and joins the threads; from now on
 * nothing parks (parking_reserve is false). NULL does nothing. Main
 * thread, before the server's contexts close.
 */
void parking_stop(struct parking *p);

/* Frees, once nothing can call in any more (workers joined, socket closed). */
void parking_free(struct parking *p);

#endif
