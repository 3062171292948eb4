/*
 * gen_openapi.c - writes the OpenAPI 3 document of berthd's HTTP/JSON
 * gateway from the descriptors protoc-c generates, at build time.
 *
 * Usage: gen_openapi --c OUT.c VERSION    C source that berthd embeds
 *                                          (server/http/openapi.h)
 *        gen_openapi --json OUT.json VERSION  the same document, indented
 *
 * One path per RPC of service Berth (POST /v1/<Method>), one schema per
 * message reachable from the service (and the envelope's ErrorDetail and
 * the gateway's Error), field names as in the proto, enums as their names,
 * 64-bit integers as integers of format int64/uint64 that may also be
 * sent as decimal strings (the JSON codec, common/json_codec.h, accepts
 * both). Run by the Makefile; never committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth/v1/berth.pb-c.h"

static json_t *schemas;

/*
 * A schema's name: the full name without the package, so that nested
 * enums of two messages cannot collide ("Event.Type").
 */
static const char *
schema_name(const char *full_name)
{
	const char *package = berth__v1__berth__descriptor.name; /* "berth.v1.Berth" */
	size_t len = strrchr(package, '.') - package + 1;

	return strncmp(full_name, package, len) == 0 ? full_name + len : full_name;
}

static json_t *
ref_to(const char *name)
{
	char ref[256];

	snprintf(ref, sizeof(ref), "#/components/schemas/%s", name);
	return json_pack("{s:s}", "$ref", ref);
}

static void add_message(const ProtobufCMessageDescriptor *m);

static void
add_enum(const ProtobufCEnumDescriptor *e)
{
	json_t *names;

	if (json_object_get(schemas, schema_name(e->name)) != NULL)
		return;
	names = json_array();
	for (unsigned i = 0; i < e->n_values; i++)
		json_array_append_new(names, json_string(e->values[i].name));
	json_object_set_new(schemas, schema_name(e->name),
	    json_pack("{s:s,s:o,s:s}", "type", "string", "enum", names, "description",
		"Sent and answered by name; the number is accepted too."));
}

/* The schema of one value of field f (an element, for a repeated field). */
static json_t *
value_schema(const ProtobufCFieldDescriptor *f)
{
	static const char wide[] = "A 64-bit integer; a decimal string is accepted too "
				   "(JavaScript numbers hold 53 bits).";

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_pack("{s:s,s:s}", "type", "integer", "format", "int32");
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_pack("{s:s,s:s,s:i,s:I}", "type", "integer", "format", "int64", "minimum",
		    0, "maximum", (json_int_t)4294967295LL);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_pack("{s:s,s:s,s:s}", "type", "integer", "format", "int64", "description",
		    wide);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_pack("{s:s,s:s,s:i,s:s}", "type", "integer", "format", "int64", "minimum",
		    0, "description", wide);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_pack("{s:s,s:s}", "type", "number", "format", "float");
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_pack("{s:s,s:s}", "type", "number", "format", "double");
	case PROTOBUF_C_TYPE_BOOL:
		return json_pack("{s:s}", "type", "boolean");
	case PROTOBUF_C_TYPE_STRING:
		return json_pack("{s:s}", "type", "string");
	case PROTOBUF_C_TYPE_BYTES:
		return json_pack("{s:s,s:s}", "type", "string", "format", "byte");
	case PROTOBUF_C_TYPE_ENUM:
		add_enum(f->descriptor);
		return ref_to(schema_name(((const ProtobufCEnumDescriptor *)f->descriptor)->name));
	case PROTOBUF_C_TYPE_MESSAGE:
		add_message(f->descriptor);
		return ref_to(schema_name(((const ProtobufCMessageDescriptor *)f->descriptor)->name));
	}
	return json_object();
}

/* The message's schema, and those of every message and enum it names. */
static void
add_message(const ProtobufCMessageDescriptor *m)
{
	json_t *properties;

	if (json_object_get(schemas, schema_name(m->name)) != NULL)
		return;
	properties = json_object();
	/* Set first: a message that contains itself stops here. */
	json_object_set_new(schemas, schema_name(m->name),
	    json_pack("{s:s,s:O,s:b}", "type", "object", "properties", properties,
		"additionalProperties", 0));
	for (unsigned i = 0; i < m->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->fields[i];
		json_t *v = value_schema(f);

		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			v = json_pack("{s:s,s:o}", "type", "array", "items", v);
		json_object_set_new(properties, f->name, v);
	}
	json_decref(properties);
}

static json_t *
json_response(const char *description, const char *schema)
{
	return json_pack("{s:s,s:{s:{s:o}}}", "description", description, "content",
	    "application/json", "schema", ref_to(schema));
}

static json_t *
document(const char *version)
{
	const ProtobufCServiceDescriptor *svc = &berth__v1__berth__descriptor;
	json_t *paths = json_object(), *doc;

	schemas = json_object();
	add_message(&berth__v1__error_detail__descriptor);
	add_enum(&berth__v1__code__descriptor);
	json_object_set_new(schemas, "Error",
	    json_pack("{s:s,s:{s:o,s:{s:s},s:{s:s,s:o}},s:[s,s]}", "type", "object", "properties",
		"code", ref_to("Code"), "message", "type", "string", "details", "type", "array",
		"items", ref_to("ErrorDetail"), "required", "code", "message"));

	for (unsigned i = 0; i < svc->n_methods; i++) {
		const ProtobufCMethodDescriptor *m = &svc->methods[i];
		char path[160];

		add_message(m->input);
		add_message(m->output);
		snprintf(path, sizeof(path), "/v1/%s", m->name);
		json_object_set_new(paths, path,
		    json_pack("{s:{s:s,s:s,s:{s:b,s:{s:{s:o}}},s:{s:o,s:o}}}", "post", "operationId",
			m->name, "summary", m->name, "requestBody", "required", 0, "content",
			"application/json", "schema", ref_to(schema_name(m->input->name)), "responses", "200",
			json_response("The call's answer.", schema_name(m->output->name)), "default",
			json_response("The call failed: code and message (grpc-gateway's status "
				      "mapping).",
			    "Error")));
	}
	json_object_set_new(paths, "/v1/openapi.json",
	    json_pack("{s:{s:s,s:s,s:[],s:{s:{s:s}}}}", "get", "operationId", "OpenApi", "summary",
		"This document.", "security", "responses", "200", "description",
		"The OpenAPI document."));

	doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:o,s:{s:{s:s,s:s}}},s:[{s:[]}]}", "openapi",
	    "3.0.3", "info", "title", "berth", "version", version, "description",
	    "berthd's HTTP/JSON gateway: POST /v1/<Method> with the request message as JSON, "
	    "Authorization: Bearer <token>, optional X-Berth-Timeout-Ms and Idempotency-Key.",
	    "paths", paths, "components", "schemas", schemas, "securitySchemes", "bearer", "type",
	    "http", "scheme", "bearer", "security", "bearer");
	return doc;
}

/* The document as a C array (no string literal: no escaping, no length limit). */
static int
write_c(FILE *f, const char *text)
{
	size_t len = strlen(text);

	fprintf(f, "/* Generated by tools/gen_openapi.c from berth.proto; do not edit. */\n"
		   "#include <stddef.h>\n\n"
		   "#include \"http/openapi.h\"\n\n"
		   "const char openapi_json[] = {");
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%s0x%02x,", i % 16 == 0 ? "\n\t" : " ", (unsigned char)text[i]);
	fprintf(f, "\n\t0x00\n};\n\nconst size_t openapi_json_len = %zu;\n", len);
	return ferror(f) ? -1 : 0;
}

int
main(int argc, char **argv)
{
	json_t *doc;
	char *text;
	FILE *f;
	int c_out;

	if (argc != 4 || (strcmp(argv[1], "--c") != 0 && strcmp(argv[1], "--json") != 0)) {
		fprintf(stderr, "usage: gen_openapi --c|--json OUT VERSION\n");
		return 2;
	}
	c_out = strcmp(argv[1], "--c") == 0;
	doc = document(argv[3]);
	text = json_dumps(doc, JSON_PRESERVE_ORDER | (c_out ? JSON_COMPACT : JSON_INDENT(2)));
	if (doc == NULL || text == NULL || (f = fopen(argv[2], "w")) == NULL) {
		fprintf(stderr, "gen_openapi: cannot write %s\n", argv[2]);
		return 1;
	}
	if ((c_out ? write_c(f, text) : (fputs(text, f) < 0 || fputc('\n', f) < 0 ? -1 : 0)) != 0 ||
	    fclose(f) != 0) {
		fprintf(stderr, "gen_openapi: cannot write %s\n", argv[2]);
		return 1;
	}
	free(text);
	json_decref(doc);
	return 0;
}
