/*
 * dispatch.c - generic decode, check, handle, encode of one method call.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"
#include "rpc/dispatch.h"
#include "rpc_method.h"

int
dispatch_table_init(struct dispatch_table *t, const struct rpc_route *routes, size_t n,
    struct error *err)
{
	memset(t, 0, sizeof(*t));
	if (rpc_method_count() > DISPATCH_MAX_METHODS) {
		error_set(err, BERTH__V1__CODE__INTERNAL,
		    "the proto declares %u methods, more than %d",
		    rpc_method_count(), DISPATCH_MAX_METHODS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int index = rpc_method_find(routes[i].method);
		if (index < 0) {
			error_set(err, BERTH__V1__CODE__INTERNAL,
			    "route for unknown method \"%s\"", routes[i].method);
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

_Static_assert(DISPATCH_STRING_MAX == TEXT_MAX_LEN, "the longest request string is TEXT_MAX_LEN");

/* A base-128 varint of at most 10 bytes. Returns its length, 0 when malformed. */
static size_t
wire_varint(const uint8_t *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < len && i < 10; i++) {
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*out = v;
			return i + 1;
		}
	}
	return 0;
}

#define WIRE_MAX_DEPTH 8
#define WIRE_MAX_FIELDS 64 /* per message, for the [i] of repeated fields */

/* One message's bytes; see dispatch_check_wire. `prefix` is its own path. */
static int
scan_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, int depth,
    const char *prefix, size_t max_string, size_t *unknown_left, char *field, size_t field_len,
    const char **reason)
{
	unsigned seen[WIRE_MAX_FIELDS] = { 0 };
	size_t pos = 0;

	if (depth > WIRE_MAX_DEPTH)
		return 0; /* our messages nest two levels; protobuf-c decoded it anyway */
	while (pos < len) {
		const ProtobufCFieldDescriptor *f;
		uint64_t tag, n;
		size_t used, index;
		char path[64];

		if ((used = wire_varint(p + pos, len - pos, &tag)) == 0)
			goto malformed;
		pos += used;
		/*
		 * protobuf-c keeps every unknown field it decodes: a 4 MiB message of
		 * 2-byte unknown fields cost 150 MiB. Counted here, before decoding.
		 */
		if ((tag >> 3 > UINT32_MAX ||
			protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3)) == NULL) &&
		    (*unknown_left)-- == 0) {
			snprintf(field, field_len, "%s", prefix);
			*reason = "TOO_MANY_UNKNOWN_FIELDS";
			return -1;
		}
		switch (tag & 7) {
		case 0: /* varint */
			if ((used = wire_varint(p + pos, len - pos, &n)) == 0)
				goto malformed;
			pos += used;
			continue;
		case 1: /* 64-bit */
			if (len - pos < 8)
				goto malformed;
			pos += 8;
			continue;
		case 5: /* 32-bit */
			if (len - pos < 4)
				goto malformed;
			pos += 4;
			continue;
		case 2: /* length-delimited: string, bytes, message, packed */
			break;
		default: /* groups: not in proto3 */
			goto malformed;
		}
		if ((used = wire_varint(p + pos, len - pos, &n)) == 0 || n > len - pos - used)
			goto malformed;
		pos += used;
		f = tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3))
					   : NULL;
		if (f == NULL ||
		    (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)) {
			pos += (size_t)n; /* bytes, packed numbers, unknown fields */
			continue;
		}
		index = (size_t)(f - desc->fields);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			snprintf(path, sizeof(path), "%s%s%s[%u]", prefix, prefix[0] ? "." : "", f->name,
			    index < WIRE_MAX_FIELDS ? seen[index] : 0);
		else
			snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", f->name);
		if (index < WIRE_MAX_FIELDS)
			seen[index]++;
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			if (n > max_string) {
				snprintf(field, field_len, "%s", path);
				*reason = "TOO_LONG";
				return -1;
			}
			if (memchr(p + pos, 0, (size_t)n) != NULL) {
				snprintf(field, field_len, "%s", path);
				*reason = "NUL_IN_STRING";
				return -1;
			}
		} else if (scan_wire(f->descriptor, p + pos, (size_t)n, depth + 1, path, max_string,
			       unknown_left, field, field_len, reason) != 0) {
			return -1;
		}
		pos += (size_t)n;
	}
	return 0;
malformed:
	snprintf(field, field_len, "%s", prefix);
	*reason = "MALFORMED";
	return -1;
}

int
dispatch_check_wire(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
    size_t max_string, size_t max_unknown, char *field, size_t field_len, const char **reason)
{
	return scan_wire(desc, data, len, 0, "", max_string, &max_unknown, field, field_len, reason);
}

int
dispatch_call(const struct dispatch_table *t, unsigned index, struct call *call,
    const ProtobufCBinaryData *payload, ProtobufCBinaryData *reply)
{
	const struct rpc_route *route = dispatch_route(t, index);
	const ProtobufCMethodDescriptor *m = rpc_method(index);
	ProtobufCMessage *request, *response;
	const char *reason;
	char field[64];
	int code;

	bool keepable;
	uint64_t version = 0;
	void *kept;
	size_t kept_len;

	if (route == NULL || m == NULL || route->handler == NULL)
		return call_fail(call, BERTH__V1__CODE__UNIMPLEMENTED,
		    "%s is not implemented by this server", call->method);

	/*
	 * The same bytes decode, pass the checks and are answered the same way
	 * at the same version, so a kept answer needs no decoding at all.
	 */
	keepable = route->keep_answer != NULL && t->answers != NULL && t->state_version != NULL;
	if (keepable) {
		version = t->state_version(); /* before the handler reads the state */
		if (answer_cache_get(t->answers, index, payload->data, payload->len, version,
			&call->arena, &kept, &kept_len)) {
			reply->data = kept;
			reply->len = kept_len;
			return BERTH__V1__CODE__OK;
		}
	}

	/* The wire first: what decoding would cost is bounded before it happens. */
	if (dispatch_check_wire(m->input, payload->data, payload->len,
		t->max_string != 0 ? t->max_string : SIZE_MAX, DISPATCH_UNKNOWN_FIELDS_MAX, field,
		sizeof(field), &reason) != 0)
		return strcmp(reason, "MALFORMED") == 0
		    ? call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, field, reason,
			  "the payload is not a valid %s message (at %s)", m->input->name,
			  field[0] ? field : "its top level")
		    : call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, field, reason,
			  "field %s %s", field[0] ? field : "(request)",
			  strcmp(reason, "TOO_LONG") == 0	   ? "is too long"
			  : strcmp(reason, "NUL_IN_STRING") == 0 ? "contains a NUL byte"
								 : "has too many unknown fields");
	request = protobuf_c_message_unpack(m->input, &call->arena.allocator, payload->len,
	    payload->data);
	if (request == NULL)
		return call_fail(call, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "the payload is not a valid %s message", m->input->name);
	call->request = request;
	if (check_utf8(request, 0, "", field, sizeof(field)) != 0)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, field, "INVALID_UTF8",
		    "field %s is not valid UTF-8", field);

	response = arena_alloc(&call->arena, m->output->sizeof_message);
	protobuf_c_message_init(m->output, response);

	code = route->handler(call, request, response);
	if (code != BERTH__V1__CODE__OK) {
		if (call->error.code == BERTH__V1__CODE__OK) /* handler forgot call_fail */
			call_fail(call, code, "%s failed", call->method);
		return call->error.code;
	}
	reply->len = protobuf_c_message_get_packed_size(response);
	reply->data = arena_alloc(&call->arena, reply->len + 1);
	protobuf_c_message_pack(response, reply->data);
	if (keepable && route->keep_answer(request))
		answer_cache_put(t->answers, index, payload->data, payload->len, version, reply->data,
		    reply->len);
	return BERTH__V1__CODE__OK;
}
