/*
 * event_pub.c - send events on a pub0 socket. nng sockets are thread-safe,
 * so nothing here needs a lock.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "rpc/conn_guard.h"
#include "rpc/event_pub.h"
#include "rpc/ipc_access.h"
#include "rpc/ipc_watchdog.h"
#include "base/log.h"
#include "rpc/tls_listener.h"

#define MAX_LISTENERS 8

struct event_pub {
	nng_socket sock;
	nng_listener listeners[MAX_LISTENERS]; /* the watchdog may replace them */
	struct conn_guard *guard;
};

/* Undoes a half-done event_pub_open. */
static int
open_failed(struct event_pub *pub)
{
	nng_close(pub->sock);
	conn_guard_stop(pub->guard);
	free(pub);
	return -1;
}

int
event_pub_open(struct event_pub **out, const char *const *urls, size_t n,
    struct ipc_watchdog *watchdog, const struct ipc_access *ipc, const struct tls_files *tls,
    const struct conn_limits *limits, struct error *err)
{
	struct event_pub *pub = calloc(1, sizeof(*pub));
	struct conn_limits subscribers = limits != NULL ? *limits : (struct conn_limits){ 0 };
	int rv;

	if (pub == NULL) {
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	if ((rv = nng_pub0_open(&pub->sock)) != 0) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE,
		    "cannot open pub0 socket: %s", nng_strerror(rv));
		free(pub);
		return -1;
	}
	subscribers.idle_timeout_ms = 0; /* a subscriber never sends */
	if (conn_guard_start(&pub->guard, pub->sock, "events", &subscribers, NULL, err) != 0)
		return open_failed(pub);
	for (size_t i = 0; i < n && i < MAX_LISTENERS; i++) {
		nng_listener *l = &pub->listeners[i];

		if ((rv = nng_listener_create(l, pub->sock, urls[i])) != 0 ||
		    (rv = ipc_access_prepare(*l, urls[i], ipc)) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE,
			    "cannot publish events on %s: %s", urls[i], nng_strerror(rv));
			return open_failed(pub);
		}
		if (strncmp(urls[i], "tls+", 4) == 0 &&
		    tls_listener_setup(*l, urls[i], tls, err) != 0)
			return open_failed(pub);
		if ((rv = nng_listener_start(*l, 0)) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE,
			    "cannot publish events on %s: %s", urls[i], nng_strerror(rv));
			return open_failed(pub);
		}
		if (ipc_access_finish(urls[i], ipc, err) != 0)
			return open_failed(pub);
		conn_guard_listener(pub->guard, *l);
		ipc_watchdog_watch(watchdog, pub->sock, l, urls[i], ipc);
		log_info("publishing events url=%s", urls[i]);
	}
	*out = pub;
	return 0;
}

void
event_pub_close(struct event_pub *pub)
{
	if (pub == NULL)
		return;
	nng_close(pub->sock);
	conn_guard_stop(pub->guard);
	free(pub);
}

int
event_pub_default_url(const char *rpc_url, char *buf, size_t len)
{
	const char *colon;
	long port;
	int n;

	if (strncmp(rpc_url, "ipc://", 6) == 0) {
		n = snprintf(buf, len, "%s-events", rpc_url);
	} else if ((strncmp(rpc_url, "tcp://", 6) == 0 || strncmp(rpc_url, "tls+tcp://", 10) == 0) &&
	    (colon = strrchr(rpc_url, ':')) != NULL &&
	    (port = strtol(colon + 1, NULL, 10)) > 0 && port < 65535) {
		n = snprintf(buf, len, "%.*s:%ld", (int)(colon - rpc_url), rpc_url, port + 1);
	} else {
		return -1;
	}
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void
event_pub_deliver(void *ctx, const Berth__V1__Event *ev)
{
	struct event_pub *pub = ctx;
	size_t len;
	nng_msg *msg;

	if (pub == NULL)
		return;
	len = berth__v1__event__get_packed_size(ev);
	if (nng_msg_alloc(&msg, len) != 0)
		return;
	berth__v1__event__pack(ev, nng_msg_body(msg));
	/* pub0 drops rather than blocks: a slow subscriber never slows us. */
	if (nng_sendmsg(pub->sock, msg, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(msg);
}
