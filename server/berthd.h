/*
 * berthd.h - the daemon's shared state, as handlers see it.
 *
 * One struct berthd lives for the whole process. Fields are set at start-up
 * on the main thread and only read afterwards, except where a comment names
 * a lock or says atomic.
 */
#ifndef BERTH_BERTHD_H
#define BERTH_BERTHD_H

#include <stdatomic.h>
#include <stdbool.h>

#include "call.h"
#include "config.h"
#include "dispatch.h"
#include "registry.h"

struct rpc_server;

struct berthd {
	struct config config;
	char db_path[4096];
	struct rpc_server *rpc;
	atomic_bool shutdown_requested;
};

/* The daemon and this worker's registry connection, from a call. */
static inline struct berthd *
call_berthd(const struct call *call)
{
	return call->app;
}

static inline struct registry *
call_registry(const struct call *call)
{
	return call->worker;
}

/* Every method berthd serves: the route table (routes.c). */
extern const struct rpc_route berthd_routes[];
extern const size_t berthd_routes_count;

/* Handlers, one file per group of RPCs. */
int rpc_health(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_shutdown(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_list_templates(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_get_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_put_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_delete_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);

/* Asks the main thread to shut down (any thread; async-signal-safe). */
void berthd_request_shutdown(void);

#endif
