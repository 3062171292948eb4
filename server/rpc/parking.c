/*
 * parking.c - long polls held without a thread: parked calls, their
 * wake-ups and their re-runs (parking.h).
 *
 * A parked call is a `struct parked` on one of two lists under `lock`:
 * `waiting` (until woken, polled or due) and `ready` (to run again, first
 * come first served). The re-run threads take from `ready`; when it is
 * empty they move what is due from `waiting` and sleep until the earliest
 * due time or a signal. `places` counts calls parked plus places reserved
 * by calls running that may park: the cap, and what parking_stop waits for.
 *
 * A parked nng call keeps its context (the answer leaves on it) and its
 * place among its connection's calls in flight (rpc_peer_enter), so it
 * counts toward the per-connection limit and keeps its connection from
 * being closed as idle; it does not count as in flight for
 * rpc_server_wait_idle, so draining never waits for a long poll.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "clock.h"
#include "rpc/parking.h"
#include "rpc/rpc_server_internal.h"

struct parked {
	struct parked *next;
	struct parked_origin origin;
	int peer_family;
	char peer[sizeof(((struct call *)0)->peer)];
	void *data; /* the request bytes, malloc'ed */
	size_t len;
	int64_t arrived_ms; /* the deadline counts from here, as at the first run */
	int64_t started_us; /* for the log line: arrival to answer */
	int64_t work_us;    /* time spent running it: the measured hook's figure */
	int64_t until_ms;   /* never moves later: a re-run cannot extend the wait */
	int64_t due_ms;     /* next run: the poll period or until_ms */
	unsigned channel;
	bool gone;  /* its connection went away: drop it */
	bool final; /* the next run may not park */
};

#define WAKE_SLOTS 16

struct parking_thread {
	struct parking *p;
	pthread_t thread;
	void *state; /* hooks->worker_open */
	bool started;
};

struct parking {
	struct rpc_server *srv;
	int max_parked;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t work;  /* ready has calls, a due time moved, or stopping */
	struct parked *waiting;
	struct parked *ready, *ready_tail;
	int places; /* parked + reserved */
	int parked;
	bool stopping;
	/*
	 * Wakes so far, and the count at the last wake of each channel (modulo
	 * WAKE_SLOTS): a call that parks after its channel was woken while it
	 * ran (it read nothing new, the news came before it was on a list) is
	 * run again at once instead of waiting for its poll or its end.
	 */
	uint64_t wakes;
	uint64_t last_wake[WAKE_SLOTS];
	struct parking_thread *threads;
	int n_threads;
};

/* Whether `channel` was woken after the wake count `seen`. Caller locks. */
static bool
woken_since(const struct parking *p, unsigned channel, uint64_t seen)
{
	return p->last_wake[channel % WAKE_SLOTS] > seen;
}

/* Caller locks. */
static void
push_ready(struct parking *p, struct parked *r)
{
	r->next = NULL;
	if (p->ready_tail != NULL)
		p->ready_tail->next = r;
	else
		p->ready = r;
	p->ready_tail = r;
}

/* Caller locks. */
static struct parked *
pop_ready(struct parking *p)
{
	struct parked *r = p->ready;

	if (r != NULL) {
		p->ready = r->next;
		if (p->ready == NULL)
			p->ready_tail = NULL;
	}
	return r;
}

/*
 * Moves every waiting call for which `pick` says yes to ready; returns how
 * many. Caller locks.
 */
static int
move_ready(struct parking *p, bool (*pick)(struct parked *r, const void *arg), const void *arg)
{
	struct parked **at = &p->waiting;
	int n = 0;

	while (*at != NULL) {
		struct parked *r = *at;

		if (pick(r, arg)) {
			*at = r->next;
			push_ready(p, r);
			n++;
		} else {
			at = &r->next;
		}
	}
	return n;
}

static bool
pick_due(struct parked *r, const void *arg)
{
	return r->gone || r->due_ms <= *(const int64_t *)arg;
}

static bool
pick_channel(struct parked *r, const void *arg)
{
	return r->channel == *(const unsigned *)arg;
}

static bool
pick_pipe(struct parked *r, const void *arg)
{
	if (r->origin.ctx == NULL || nng_pipe_id(r->origin.pipe) != nng_pipe_id(*(const nng_pipe *)arg))
		return false;
	r->gone = true;
	return true;
}

static bool
pick_all(struct parked *r, const void *arg)
{
	(void)arg;
	r->final = true;
	return true;
}

/* One place less (a call answered, dropped or not parked). Caller locks. */
static void
place_free(struct parking *p)
{
	if (--p->places == 0 && p->stopping)
		pthread_cond_broadcast(&p->work);
}

/* The call's answer goes out: on its context, or to its done callback. No lock. */
static void
answer(struct parking *p, struct parked *r, struct call *call, nng_msg *reply)
{
	struct rpc_server *srv = p->srv;

	if (srv->hooks->measured != NULL)
		srv->hooks->measured(srv->hooks->app, call, r->work_us);
	rpc_log_request(call, clock_monotonic_us() - r->started_us);
	if (r->origin.ctx != NULL) {
		rpc_context_unpark(srv, r->origin.ctx, false);
		rpc_inflight_add(srv, 1); /* send_done ends it */
		rpc_send_reply(r->origin.ctx, reply, r->origin.pipe, true, SEND_TIMEOUT_MS, r->peer);
		return;
	}
	{
		void *bytes = NULL;
		size_t len = 0;

		if (reply != NULL && (bytes = malloc(nng_msg_len(reply) + 1)) != NULL) {
			memcpy(bytes, nng_msg_body(reply), nng_msg_len(reply));
			len = nng_msg_len(reply);
		}
		if (reply != NULL)
			nng_msg_free(reply);
		r->origin.done(r->origin.arg, call->error.code, bytes, len);
	}
}

/* A call whose connection went away: its context and its place are free. No lock. */
static void
drop(struct parking *p, struct parked *r)
{
	log_debug("rpc parked call dropped, its connection is gone peer=%s",
	    r->peer[0] ? r->peer : "-");
	rpc_context_unpark(p->srv, r->origin.ctx, true);
	rpc_peer_leave(p->srv, r->origin.pipe);
}

/*
 * Runs a parked call again on a re-run thread (`state`: its per-worker
 * state). Parks it again, or answers it. No lock held on entry or exit.
 */
static void
rerun(struct parking *p, struct parked *r, void *state, uint64_t wakes_seen)
{
	struct rpc_server *srv = p->srv;
	int64_t began = clock_monotonic_us(), now_ms = began / 1000;
	struct call call;
	nng_msg *reply;

	if (r->gone) {
		drop(p, r);
		goto done;
	}
	rpc_call_begin(&call, srv, state, r->arrived_ms, r->peer_family, r->peer);
	call.may_park = !r->final && now_ms < r->until_ms;
	reply = rpc_run_call(srv, &call, r->data, r->len);
	r->work_us += clock_monotonic_us() - began;
	if (call.parked) {
		nng_msg_free(reply);
		if (call.park_until_ms < r->until_ms)
			r->until_ms = call.park_until_ms;
		r->channel = call.park_channel;
		r->due_ms = call.park_poll_ms > 0 && now_ms + call.park_poll_ms < r->until_ms
		    ? now_ms + call.park_poll_ms
		    : r->until_ms;
		arena_reset(&call.arena);
		pthread_mutex_lock(&p->lock);
		/*
		 * Its connection may have gone while it ran (parking_pipe_gone
		 * saw it nowhere). Asked under the lock: a removal after this
		 * finds it on the list.
		 */
		if (r->origin.ctx != NULL && !rpc_peer_known(srv, r->origin.pipe))
			r->gone = true;
		if (p->stopping || r->gone || woken_since(p, r->channel, wakes_seen)) {
			r->final = p->stopping;
			push_ready(p, r);
		} else {
			r->next = p->waiting;
			p->waiting = r;
		}
		pthread_cond_signal(&p->work); /* its due time may be the earliest now */
		pthread_mutex_unlock(&p->lock);
		return;
	}
	answer(p, r, &call, reply);
	arena_reset(&call.arena);
done:
	free(r->data);
	free(r);
	pthread_mutex_lock(&p->lock);
	p->parked--;
	place_free(p);
	pthread_mutex_unlock(&p->lock);
}

static void *
parking_main(void *arg)
{
	struct parking_thread *t = arg;
	struct parking *p = t->p;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct parked *r = pop_ready(p);
		int64_t now, next = INT64_MAX;
		struct timespec until;

		if (r != NULL) {
			uint64_t seen = p->wakes;

			pthread_mutex_unlock(&p->lock);
			rerun(p, r, t->state, seen);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		now = clock_monotonic_ms();
		if (move_ready(p, pick_due, &now) > 0)
			continue;
		if (p->stopping && p->places == 0)
			break;
		for (struct parked *w = p->waiting; w != NULL; w = w->next)
			if (w->due_ms < next)
				next = w->due_ms;
		if (next - now > 1000)
			next = now + 1000; /* look again at least every second */
		/* The condition's clock is CLOCK_REALTIME: wait the difference. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (next - now) / 1000;
		until.tv_nsec += ((next - now) % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->work, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int
parking_start(struct parking **out, struct rpc_server *srv, int max_parked, int threads,
    struct error *err)
{
	struct parking *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->threads = calloc((size_t)threads, sizeof(*p->threads))) == NULL) {
		free(p);
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	p->srv = srv;
	p->max_parked = max_parked > 0 ? max_parked : 0;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	*out = p;
	if (p->max_parked == 0)
		return 0; /* nothing ever parks: no threads */
	for (int i = 0; i < threads; i++) {
		struct parking_thread *t = &p->threads[i];

		t->p = p;
		p->n_threads = i + 1;
		if (srv->hooks->worker_open != NULL &&
		    (t->state = srv->hooks->worker_open(srv->hooks->app)) == NULL) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot prepare parking thread %d", i);
			return -1;
		}
		if (pthread_create(&t->thread, NULL, parking_main, t) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot start parking thread");
			return -1;
		}
		t->started = true;
	}
	return 0;
}

bool
parking_reserve(struct parking *p, uint64_t *wakes_seen)
{
	bool ok;

	*wakes_seen = 0;
	if (p == NULL)
		return false;
	pthread_mutex_lock(&p->lock);
	ok = !p->stopping && p->n_threads > 0 && p->places < p->max_parked;
	if (ok)
		p->places++;
	*wakes_seen = p->wakes;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

void
parking_unreserve(struct parking *p)
{
	pthread_mutex_lock(&p->lock);
	place_free(p);
	pthread_mutex_unlock(&p->lock);
}

int
parking_hold(struct parking *p, const struct parked_origin *origin, const struct call *call,
    const void *data, size_t len, int64_t started_us, int64_t work_us, uint64_t wakes_seen)
{
	struct parked *r = calloc(1, sizeof(*r));
	int64_t now = clock_monotonic_ms();

	if (r == NULL || (r->data = malloc(len > 0 ? len : 1)) == NULL ||
	    (origin->ctx != NULL && rpc_context_park(p->srv) != 0)) {
		if (r != NULL)
			free(r->data);
		free(r);
		parking_unreserve(p);
		return -1;
	}
	memcpy(r->data, data, len);
	r->len = len;
	r->origin = *origin;
	r->peer_family = call->peer_family;
	memcpy(r->peer, call->peer, sizeof(r->peer));
	r->started_us = started_us;
	r->arrived_ms = started_us / 1000;
	r->work_us = work_us;
	r->until_ms = call->park_until_ms;
	r->channel = call->park_channel;
	r->due_ms = call->park_poll_ms > 0 && now + call->park_poll_ms < r->until_ms
	    ? now + call->park_poll_ms
	    : r->until_ms;
	pthread_mutex_lock(&p->lock);
	p->parked++;
	/*
	 * As for a re-run (rerun): its connection may have gone while it ran,
	 * and parking_pipe_gone found it on no list.
	 */
	if (origin->ctx != NULL && !rpc_peer_known(p->srv, origin->pipe))
		r->gone = true;
	if (p->stopping || r->gone || woken_since(p, r->channel, wakes_seen)) {
		r->final = p->stopping;
		push_ready(p, r);
	} else {
		r->next = p->waiting;
		p->waiting = r;
	}
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void
parking_wake(struct parking *p, unsigned channel)
{
	int n;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->last_wake[channel % WAKE_SLOTS] = ++p->wakes;
	n = move_ready(p, pick_channel, &channel);
	if (n > 1)
		pthread_cond_broadcast(&p->work);
	else if (n == 1)
		pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

void
parking_pipe_gone(struct parking *p, nng_pipe pipe)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	if (move_ready(p, pick_pipe, &pipe) > 0)
		pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
}

int
parking_count(struct parking *p)
{
	int n;

	if (p == NULL)
		return 0;
	pthread_mutex_lock(&p->lock);
	n = p->parked;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
parking_stop(struct parking *p)
{
	struct rpc_server *srv;

	if (p == NULL)
		return;
	srv = p->srv;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	move_ready(p, pick_all, NULL);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->n_threads; i++)
		if (p->threads[i].started)
			pthread_join(p->threads[i].thread, NULL);
	for (int i = 0; i < p->n_threads; i++) {
		if (p->threads[i].state != NULL && srv->hooks->worker_close != NULL)
			srv->hooks->worker_close(p->threads[i].state);
		p->threads[i].started = false;
		p->threads[i].state = NULL;
	}
}

void
parking_free(struct parking *p)
{
	if (p == NULL)
		return;
	free(p->threads);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
