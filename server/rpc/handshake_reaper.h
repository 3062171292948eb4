/*
 * handshake_reaper.h - ends TCP connections that never become an nng pipe.
 *
 * nng 1.5.2 gives the SP handshake of tcp:// 10 s, but a tls+tcp://
 * connection whose TLS handshake never completes is kept for good: the
 * negotiation's timeout cancels a send that waits behind the handshake by
 * aborting the TCP send, which is not running, so nothing ends it
 * (measured: 50 such connections held 50 descriptors for as long as their
 * peers liked). nng tells berthd nothing of a connection before it is a
 * pipe, so the reaper looks where it can: the process's own descriptors.
 * Every pass it lists /proc/self/fd, keeps the connected TCP sockets whose
 * local address is one of the watched listeners', and shuts down
 * (shutdown(2), never close: the descriptor is nng's) each one that has
 * been there for the deadline without belonging to a pipe. nng then sees
 * the connection end and frees it as after any failed handshake.
 *
 * Not thread-safe: one thread (the connection guard's sweeper) owns it.
 */
#ifndef BERTH_HANDSHAKE_REAPER_H
#define BERTH_HANDSHAKE_REAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

struct handshake_reaper;

/* A peer as the reaper and the guard compare it: IPv4 as ::ffff:a.b.c.d. */
struct peer_address {
	uint8_t ip[16];
	uint16_t port; /* host order */
};

/* Converts an nng address; false when it is not tcp (ipc, ...). */
bool peer_address_from_nng(const nng_sockaddr *sa, struct peer_address *out);

/*
 * A reaper with nothing to watch; NULL when /proc/self/fd cannot be
 * opened (the directory stays open, so a pass needs no new descriptor
 * when they have run out). Free with handshake_reaper_free.
 */
struct handshake_reaper *handshake_reaper_new(void);
void handshake_reaper_free(struct handshake_reaper *r);

/*
 * Watches the connections of the listener whose local address is `local`
 * (from NNG_OPT_LOCADDR once it listens; the wildcard address matches
 * any). Returns 0, or -1 when it is not tcp or the table is full.
 */
int handshake_reaper_watch(struct handshake_reaper *r, const nng_sockaddr *local);

/* Whether any listener is watched. */
bool handshake_reaper_watching(const struct handshake_reaper *r);

/*
 * One pass at time now_ms. `is_pipe(arg, peer)` tells whether a remote
 * address belongs to a pipe (then the connection is left alone for good).
 * Shuts down every watched connection first seen timeout_ms or more ago
 * that is no pipe; returns how many.
 */
size_t handshake_reaper_sweep(struct handshake_reaper *r, int64_t now_ms, int64_t timeout_ms,
    bool (*is_pipe)(void *arg, const struct peer_address *peer), void *arg);

#endif
