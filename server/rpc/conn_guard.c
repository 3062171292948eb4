/*
 * conn_guard.c - see conn_guard.h.
 *
 * The pipes are an open-addressing table keyed by pipe id (linear probing,
 * at most half full, deletion by shifting back, so no tombstones pile up
 * under churn). Its size is bounded by the caps: a pipe is in it from
 * NNG_PIPE_EV_ADD_PRE (when admitted) until NNG_PIPE_EV_REM_POST. Counts
 * per peer address are found by a scan of the table, which happens only
 * when a network pipe is added.
 *
 * Threads: pipe_adding and pipe_removed on nng's threads; call_begin and
 * call_end on workers and nng's; sweep_main on the guard's own thread.
 * `lock` guards the table, the listener counts, the refusal log and
 * `stopping`; `reaper_lock` the reaper (its sweep asks the table, so it
 * is taken first).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth/v1/berth.pb-c.h"
#include "clock.h"
#include "base/log.h"
#include "rpc/conn_guard.h"
#include "rpc/handshake_reaper.h"

#define MAX_LISTENER_COUNTS 32
#define FIRST_TABLE_SIZE 256 /* a power of two */
#define CLOSE_BATCH 256
#define SWEEP_MIN_MS 20
#define SWEEP_MAX_MS 1000
#define LOG_EVERY_MS 1000 /* a flood writes one line a second, not one per connection */

struct conn {
	uint32_t pipe; /* 0: a free slot */
	uint32_t listener;
	bool network; /* tcp or tls: counted per address, `peer` set */
	bool closing; /* the idle sweep closed it; nng has yet to remove it */
	int calls;    /* in flight */
	int64_t idle_since_ms;
	struct peer_address peer;
};

struct listener_count {
	uint32_t listener; /* 0 or count 0: free */
	int64_t count;
};

/* Lines about a flood: at most one a second, with how many it stands for. */
struct log_limit {
	int64_t last_ms;
	unsigned long pending;
};

struct conn_guard {
	nng_socket sock;
	char name[16];
	struct conn_limits limits;
	struct conn_guard_hooks hooks;
	uint64_t pid;
	int64_t sweep_ms;

	pthread_mutex_t lock;
	struct conn *conns;
	size_t mask; /* table size - 1 */
	size_t n;
	struct listener_count listeners[MAX_LISTENER_COUNTS];
	struct log_limit refused_log;
	char refused_last[160]; /* the last refusal, for the line that stands for many */
	bool stopping;
	pthread_cond_t wake;

	pthread_mutex_t reaper_lock;
	struct handshake_reaper *reaper;

	struct log_limit idle_log, handshake_log; /* the sweeper's alone */
	pthread_t thread;
	bool thread_started;
};

/* True when a line is due; *count gets what it stands for. The caller serialises. */
static bool
log_due(struct log_limit *l, int64_t now, unsigned long add, unsigned long *count)
{
	l->pending += add;
	if (l->pending == 0 || (l->last_ms != 0 && now - l->last_ms < LOG_EVERY_MS))
		return false;
	*count = l->pending;
	l->pending = 0;
	l->last_ms = now;
	return true;
}

static void
describe(const struct conn *c, uint64_t pid, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (!c->network) {
		if (pid != 0)
			snprintf(buf, len, "ipc pid=%llu", (unsigned long long)pid);
		else
			snprintf(buf, len, "ipc");
		return;
	}
	if (memcmp(c->peer.ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		inet_ntop(AF_INET, c->peer.ip + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, (unsigned)c->peer.port);
	} else {
		inet_ntop(AF_INET6, c->peer.ip, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)c->peer.port);
	}
}

static size_t
home_of(uint32_t pipe, size_t mask)
{
	return (size_t)(pipe * 2654435761u) & mask;
}

/* The slot of `pipe`, or NULL; caller locks. */
static struct conn *
find(struct conn_guard *g, uint32_t pipe)
{
	for (size_t i = home_of(pipe, g->mask);; i = (i + 1) & g->mask) {
		if (g->conns[i].pipe == pipe)
			return &g->conns[i];
		if (g->conns[i].pipe == 0)
			return NULL;
	}
}

static void
place(struct conn *table, size_t mask, const struct conn *c)
{
	size_t i = home_of(c->pipe, mask);

	while (table[i].pipe != 0)
		i = (i + 1) & mask;
	table[i] = *c;
}

/* Adds c, doubling the table to keep it at most half full; false when out of memory. */
static bool
insert(struct conn_guard *g, const struct conn *c)
{
	if ((g->n + 1) * 2 > g->mask + 1) {
		size_t size = (g->mask + 1) * 2;
		struct conn *bigger = calloc(size, sizeof(*bigger));

		if (bigger == NULL)
			return false;
		for (size_t i = 0; i <= g->mask; i++)
			if (g->conns[i].pipe != 0)
				place(bigger, size - 1, &g->conns[i]);
		free(g->conns);
		g->conns = bigger;
		g->mask = size - 1;
	}
	place(g->conns, g->mask, c);
	g->n++;
	return true;
}

/* Empties slot i, moving back the entries that probed past it. */
static void
remove_slot(struct conn_guard *g, size_t i)
{
	for (size_t j = (i + 1) & g->mask; g->conns[j].pipe != 0; j = (j + 1) & g->mask) {
		size_t home = home_of(g->conns[j].pipe, g->mask);

		/* Entry j may move to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			g->conns[i] = g->conns[j];
			i = j;
		}
	}
	g->conns[i].pipe = 0;
	g->n--;
}

/* The count of `listener`, claimed when new; NULL when all are taken. */
static struct listener_count *
listener_count(struct conn_guard *g, uint32_t listener, bool claim)
{
	struct listener_count *free_slot = NULL;

	for (size_t i = 0; i < MAX_LISTENER_COUNTS; i++) {
		struct listener_count *lc = &g->listeners[i];

		if (lc->listener == listener && lc->count > 0)
			return lc;
		if (lc->count == 0 && free_slot == NULL)
			free_slot = lc;
	}
	if (!claim || free_slot == NULL)
		return NULL;
	free_slot->listener = listener;
	return free_slot;
}

static int64_t
pipes_of_address(const struct conn_guard *g, const struct peer_address *peer)
{
	int64_t n = 0;

	for (size_t i = 0; i <= g->mask; i++)
		n += g->conns[i].pipe != 0 && g->conns[i].network &&
		    memcmp(g->conns[i].peer.ip, peer->ip, 16) == 0;
	return n;
}

/*
 * NNG_PIPE_EV_ADD_PRE, on nng's thread: counts the new pipe in, or closes
 * it (nng then drops it before the protocol sees it). A pipe of a dialer
 * is not the guard's business.
 */
static void
pipe_adding(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct conn_guard *g = arg;
	struct conn c = { 0 };
	struct listener_count *lc;
	const char *refusal = NULL;
	unsigned long count = 0;
	nng_sockaddr sa;
	uint64_t pid = 0;
	int64_t limit = 0, now = clock_monotonic_ms();
	char who[80], line[sizeof(g->refused_last)];
	bool own;

	(void)ev;
	if (nng_listener_id(nng_pipe_listener(pipe)) <= 0)
		return;
	c.pipe = (uint32_t)nng_pipe_id(pipe);
	c.listener = (uint32_t)nng_listener_id(nng_pipe_listener(pipe));
	c.idle_since_ms = now;
	if (nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) == 0)
		c.network = peer_address_from_nng(&sa, &c.peer);
	if (!c.network)
		(void)nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &pid);
	own = !c.network && pid == g->pid;

	pthread_mutex_lock(&g->lock);
	lc = listener_count(g, c.listener, true);
	limit = c.network ? g->limits.max_per_network_listener : g->limits.max_per_ipc_listener;
	if (lc == NULL) {
		refusal = "too many listeners";
	} else if (limit > 0 && lc->count >= limit && !own) {
		refusal = "the listener has max-connections pipes";
	} else if (c.network && g->limits.max_per_address > 0 &&
	    pipes_of_address(g, &c.peer) >= g->limits.max_per_address) {
		refusal = "the address has max-connections-per-ip pipes";
		limit = g->limits.max_per_address;
	} else if (!insert(g, &c)) {
		refusal = "out of memory";
	} else {
		lc->count++;
	}
	if (refusal != NULL) {
		describe(&c, pid, who, sizeof(who));
		snprintf(g->refused_last, sizeof(g->refused_last), "peer=%s reason=\"%s\" limit=%lld",
		    who, refusal, (long long)limit);
		if (log_due(&g->refused_log, now, 1, &count))
			memcpy(line, g->refused_last, sizeof(line));
	}
	pthread_mutex_unlock(&g->lock);
	if (refusal == NULL)
		return;
	nng_pipe_close(pipe);
	if (count > 0)
		log_warn("connection refused socket=%s %s refused=%lu", g->name, line, count);
}

/* NNG_PIPE_EV_REM_POST, on nng's thread. */
static void
pipe_removed(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct conn_guard *g = arg;
	struct conn *c;

	(void)ev;
	pthread_mutex_lock(&g->lock);
	if (nng_pipe_id(pipe) > 0 && (c = find(g, (uint32_t)nng_pipe_id(pipe))) != NULL) {
		struct listener_count *lc = listener_count(g, c->listener, false);

		if (lc != NULL)
			lc->count--;
		remove_slot(g, (size_t)(c - g->conns));
	}
	pthread_mutex_unlock(&g->lock);
	if (g->hooks.removed != NULL)
		g->hooks.removed(g->hooks.arg, pipe);
}

void
conn_guard_call_begin(struct conn_guard *g, nng_pipe pipe)
{
	struct conn *c;

	if (g == NULL || nng_pipe_id(pipe) <= 0)
		return;
	pthread_mutex_lock(&g->lock);
	if ((c = find(g, (uint32_t)nng_pipe_id(pipe))) != NULL)
		c->calls++;
	pthread_mutex_unlock(&g->lock);
}

void
conn_guard_call_end(struct conn_guard *g, nng_pipe pipe)
{
	struct conn *c;

	if (g == NULL || nng_pipe_id(pipe) <= 0)
		return;
	pthread_mutex_lock(&g->lock);
	if ((c = find(g, (uint32_t)nng_pipe_id(pipe))) != NULL) {
		if (c->calls > 0)
			c->calls--;
		c->idle_since_ms = clock_monotonic_ms();
	}
	pthread_mutex_unlock(&g->lock);
}

/* The reaper's question: is this remote address one of our pipes? Sweeper. */
static bool
is_pipe(void *arg, const struct peer_address *peer)
{
	struct conn_guard *g = arg;
	bool found = false;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i <= g->mask && !found; i++)
		found = g->conns[i].pipe != 0 && g->conns[i].network &&
		    g->conns[i].peer.port == peer->port && memcmp(g->conns[i].peer.ip, peer->ip, 16) == 0;
	pthread_mutex_unlock(&g->lock);
	return found;
}

/*
 * Closes the pipes idle for idle_timeout_ms, a batch at a time so that the
 * lock is never held across nng_pipe_close. Sweeper.
 */
static void
sweep_idle(struct conn_guard *g)
{
	uint32_t batch[CLOSE_BATCH];
	size_t n, total = 0;
	unsigned long count;
	char first[80] = "";

	if (g->limits.idle_timeout_ms <= 0 ||
	    (g->hooks.may_close_idle != NULL && !g->hooks.may_close_idle(g->hooks.arg)))
		goto log;
	do {
		int64_t now = clock_monotonic_ms();

		n = 0;
		pthread_mutex_lock(&g->lock);
		for (size_t i = 0; i <= g->mask && n < CLOSE_BATCH; i++) {
			struct conn *c = &g->conns[i];

			if (c->pipe == 0 || c->closing || c->calls > 0 ||
			    now - c->idle_since_ms < g->limits.idle_timeout_ms)
				continue;
			c->closing = true;
			if (total + n == 0)
				describe(c, 0, first, sizeof(first));
			batch[n++] = c->pipe;
		}
		pthread_mutex_unlock(&g->lock);
		for (size_t i = 0; i < n; i++)
			nng_pipe_close((nng_pipe){ .id = batch[i] });
		total += n;
	} while (n == CLOSE_BATCH);
log:
	if (log_due(&g->idle_log, clock_monotonic_ms(), total, &count))
		log_debug("closed idle connections socket=%s count=%lu idle_timeout_ms=%lld%s%s",
		    g->name, count, (long long)g->limits.idle_timeout_ms, first[0] ? " first=" : "",
		    first);
}

static void
sweep_handshakes(struct conn_guard *g)
{
	unsigned long count;
	size_t n = 0;

	pthread_mutex_lock(&g->reaper_lock);
	if (g->limits.handshake_timeout_ms > 0)
		n = handshake_reaper_sweep(g->reaper, clock_monotonic_ms(),
		    g->limits.handshake_timeout_ms, is_pipe, g);
	pthread_mutex_unlock(&g->reaper_lock);
	if (log_due(&g->handshake_log, clock_monotonic_ms(), n, &count))
		log_warn("closed connections that finished no handshake socket=%s count=%lu "
			 "timeout_ms=%lld",
		    g->name, count, (long long)g->limits.handshake_timeout_ms);
}

/* Refusals a burst left unsaid. Sweeper. */
static void
flush_refusals(struct conn_guard *g)
{
	char line[sizeof(g->refused_last)];
	unsigned long count = 0;

	pthread_mutex_lock(&g->lock);
	if (log_due(&g->refused_log, clock_monotonic_ms(), 0, &count))
		memcpy(line, g->refused_last, sizeof(line));
	pthread_mutex_unlock(&g->lock);
	if (count > 0)
		log_warn("connections refused socket=%s count=%lu last: %s", g->name, count, line);
}

static void *
sweep_main(void *arg)
{
	struct conn_guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		int64_t at = clock_monotonic_ms() + g->sweep_ms;
		struct timespec until = { at / 1000, (at % 1000) * 1000000L };

		pthread_cond_timedwait(&g->wake, &g->lock, &until);
		if (g->stopping)
			break;
		pthread_mutex_unlock(&g->lock);
		sweep_idle(g);
		sweep_handshakes(g);
		flush_refusals(g);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* A quarter of the shortest deadline, within [SWEEP_MIN_MS, SWEEP_MAX_MS]. */
static int64_t
sweep_interval(const struct conn_limits *l)
{
	int64_t shortest = SWEEP_MAX_MS * 4;

	if (l->idle_timeout_ms > 0 && l->idle_timeout_ms < shortest)
		shortest = l->idle_timeout_ms;
	if (l->handshake_timeout_ms > 0 && l->handshake_timeout_ms < shortest)
		shortest = l->handshake_timeout_ms;
	shortest /= 4;
	if (shortest < SWEEP_MIN_MS)
		return SWEEP_MIN_MS;
	return shortest > SWEEP_MAX_MS ? SWEEP_MAX_MS : shortest;
}

int
conn_guard_start(struct conn_guard **out, nng_socket sock, const char *name,
    const struct conn_limits *limits, const struct conn_guard_hooks *hooks, struct error *err)
{
	struct conn_guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t attr;
	int rv;

	*out = NULL;
	if (g == NULL || (g->conns = calloc(FIRST_TABLE_SIZE, sizeof(*g->conns))) == NULL) {
		free(g);
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	g->sock = sock;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->limits = *limits;
	if (hooks != NULL)
		g->hooks = *hooks;
	g->pid = (uint64_t)getpid();
	g->mask = FIRST_TABLE_SIZE - 1;
	g->sweep_ms = sweep_interval(limits);
	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->reaper_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (limits->handshake_timeout_ms > 0 && (g->reaper = handshake_reaper_new()) == NULL)
		log_warn("cannot watch handshakes, connections that never finish one are kept "
			 "socket=%s reason=\"/proc/self/fd cannot be read\"",
		    name);
	if ((rv = nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, pipe_adding, g)) != 0 ||
	    (rv = nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, pipe_removed, g)) != 0) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot watch connections: %s",
		    nng_strerror(rv));
		goto fail;
	}
	if (pthread_create(&g->thread, NULL, sweep_main, g) != 0) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot start the connection sweeper");
		goto fail;
	}
	g->thread_started = true;
	*out = g;
	return 0;
fail:
	/* No listener has started: no callback can be running. */
	nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, NULL, NULL);
	nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, NULL, NULL);
	conn_guard_stop(g);
	return -1;
}

void
conn_guard_listener(struct conn_guard *g, nng_listener l)
{
	nng_sockaddr sa;

	if (g == NULL || g->reaper == NULL || nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0 ||
	    (sa.s_family != NNG_AF_INET && sa.s_family != NNG_AF_INET6))
		return;
	pthread_mutex_lock(&g->reaper_lock);
	if (handshake_reaper_watch(g->reaper, &sa) != 0)
		log_warn("cannot watch the handshakes of a listener socket=%s reason=\"too many "
			 "listeners\"",
		    g->name);
	pthread_mutex_unlock(&g->reaper_lock);
}

void
conn_guard_stop(struct conn_guard *g)
{
	if (g == NULL)
		return;
	if (g->thread_started) {
		pthread_mutex_lock(&g->lock);
		g->stopping = true;
		pthread_cond_broadcast(&g->wake);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->thread, NULL);
	}
	handshake_reaper_free(g->reaper);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->reaper_lock);
	pthread_mutex_destroy(&g->lock);
	free(g->conns);
	free(g);
}
