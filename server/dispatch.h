/*
 * dispatch.h - from a method index and payload bytes to a handler and back.
 *
 * The table is indexed by the method's position in the generated service
 * descriptor; the request and reply types come from that descriptor too, so
 * no handler ever decodes or encodes protobuf by hand. A method without a
 * route answers UNIMPLEMENTED.
 */
#ifndef BERTH_DISPATCH_H
#define BERTH_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "call.h"

#define DISPATCH_MAX_METHODS 64

/*
 * A handler reads the decoded request and fills the reply, whose memory is
 * already allocated and initialised; both live in call->arena. It returns
 * BERTH__V1__CODE__OK or the code it gave call_fail*().
 * Called on a worker thread; may block (Docker, SQLite) up to the deadline.
 */
typedef int (*rpc_handler_fn)(struct call *call, const ProtobufCMessage *request,
    ProtobufCMessage *reply);

struct rpc_route {
	const char *method;     /* bare method name, "Health" */
	rpc_handler_fn handler;
	bool mutating;          /* changes state: deduplicated by request_id */
};

struct dispatch_table {
	struct rpc_route routes[DISPATCH_MAX_METHODS];
};

/*
 * Builds the table from routes[0..n). Fails (-1, reason in err) when a route
 * names a method the proto does not declare, so a typo stops start-up.
 */
int dispatch_table_init(struct dispatch_table *t, const struct rpc_route *routes, size_t n,
    char *err, size_t errlen);

/* The route of method `index`; NULL when out of range. */
const struct rpc_route *dispatch_route(const struct dispatch_table *t, unsigned index);

/*
 * Decodes `payload` as method `index`'s request, checks its text fields,
 * runs the handler and encodes the reply into *reply (arena memory).
 * Returns the call's code; on failure call->message says why.
 */
int dispatch_call(const struct dispatch_table *t, unsigned index, struct call *call,
    const ProtobufCBinaryData *payload, ProtobufCBinaryData *reply);

#endif
