/*
 * gateway.h - one POST /v1/<Method> as an RPC: the JSON body and the
 * headers become an encoded RpcRequest envelope, and the encoded
 * RpcResponse becomes an HTTP answer. The call itself goes through
 * rpc_server_submit, exactly the path of a call received over nng.
 *
 *   body (JSON, "" = empty message) -> the method's request message
 *                                      (common/json_codec.h)
 *   Authorization: Bearer TOKEN     -> token
 *   X-Berth-Timeout-Ms: N           -> timeout_ms (1 .. 4294967295)
 *   Idempotency-Key: KEY            -> request_id
 *
 * Pure functions of their arguments; any thread.
 */
#ifndef BERTH_HTTP_GATEWAY_H
#define BERTH_HTTP_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "http/http_answer.h"
#include "error.h"

/* What the gateway takes from a request's headers (NULL: absent). */
struct gateway_headers {
	const char *authorization;
	const char *timeout_ms;
	const char *idempotency_key;
};

/* "Bearer TOKEN" -> TOKEN (within `authorization`); NULL for another scheme. */
const char *gateway_bearer_token(const char *authorization);

/*
 * The encoded RpcRequest for method `index` (rpc_method.h) with the JSON
 * `body` of `len` bytes. Returns 0 with *out (malloc'ed, the caller frees)
 * and *out_len; or a code with err filled: INVALID_ARGUMENT (bad JSON, an
 * unknown field, a wrong type: the codec's message and field; a bad
 * header), UNAUTHENTICATED (an Authorization that is not Bearer),
 * RESOURCE_EXHAUSTED (out of memory).
 */
int gateway_encode_request(unsigned index, const char *body, size_t len,
    const struct gateway_headers *h, void **out, size_t *out_len, struct error *err);

/*
 * The HTTP answer to the encoded RpcResponse `reply` of method `index`
 * (NULL: the server ran out of memory): 200 and the reply message as JSON
 * on OK, else the error's status and body. Fills *a (the caller clears it).
 */
void gateway_decode_response(unsigned index, const void *reply, size_t len, struct http_answer *a);

#endif
