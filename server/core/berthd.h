/*
 * berthd.h - the daemon's shared state, as the domain and handlers see it.
 *
 * One struct berthd lives for the whole process. Fields are set at start-up
 * on the main thread and only read afterwards, except where a comment names
 * a lock or says atomic.
 */
#ifndef BERTH_BERTHD_H
#define BERTH_BERTHD_H

#include <stdatomic.h>
#include <stdbool.h>

#include "base/call.h"
#include "base/config.h"
#include "core/events.h"
#include "engine/backend.h"
#include "store/registry.h"

struct auth_policy;
struct rpc_server;
struct ports;
struct service_locks;
struct docker_events;
struct supervisor;
struct health_monitor;
struct event_log;
struct placement;

struct berthd {
	struct config config;
	char data_dir[4096];      /* absolute, as labelled on containers */
	char db_path[4200];
	char templates_dir[4200]; /* <data-dir>/templates: instance directories */
	char build_root[4096];    /* absolute, resolved: build contexts lie under it */
	const struct auth_policy *auth; /* who may call what (api/auth.c) */
	struct rpc_server *rpc;
	struct backend backend;   /* thread-safe */
	struct ports *ports;      /* thread-safe */
	struct service_locks *locks;
	struct event_sink events;   /* where lifecycle events go; thread-safe */
	struct event_log *event_log; /* the events kept, for WatchEvents; thread-safe */
	struct ipc_watchdog *watchdog; /* keeps ipc listeners alive (nng 1.5.2) */
	struct config_list event_urls; /* effective, for Health */
	char event_url_buf[CONFIG_MAX_LISTEN][4200];
	char started_at[32];        /* RFC 3339, when this process started */
	atomic_bool shutdown_requested;
	struct docker_events *docker_events; /* the Docker event follower; main thread only */
	/* Keeps services alive; set before the follower starts, cleared after it stops. */
	struct supervisor *supervisor;
	struct health_monitor *health; /* probes; same lifetime as the supervisor */
	struct placement *placement;   /* swarm: where tasks run (placement.h); main thread */
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

#endif
