/*
 * auth.h - who may call what: berthd's listener policy, its authorize hook
 * (tokens and roles) and its audit hook.
 *
 * Whoever can call LaunchService can run containers, which is root on the
 * Docker host, so remote access is locked down by default:
 *
 *   - ipc:// needs no network; its socket file is mode --ipc-mode (0660).
 *   - tcp:// is refused at start-up unless tokens are required (--auth on).
 *   - tls+tcp:// needs --tls-cert and --tls-key; it is refused without
 *     tokens unless --tls-client-ca makes it mutual TLS (then a client needs
 *     a certificate that CA signed to connect at all).
 *
 * With authentication on, every method but Health needs a token whose role
 * is at least the route's min_role (routes.c): no or a bad token is
 * UNAUTHENTICATED, too low a role PERMISSION_DENIED. --ipc-admin on lets
 * callers on an ipc:// socket without a token act as admin ("local").
 * With authentication off every caller may call everything.
 */
#ifndef BERTH_AUTH_H
#define BERTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/call.h"
#include "base/config.h"
#include "rpc/dispatch.h"
#include "error.h"

struct auth_policy {
	bool enabled;   /* tokens required (--auth, "auto" resolved) */
	bool ipc_admin; /* ipc:// callers without a token are admin (--ipc-admin on) */
};

/*
 * Resolves --auth auto (on when any listener is not ipc://) and checks the
 * listeners against the rules above. Returns 0, or -1 with the reason in
 * err (berthd then refuses to start). Warnings are logged. Main thread.
 */
int auth_configure(struct auth_policy *p, const struct config *c, struct error *err);

/*
 * The RPC server's authorize hook (rpc_server.h). `app` is the struct
 * berthd; tokens are checked on the worker's registry connection. Sets
 * call->principal to the token's name, or "local" for an ipc caller let in
 * without one. Worker threads.
 */
int auth_authorize(void *app, struct call *call, const struct rpc_route *route);

/*
 * The RPC server's finished hook: a mutating call, allowed or not, becomes
 * one audit row (audit.h), written on the worker's registry connection.
 * A failure to write is logged, never fails the call. Worker threads.
 */
void auth_finished(void *app, struct call *call, const struct rpc_route *route,
    const ProtobufCBinaryData *payload);

#endif
