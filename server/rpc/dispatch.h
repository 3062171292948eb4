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

#include "validate.h"
#include "base/role.h"
#include "rpc/answer_cache.h"
#include "base/call.h"
#include "error.h"

#define DISPATCH_MAX_METHODS 64
/* berthd's max_string: TEXT_MAX_LEN of validate.h, its longest request field. */
#define DISPATCH_STRING_MAX 4096
/*
 * Unknown fields a request may carry (fields of a newer client's proto,
 * say): protobuf-c keeps each one it decodes, so more are refused unread.
 * The envelope, read before the caller is known, may carry fewer.
 */
#define DISPATCH_UNKNOWN_FIELDS_MAX 256
#define DISPATCH_ENVELOPE_UNKNOWN_FIELDS_MAX 16

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
	bool mutating;          /* changes state: deduplicated by request_id, audited */
	enum rpc_role min_role; /* who may call it (see enum rpc_role) */
	/*
	 * Non-NULL for a read whose answer depends only on the request and on
	 * the state that dispatch_table.state_version versions; true when this
	 * request's answer may be kept (answer_cache.h). NULL: never kept.
	 */
	bool (*keep_answer)(const ProtobufCMessage *request);
};

struct dispatch_table {
	struct rpc_route routes[DISPATCH_MAX_METHODS];
	/* Longer request strings are INVALID_ARGUMENT before any handler; 0: no limit. */
	size_t max_string;
	/* Where routes with keep_answer keep them, and the state's version; NULL: off. */
	struct answer_cache *answers;
	uint64_t (*state_version)(void);
};

/*
 * Builds the table from routes[0..n). Fails (-1, reason in err) when a route
 * names a method the proto does not declare, so a typo stops start-up.
 */
int dispatch_table_init(struct dispatch_table *t, const struct rpc_route *routes, size_t n,
    struct error *err);

/* The route of method `index`; NULL when out of range. */
const struct rpc_route *dispatch_route(const struct dispatch_table *t, unsigned index);

/*
 * Checks the wire bytes of a message, before protobuf-c decodes them.
 * protobuf-c copies a string's wire bytes and appends a NUL, so a string
 * with an embedded 0x00 would reach C code cut short ("db\0../x" reads as
 * "db"): every length-delimited field that `desc` declares a string is
 * refused when it holds a 0x00 byte or is longer than `max_string` bytes,
 * in nested messages too, and the whole is refused when it holds more than
 * `max_unknown` fields the descriptors do not declare. Returns 0, or -1
 * with the field's dotted path ("template.env[1]") in `field` and a reason
 * ("NUL_IN_STRING", "TOO_LONG", "TOO_MANY_UNKNOWN_FIELDS", "MALFORMED") in
 * *reason. Any thread.
 */
int dispatch_check_wire(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
    size_t max_string, size_t max_unknown, char *field, size_t field_len, const char **reason);

/*
 * Decodes `payload` as method `index`'s request, checks its text fields
 * (UTF-8, no NUL byte, at most t->max_string bytes),
 * runs the handler and encodes the reply into *reply (arena memory).
 * For a route with keep_answer, an answer kept for the same payload bytes
 * at the current state version is the reply instead, and a new OK answer
 * is kept (t->answers). Returns the call's code; on failure call->message
 * says why.
 */
int dispatch_call(const struct dispatch_table *t, unsigned index, struct call *call,
    const ProtobufCBinaryData *payload, ProtobufCBinaryData *reply);

#endif
