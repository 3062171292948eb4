/*
 * json.h - generic conversion between protobuf-c messages and JSON.
 *
 * Both directions are driven by the message descriptors that protoc-c
 * generates, so every message of berth.proto (and any later one) converts
 * without hand-written code. JSON keys are the proto's field names.
 *
 * Message to JSON: every field is present, also zero and empty ones, so a
 * script can rely on a key existing; enums by name (a number unknown to the
 * descriptor stays a number); 64-bit integers as numbers (a uint64 above
 * INT64_MAX, which jansson cannot hold, as a decimal string); bytes as
 * base64; an unset message field, oneof member or optional field as null;
 * doubles that JSON cannot express as "NaN", "Infinity", "-Infinity".
 *
 * JSON to message: the reverse, also accepting lowerCamelCase keys, enum
 * numbers, decimal strings for 64-bit integers and null for "unset".
 * Unknown keys and wrong types are errors naming the offending field.
 */
#ifndef BERTH_CLI_JSON_H
#define BERTH_CLI_JSON_H

#include <jansson.h>

#include "berth.h"

/*
 * Returns a new JSON object for `msg`, or NULL when out of memory. The
 * caller owns the result and releases it with json_decref().
 */
json_t *cli_json_from_message(const ProtobufCMessage *msg);

/*
 * Builds a message of type `desc` from the JSON object `json`. Returns 0
 * and *out, owned by the caller (free it with berth_reply_free() or
 * protobuf_c_message_free_unpacked(*out, NULL)). Otherwise returns
 * INVALID_ARGUMENT (st->field is the dotted path of the bad key, e.g.
 * "env[2]") or RESOURCE_EXHAUSTED, with `st` filled and *out NULL.
 */
int cli_json_to_message(const json_t *json, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out, berth_status *st);

#endif
