/*
 * request_log.h - the RPC server's durable deduplication hooks, on the
 * registry's requests table (store/requests.h): a mutating call with a
 * request id is done once even when berthd restarts in its middle.
 */
#ifndef BERTH_REQUEST_LOG_H
#define BERTH_REQUEST_LOG_H

#include <stddef.h>

#include "base/call.h"
#include "rpc/rpc_server.h"

enum rpc_durable request_log_claim(void *app, struct call *call, const unsigned char *digest,
    void **reply, size_t *len);
void request_log_finish(void *app, struct call *call, const void *reply, size_t len);

#endif
