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

#include "api/auth.h"
#include "engine/backend.h"
#include "base/call.h"
#include "base/config.h"
#include "rpc/dispatch.h"
#include "store/registry.h"

struct rpc_server;
struct ports;
struct service_locks;
struct docker_events;

struct berthd {
	struct config config;
	char data_dir[4096];      /* absolute, as labelled on containers */
	char db_path[4200];
	char templates_dir[4200]; /* <data-dir>/templates: instance directories */
	char build_root[4096];    /* absolute, resolved: build contexts lie under it */
	struct auth_policy auth;  /* who may call what (auth.c) */
	struct rpc_server *rpc;
	struct backend backend;   /* thread-safe */
	struct ports *ports;      /* thread-safe */
	struct service_locks *locks;
	struct event_pub *events;   /* thread-safe */
	struct ipc_watchdog *watchdog; /* keeps ipc listeners alive (nng 1.5.2) */
	struct config_list event_urls; /* effective, for Health */
	char event_url_buf[CONFIG_MAX_LISTEN][4200];
	char started_at[32];        /* RFC 3339, when this process started */
	atomic_bool shutdown_requested;
	struct docker_events *docker_events; /* the Docker event follower; main thread only */
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

int rpc_launch_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_list_services(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_get_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_stop_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_restart_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_remove_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_get_service_logs(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_get_stats(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
/* keep_answer of the routes whose answers come from the services table alone. */
bool rpc_keep_registry_answer(const ProtobufCMessage *req);
bool rpc_keep_get_service_answer(const ProtobufCMessage *req);
int rpc_get_status(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);

int rpc_get_cleanup_status(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_auto_cleanup(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_force_cleanup_all(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);

/* Asks the main thread to shut down (any thread; async-signal-safe). */
void berthd_request_shutdown(void);

#endif
