/*
 * event_pub.h - berth's own events on an nng pub0 socket.
 *
 * The transport of the domain's events (core/events.h): each one serialized
 * and sent on pub0, which never blocks the publisher: a subscriber that
 * falls behind loses events, berthd is never slowed by it. Thread-safe.
 */
#ifndef BERTH_EVENT_PUB_H
#define BERTH_EVENT_PUB_H

#include <stddef.h>

#include "berth/v1/berth.pb-c.h"
#include "error.h"

struct event_pub;

struct conn_limits;
struct ipc_access;
struct ipc_watchdog;
struct tls_files;

/*
 * Listens on every URL (ipc:// ones watched by `watchdog`, which may be
 * NULL, and their socket files given `ipc_mode`, as the RPC socket's: 0
 * keeps nng's default; tls+tcp:// ones with `tls`, as the RPC socket's).
 * Subscribers are capped and their handshakes bounded by `limits`
 * (conn_guard.h; NULL: no limits); they never send, so its idle timeout
 * is not used. Returns 0, or -1 with the reason in err.
 */
int event_pub_open(struct event_pub **out, const char *const *urls, size_t n,
    struct ipc_watchdog *watchdog, const struct ipc_access *ipc, const struct tls_files *tls,
    const struct conn_limits *limits, struct error *err);
void event_pub_close(struct event_pub *pub);

/*
 * Sends one event to every subscriber (an event_sink's deliver, core/events.h:
 * ctx is the struct event_pub). Never blocks: a subscriber that falls
 * behind loses events. Any thread; a NULL ctx does nothing.
 */
void event_pub_deliver(void *ctx, const Berth__V1__Event *ev);

/*
 * Builds the default event URL for an RPC URL: ipc path + "-events";
 * tcp:// and tls+tcp:// port + 1, same scheme.
 */
int event_pub_default_url(const char *rpc_url, char *buf, size_t len);

#endif
