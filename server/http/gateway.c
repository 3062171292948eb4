/*
 * gateway.c - JSON and headers to an RpcRequest, an RpcResponse to JSON.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "http/gateway.h"
#include "json_codec.h"
#include "rpc_method.h"
#include "status.h"

const char *
gateway_bearer_token(const char *authorization)
{
	const char *p = authorization;

	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return NULL;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static int
parse_timeout(const char *text, uint32_t *out, struct error *err)
{
	unsigned long long v = 0;
	const char *p = text;

	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char)*p))
		goto bad;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > UINT32_MAX)
			goto bad;
	}
	while (*p == ' ')
		p++;
	if (*p != '\0' || v == 0)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	return error_set_field(err, BERTH__V1__CODE__INVALID_ARGUMENT, "X-Berth-Timeout-Ms",
	    "INVALID_TIMEOUT", "X-Berth-Timeout-Ms must be milliseconds from 1 to 4294967295");
}

int
gateway_encode_request(unsigned index, const char *body, size_t len,
    const struct gateway_headers *h, void **out, size_t *out_len, struct error *err)
{
	const ProtobufCMethodDescriptor *m = rpc_method(index);
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;
	ProtobufCMessage *msg = NULL;
	char path[RPC_METHOD_PATH_MAX];
	uint8_t *payload = NULL;
	int code;

	*out = NULL;
	*out_len = 0;
	if (m == NULL || rpc_method_path(index, path, sizeof(path)) != 0)
		return error_set(err, BERTH__V1__CODE__UNIMPLEMENTED, "unknown method");
	if (h->authorization != NULL && h->authorization[0] != '\0') {
		if ((env.token = (char *)gateway_bearer_token(h->authorization)) == NULL)
			return error_set(err, BERTH__V1__CODE__UNAUTHENTICATED,
			    "Authorization must be \"Bearer TOKEN\"");
	}
	if (h->timeout_ms != NULL && parse_timeout(h->timeout_ms, &env.timeout_ms, err) != 0)
		return err != NULL ? err->code : BERTH__V1__CODE__INVALID_ARGUMENT;
	if (h->idempotency_key != NULL)
		env.request_id = (char *)h->idempotency_key;
	env.method = path;

	if (len > 0) {
		if ((code = json_codec_parse(body, len, m->input, &msg, err)) != 0)
			return code;
		env.payload.len = protobuf_c_message_get_packed_size(msg);
		if ((payload = malloc(env.payload.len + 1)) == NULL) {
			protobuf_c_message_free_unpacked(msg, NULL);
			return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		}
		protobuf_c_message_pack(msg, payload);
		protobuf_c_message_free_unpacked(msg, NULL);
		env.payload.data = payload;
	}
	*out_len = berth__v1__rpc_request__get_packed_size(&env);
	if ((*out = malloc(*out_len + 1)) == NULL) {
		free(payload);
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	berth__v1__rpc_request__pack(&env, *out);
	free(payload);
	return 0;
}

void
gateway_decode_response(unsigned index, const void *reply, size_t len, struct http_answer *a)
{
	const ProtobufCMethodDescriptor *m = rpc_method(index);
	Berth__V1__RpcResponse *resp;
	ProtobufCMessage *msg;
	json_t *json;

	if (reply == NULL) {
		http_answer_error_detail(a, 0, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "", "",
		    "out of memory");
		return;
	}
	if (m == NULL || (resp = berth__v1__rpc_response__unpack(NULL, len, reply)) == NULL) {
		http_answer_error_detail(a, 0, BERTH__V1__CODE__INTERNAL, "", "",
		    "the reply is not an RpcResponse");
		return;
	}
	if (resp->code != BERTH__V1__CODE__OK) {
		http_answer_error(a, 0, (int)resp->code, resp->message, resp->details,
		    resp->n_details);
		berth__v1__rpc_response__free_unpacked(resp, NULL);
		return;
	}
	msg = protobuf_c_message_unpack(m->output, NULL, resp->payload.len, resp->payload.data);
	berth__v1__rpc_response__free_unpacked(resp, NULL);
	json = msg != NULL ? json_codec_from_message(msg) : NULL;
	protobuf_c_message_free_unpacked(msg, NULL);
	http_answer_clear(a);
	a->body = json != NULL ? json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(json);
	if (a->body == NULL) {
		http_answer_error_detail(a, 0, BERTH__V1__CODE__INTERNAL, "", "",
		    "cannot encode the reply as JSON");
		return;
	}
	a->status = 200;
	a->len = strlen(a->body);
	a->content_type = "application/json";
	a->api = true;
}
