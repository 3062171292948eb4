/*
 * ipc_watchdog.h - keeps ipc:// listeners alive despite nng 1.5.2's
 * handshake bug.
 *
 * In nng 1.5.2 (Debian 12's), a peer that connects to an ipc:// listener
 * and hangs up during the SP handshake makes that listener stop accepting
 * for good (nanomsg/nng#1518, fixed in nng 1.6.0): one killed client or
 * port probe would lock every admin out of berthd. The watchdog checks
 * each ipc listener every interval by completing a handshake itself, and
 * when no answer comes, closes the listener and listens again on the same
 * path. Connected clients redial by themselves; nng's REQ resends what was
 * in flight.
 *
 * Thread-safe; one thread of its own.
 */
#ifndef BERTH_IPC_WATCHDOG_H
#define BERTH_IPC_WATCHDOG_H

#include <stdint.h>

#include <nng/nng.h>

#include "rpc/ipc_access.h"

struct ipc_watchdog;

/* Starts the watchdog thread; NULL when out of resources. */
struct ipc_watchdog *ipc_watchdog_start(int64_t interval_ms);

/*
 * Watches *listener (listening on url, an ipc:// URL, of socket sock);
 * when it is restarted, *listener is replaced and the socket file gets
 * `access` again (its mode and group, copied; NULL: nng's defaults). Other
 * URLs are ignored. The listener pointer must stay valid until
 * ipc_watchdog_stop.
 */
void ipc_watchdog_watch(struct ipc_watchdog *w, nng_socket sock, nng_listener *listener,
    const char *url, const struct ipc_access *access);

/* Stops and frees the watchdog (NULL is fine). Call before closing the sockets. */
void ipc_watchdog_stop(struct ipc_watchdog *w);

/*
 * One transport-level check: 1 when a listener at `path` answers an SP
 * handshake for `protocol` (e.g. 0x30, req0) within timeout_ms, 0 when it
 * does not, -1 when no socket could be made to ask (out of descriptors).
 * Not enough on its own (see ipc_watchdog.c); exposed for tests.
 */
int ipc_watchdog_probe(const char *path, int protocol, int timeout_ms);

#endif
