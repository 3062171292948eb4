/*
 * json_codec.h - protobuf-c messages to and from JSON, for every message
 * of berth.proto (and any later one) without hand-written code: both
 * directions walk the ProtobufCMessageDescriptor that protoc-c generates.
 * JSON keys are the proto's field names. The CLI's --json output and
 * --from-json input, and anything in berthd that speaks JSON, use it.
 *
 * Needs jansson: the Makefile links it into berthd, the CLI and the tests,
 * never into libberth (which links only protobuf-c and nng).
 *
 * Message to JSON: every field is present, also zero and empty ones, so a
 * script can rely on a key existing; enums by name (a number unknown to the
 * descriptor stays a number); 64-bit integers as numbers (a uint64 above
 * INT64_MAX, which jansson cannot hold, as a decimal string); bytes as
 * base64; an unset message field, oneof member or optional field as null;
 * doubles that JSON cannot express as "NaN", "Infinity", "-Infinity";
 * bytes of a string that are not UTF-8 as U+FFFD.
 *
 * JSON to message: the reverse, so that print then parse gives back the
 * same message (the same packed bytes). Also accepted: lowerCamelCase keys,
 * enum numbers (also ones the descriptor lacks: proto3 enums are open),
 * 64-bit and 32-bit integers as decimal strings, URL-safe base64, and null
 * for "not set". Refused with INVALID_ARGUMENT, err->field the dotted path
 * of the offending value ("template.env[2]", "service.container.bogus")
 * and err->reason "INVALID_JSON": unknown keys ("unknown field ..."), a key
 * given twice (in two spellings), wrong JSON types, numbers out of the
 * field's range, enum names the descriptor lacks, bad base64, strings with
 * NUL, two members of one oneof. The message then says what is wrong and,
 * for type errors, starts with the path too.
 *
 * Every function accepts a NULL err.
 */
#ifndef BERTH_JSON_CODEC_H
#define BERTH_JSON_CODEC_H

#include <stddef.h>

#include <jansson.h>

#include "berth/v1/berth.pb-c.h"
#include "error.h"

/* How json_codec_print (and the CLI's --json) lays the text out. */
#define JSON_CODEC_DUMP_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER)

/*
 * Returns a new JSON object for `msg`, or NULL when out of memory. The
 * caller owns the result and releases it with json_decref().
 */
json_t *json_codec_from_message(const ProtobufCMessage *msg);

/*
 * `msg` as JSON text (JSON_CODEC_DUMP_FLAGS, no final newline). Returns 0
 * and *out, a string the caller frees with free(); or RESOURCE_EXHAUSTED
 * with *out NULL.
 */
int json_codec_print(const ProtobufCMessage *msg, char **out, struct error *err);

/*
 * Builds a message of type `desc` from the JSON object `json`. Returns 0
 * and *out; otherwise INVALID_ARGUMENT (see above) or RESOURCE_EXHAUSTED,
 * with err filled and *out NULL.
 *
 * Ownership: *out and everything in it come from malloc (protobuf-c's
 * default allocator), laid out as protobuf_c_message_unpack lays out a
 * message: the caller frees it with protobuf_c_message_free_unpacked(*out,
 * NULL) (or libberth's berth_reply_free). Nothing points into `json`.
 */
int json_codec_to_message(const json_t *json, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out, struct error *err);

/*
 * As json_codec_to_message from the JSON text text[0..len): one document
 * (duplicate keys refused). Bad syntax is INVALID_ARGUMENT with the message
 * "line L, column C: what", err->field "".
 */
int json_codec_parse(const char *text, size_t len, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out, struct error *err);

#endif
