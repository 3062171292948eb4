/*
 * routes.c - every RPC berthd serves, in one table: handler and policy.
 *
 * Mutating methods are run at most once per request_id, refused while
 * berthd shuts down and recorded in the audit log. The last column is the
 * least role a token needs when authentication is on (auth.c): viewer
 * reads, operator also runs services, admin also changes templates, cleans
 * up everything and shuts berthd down. Reads of the services table alone
 * name a keep_answer function: their answers are kept between changes
 * (answer_cache.h). Methods not listed answer UNIMPLEMENTED.
 */
#include "api/api.h"

const struct rpc_route berthd_routes[] = {
	{ "Health", rpc_health, false, RPC_ROLE_PUBLIC },
	{ "ListTemplates", rpc_list_templates, false, RPC_ROLE_VIEWER },
	{ "GetTemplate", rpc_get_template, false, RPC_ROLE_VIEWER },
	{ "PutTemplate", rpc_put_template, true, RPC_ROLE_ADMIN },
	{ "DeleteTemplate", rpc_delete_template, true, RPC_ROLE_ADMIN },
	{ "LaunchService", rpc_launch_service, true, RPC_ROLE_OPERATOR },
	{ "ListServices", rpc_list_services, false, RPC_ROLE_VIEWER, rpc_keep_registry_answer },
	{ "GetService", rpc_get_service, false, RPC_ROLE_VIEWER, rpc_keep_get_service_answer },
	{ "StopService", rpc_stop_service, true, RPC_ROLE_OPERATOR },
	{ "RestartService", rpc_restart_service, true, RPC_ROLE_OPERATOR },
	{ "RemoveService", rpc_remove_service, true, RPC_ROLE_OPERATOR },
	{ "GetServiceLogs", rpc_get_service_logs, false, RPC_ROLE_OPERATOR },
	{ "GetStats", rpc_get_stats, false, RPC_ROLE_VIEWER, rpc_keep_registry_answer },
	{ "GetStatus", rpc_get_status, false, RPC_ROLE_VIEWER, rpc_keep_registry_answer },
	{ "GetCleanupStatus", rpc_get_cleanup_status, false, RPC_ROLE_VIEWER },
	{ "AutoCleanup", rpc_auto_cleanup, true, RPC_ROLE_OPERATOR },
	{ "ForceCleanupAll", rpc_force_cleanup_all, true, RPC_ROLE_ADMIN },
	{ "Shutdown", rpc_shutdown, true, RPC_ROLE_ADMIN },
	{ "UpdateTemplate", rpc_update_template, true, RPC_ROLE_ADMIN },
	{ "ListTemplateRevisions", rpc_list_template_revisions, false, RPC_ROLE_VIEWER },
	{ "ScaleTemplate", rpc_scale_template, true, RPC_ROLE_OPERATOR },
	{ "StartRollout", rpc_start_rollout, true, RPC_ROLE_OPERATOR },
	{ "GetRollout", rpc_get_rollout, false, RPC_ROLE_VIEWER },
	{ "ControlRollout", rpc_control_rollout, true, RPC_ROLE_OPERATOR },
	{ "PlanSpec", rpc_plan_spec, false, RPC_ROLE_VIEWER },
	{ "ApplySpec", rpc_apply_spec, true, RPC_ROLE_ADMIN },
	{ "WatchEvents", rpc_watch_events, false, RPC_ROLE_VIEWER },
	/* Mutating: not idempotent, so run once per request_id, refused while draining, audited. */
	{ "ExecService", rpc_exec_service, true, RPC_ROLE_OPERATOR },
	{ "ListNodes", rpc_list_nodes, false, RPC_ROLE_VIEWER },
	{ "SetNodeAvailability", rpc_set_node_availability, true, RPC_ROLE_ADMIN },
};

const size_t berthd_routes_count = sizeof(berthd_routes) / sizeof(berthd_routes[0]);
