/*
 * routes.c - every RPC berthd serves, in one table: handler and policy.
 *
 * Mutating methods are run at most once per request_id and refused while
 * berthd shuts down. Methods not listed answer UNIMPLEMENTED.
 */
#include "berthd.h"

const struct rpc_route berthd_routes[] = {
	{ "Health", rpc_health, false },
	{ "ListTemplates", rpc_list_templates, false },
	{ "GetTemplate", rpc_get_template, false },
	{ "PutTemplate", rpc_put_template, true },
	{ "DeleteTemplate", rpc_delete_template, true },
	{ "LaunchService", rpc_launch_service, true },
	{ "ListServices", rpc_list_services, false },
	{ "GetService", rpc_get_service, false },
	{ "StopService", rpc_stop_service, true },
	{ "RestartService", rpc_restart_service, true },
	{ "RemoveService", rpc_remove_service, true },
	{ "GetServiceLogs", rpc_get_service_logs, false },
	{ "GetStats", rpc_get_stats, false },
	{ "GetStatus", rpc_get_status, false },
	{ "GetCleanupStatus", rpc_get_cleanup_status, false },
	{ "AutoCleanup", rpc_auto_cleanup, true },
	{ "ForceCleanupAll", rpc_force_cleanup_all, true },
	{ "Shutdown", rpc_shutdown, true },
};

const size_t berthd_routes_count = sizeof(berthd_routes) / sizeof(berthd_routes[0]);
