/*
 * dispatch.c - generic decode, check, handle, encode of one method call.
 */
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "rpc_method.h"

int
dispatch_table_init(struct dispatch_table *t, const struct rpc_route *routes, size_t n,
    char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (rpc_method_count() > DISPATCH_MAX_METHODS) {
		snprintf(err, errlen, "the proto declares %u methods, more than %d",
		    rpc_method_count(), DISPATCH_MAX_METHODS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int index = rpc_method_find(routes[i].method);
		if (index < 0) {
			snprintf(err, errlen, "route for unknown method \"%s\"", routes[i].method);
			return -1;
		}
		t->routes[index] = routes[i];
	}
	return 0;
}

const struct rpc_route *
dispatch_route(const struct dispatch_table *t, unsigned index)
{
	return index < rpc_method_count() ? &t->routes[index] : NULL;
}

/*
 * Every string of a request must be valid UTF-8 (proto3 requires it and
 * protobuf-c does not check). Walks the message and nested messages; on the
 * first bad string writes the field's dotted path ("template.env[1]", as
 * ErrorDetail.field documents) into `field` and returns -1. `prefix` is the
 * path of `m` itself ("" for the request).
 */
static int
check_utf8(const ProtobufCMessage *m, int depth, const char *prefix, char *field, size_t len)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;

	if (depth > 8)
		return 0; /* our messages nest two levels; deeper is only unknown data */
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const char *base = (const char *)m;
		size_t count = 1;
		const void *values = base + f->offset;

		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			count = *(const size_t *)(base + f->quantifier_offset);
			values = *(void *const *)(base + f->offset);
		}
		for (size_t j = 0; j < count; j++) {
			const void *v = ((void *const *)values)[j];
			char path[64];

			if (v == NULL)
				continue;
			if (f->type == PROTOBUF_C_TYPE_STRING && validate_utf8(v))
				continue;
			/* A path is only built for a bad string or a nested message. */
			if (f->label == PROTOBUF_C_LABEL_REPEATED)
				snprintf(path, sizeof(path), "%s%s%s[%zu]", prefix, prefix[0] ? "." : "",
				    f->name, j);
			else
				snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "",
				    f->name);
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				snprintf(field, len, "%s", path);
				return -1;
			}
			if (check_utf8(v, depth + 1, path, field, len) != 0)
				return -1;
		}
	}
	return 0;
}

int
dispatch_call(const struct dispatch_table *t, unsigned index, struct call *call,
    const ProtobufCBinaryData *payload, ProtobufCBinaryData *reply)
{
	const struct rpc_route *route = dispatch_route(t, index);
	const ProtobufCMethodDescriptor *m = rpc_method(index);
	ProtobufCMessage *request, *response;
	char field[64];
	int code;

	if (route == NULL || m == NULL || route->handler == NULL)
		return call_fail(call, BERTH__V1__CODE__UNIMPLEMENTED,
		    "%s is not implemented by this server", call->method);

	request = protobuf_c_message_unpack(m->input, &call->arena.allocator, payload->len,
	    payload->data);
	if (request == NULL)
		return call_fail(call, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "the payload is not a valid %s message", m->input->name);
	if (check_utf8(request, 0, "", field, sizeof(field)) != 0)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, field, "INVALID_UTF8",
		    "field %s is not valid UTF-8", field);

	response = arena_alloc(&call->arena, m->output->sizeof_message);
	protobuf_c_message_init(m->output, response);

	code = route->handler(call, request, response);
	if (code != BERTH__V1__CODE__OK) {
		if (call->code == BERTH__V1__CODE__OK) /* handler forgot call_fail */
			call_fail(call, code, "%s failed", call->method);
		return call->code;
	}
	reply->len = protobuf_c_message_get_packed_size(response);
	reply->data = arena_alloc(&call->arena, reply->len + 1);
	protobuf_c_message_pack(response, reply->data);
	return BERTH__V1__CODE__OK;
}
