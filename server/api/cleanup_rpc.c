/*
 * cleanup_rpc.c - GetCleanupStatus, AutoCleanup and ForceCleanupAll:
 * the RPC face of core/cleanup.c.
 */
#include "api/api.h"
#include "base/log.h"
#include "core/cleanup.h"

int
rpc_get_cleanup_status(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	(void)req;
	return cleanup_status(call, (Berth__V1__GetCleanupStatusResponse *)reply);
}

int
rpc_auto_cleanup(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	return cleanup_dead(call, ((const Berth__V1__AutoCleanupRequest *)req)->include_failed,
	    (Berth__V1__AutoCleanupResponse *)reply);
}

int
rpc_force_cleanup_all(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	Berth__V1__ForceCleanupAllResponse *out = (Berth__V1__ForceCleanupAllResponse *)reply;
	int code;

	(void)req;
	code = cleanup_everything(call, NULL, &out->containers_removed, &out->registry_entries_removed,
	    &out->errors, &out->n_errors);
	if (code == 0)
		log_info("force cleanup containers_removed=%u registry_entries_removed=%u errors=%zu",
		    out->containers_removed, out->registry_entries_removed, out->n_errors);
	return code;
}
