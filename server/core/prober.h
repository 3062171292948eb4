/*
 * prober.h - health probes of services: does a TCP port accept a
 * connection, does an HTTP endpoint answer 2xx or 3xx.
 *
 * One prober is one thread running an event loop (epoll) over non-blocking
 * sockets; every probe in flight is a small state machine on that thread
 * (CONNECTING -> SENDING -> READING for HTTP), never a thread of its own.
 * Each probe ends at its own timeout, so a target that hangs or trickles
 * bytes never delays any other probe. Memory is bounded: at most
 * max_inflight probes have a socket, at most max_queued more wait in a
 * queue (FIFO) for a free slot; a submit beyond that is refused.
 *
 * The module knows nothing of services, the registry or Docker: it is
 * handed addresses and reports results.
 */
#ifndef BERTH_PROBER_H
#define BERTH_PROBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct error;

enum probe_kind {
	PROBE_TCP,  /* healthy when the connection is established */
	PROBE_HTTP, /* healthy when GET http_path answers 2xx or 3xx */
};

#define PROBE_HTTP_PATH_MAX 256
#define PROBE_HTTP_HOST_MAX 64
/* Longest timeout a probe may ask for: ten minutes. */
#define PROBE_TIMEOUT_MAX_MS 600000
/* Bytes of an answer read before its status line must have ended. */
#define PROBE_STATUS_LINE_MAX 4096

struct probe_request {
	enum probe_kind kind;
	struct sockaddr_storage addr; /* AF_INET or AF_INET6, with the port */
	socklen_t addr_len;
	/*
	 * PROBE_HTTP only, NUL-terminated. The path starts with '/' and holds
	 * printable ASCII without spaces ("/healthz?full=1"). The Host header
	 * is http_host, or the address ("127.0.0.1:8000", "[::1]:8000") when
	 * it is empty; printable ASCII without spaces either way.
	 */
	char http_path[PROBE_HTTP_PATH_MAX];
	char http_host[PROBE_HTTP_HOST_MAX];
	/* 1..PROBE_TIMEOUT_MAX_MS; counts from when the probe leaves the queue. */
	int timeout_ms;
};

struct probe_result {
	bool healthy;
	/*
	 * Why the probe failed, for people; "" when healthy. Examples:
	 * "connection refused", "timed out after 2000 ms while connecting",
	 * "timed out after 2000 ms waiting for a status line", "HTTP 503",
	 * "connection closed before a status line", "malformed status line",
	 * "cancelled".
	 */
	char error[160];
	int http_status;    /* the status code read, 0 when none (and for tcp) */
	int64_t elapsed_ms; /* from the start of the connect to the verdict */
};

/*
 * Called exactly once for every probe a submit accepted, with its result,
 * on the prober's thread. It must be quick (it holds up every other probe)
 * and must not call prober_stop; it may call prober_submit. The result is
 * only valid during the call: copy what you keep.
 */
typedef void (*probe_done_fn)(void *arg, const struct probe_result *r);

struct prober;

/*
 * Starts the prober thread. max_inflight (>= 1) is how many probes may
 * have a socket at once; max_queued (>= 1) how many more may wait. Both
 * are allocated up front. Returns the prober, or NULL with err set.
 * Free with prober_stop.
 */
struct prober *prober_start(size_t max_inflight, size_t max_queued, struct error *err);

/*
 * Queues one probe; never blocks on the network. The request is copied.
 * Returns 0 when accepted: done(arg, result) will then be called exactly
 * once. Otherwise returns a berth.v1.Code and done is never called:
 * INVALID_ARGUMENT (a bad request: kind, address, path, host, timeout),
 * RESOURCE_EXHAUSTED (the queue is full: try again later), CANCELLED
 * (prober_stop has begun). Any thread may call it, including a done
 * callback.
 */
int prober_submit(struct prober *p, const struct probe_request *req, probe_done_fn done,
    void *arg);

/*
 * Ends every probe in flight or queued with healthy = false and error
 * "cancelled" (each done callback runs once, on the prober thread, before
 * this returns), joins the thread and frees the prober. Accepts NULL.
 * Must not be called from a done callback.
 */
void prober_stop(struct prober *p);

/*
 * Fills req for a probe of ip:port (an IPv4 or IPv6 literal). Returns 0,
 * or INVALID_ARGUMENT when ip is not an address. Sets kind PROBE_TCP and
 * an empty path and host; the caller sets the rest.
 */
int probe_request_address(struct probe_request *req, const char *ip, uint16_t port,
    int timeout_ms);

#endif
