/*
 * api.h - berthd's RPC handlers and the route table that names them.
 *
 * A handler is thin: it reads the decoded request, calls the domain
 * (core/), and fills the reply. Handlers run on the RPC workers with the
 * call's arena, deadline and registry connection (core/berthd.h).
 */
#ifndef BERTH_API_H
#define BERTH_API_H

#include <stdbool.h>
#include <stddef.h>

#include "base/call.h"
#include "rpc/dispatch.h"

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
int rpc_update_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_list_template_revisions(struct call *call, const ProtobufCMessage *req,
    ProtobufCMessage *reply);

int rpc_launch_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_list_services(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_get_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_stop_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_restart_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_remove_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_get_service_logs(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_exec_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_get_stats(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
/* keep_answer of the routes whose answers come from the services table alone. */
bool rpc_keep_registry_answer(const ProtobufCMessage *req);
bool rpc_keep_get_service_answer(const ProtobufCMessage *req);
int rpc_get_status(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);

int rpc_get_cleanup_status(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_auto_cleanup(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_force_cleanup_all(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);

int rpc_scale_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_start_rollout(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_get_rollout(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_control_rollout(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_plan_spec(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_apply_spec(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_watch_events(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_list_nodes(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply);
int rpc_set_node_availability(struct call *call, const ProtobufCMessage *req,
    ProtobufCMessage *reply);

#endif
