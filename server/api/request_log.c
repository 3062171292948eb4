/*
 * request_log.c - durable deduplication for the RPC server (request_log.h).
 */
#include "api/request_log.h"
#include "base/log.h"
#include "core/berthd.h"
#include "store/registry.h"
#include "store/requests.h"

enum rpc_durable
request_log_claim(void *app, struct call *call, const unsigned char *digest, void **reply,
    size_t *len)
{
	struct registry *reg = call_registry(call);
	struct requests_record rec;
	enum requests_state state;

	(void)app;
	if (requests_claim(reg, &call->arena, call->request_key, digest, &state, &rec) != 0) {
		const struct error *e = registry_error(reg);

		/*
		 * Not knowing whether the call ran before, or unable to record
		 * it, it must not run now. The store's code says why (a full
		 * disk is RESOURCE_EXHAUSTED, a busy database UNAVAILABLE).
		 */
		call_fail(call, e->code != 0 ? e->code : BERTH__V1__CODE__UNAVAILABLE,
		    "cannot record request_id %s in the registry, nothing was done: %s",
		    call->request_id, e->message);
		return RPC_DURABLE_FAILED;
	}
	switch (state) {
	case REQUESTS_NEW:
		return RPC_DURABLE_NEW;
	case REQUESTS_DONE:
		*reply = rec.reply;
		*len = rec.reply_len;
		return RPC_DURABLE_DONE;
	case REQUESTS_CONFLICT:
		return RPC_DURABLE_CONFLICT;
	case REQUESTS_INTERRUPTED:
		break;
	}
	call->resumed = true;
	call->resumed_subject = rec.subject;
	call->resumed_detail = rec.detail;
	call->resumed_detail_len = rec.detail_len;
	log_info("rpc resume method=%s request_id=%s subject=%s", call->method, call->request_id,
	    rec.subject != NULL ? rec.subject : "(none: it changed nothing)");
	return RPC_DURABLE_RESUMED;
}

void
request_log_finish(void *app, struct call *call, const void *reply, size_t len)
{
	struct registry *reg = call_registry(call);
	int code;

	(void)app;
	code = reply != NULL ? requests_finish(reg, call->request_key, reply, len)
			     : requests_forget(reg, call->request_key);
	/* The in-memory cache still answers a resend while berthd runs. */
	if (code != 0)
		log_warn("rpc request_id=%s: reply not kept for a restart: %s", call->request_id,
		    registry_error(reg)->message);
}
