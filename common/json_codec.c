/*
 * json_codec.c - protobuf-c messages to and from JSON, driven by the
 * descriptors (see json_codec.h).
 *
 * Field storage follows protobuf-c's layout: a field's value lives at
 * `offset` in the message struct; for a repeated field `quantifier_offset`
 * holds the element count (size_t), for a oneof member the case (uint32),
 * for an optional scalar the has_ flag. Messages built here come from
 * malloc, as protobuf-c's default allocator's do, and start from
 * protobuf_c_message_init() as the unpacker's do, so
 * protobuf_c_message_free_unpacked(m, NULL) frees them, also half-built
 * ones on error.
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "utf8.h"

/* As long as struct error's field, where the path ends up. */
#define JSON_PATH_LEN ERROR_FIELD_MAX

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Bytes one element of a repeated field takes in its array. */
static size_t
element_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sizeof(int32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* Optional strings and messages are present when non-NULL; other optional types carry a has_ flag. */
static bool
has_presence_flag(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
}

/*
 * A JSON string for s. JSON must be UTF-8 but container logs need not be:
 * bytes that are not UTF-8 become U+FFFD rather than failing the output.
 */
static json_t *
string_to_json(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *fixed, *q;
	json_t *j;

	if ((j = json_string(s)) != NULL)
		return j;
	if ((fixed = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (q = fixed; *p != '\0';) {
		size_t n = utf8_sequence_length(p);

		if (n == 0) {
			memcpy(q, "\xef\xbf\xbd", 3);
			q += 3;
			p++;
		} else {
			memcpy(q, p, n);
			q += n;
			p += n;
		}
	}
	*q = '\0';
	j = json_string(fixed);
	free(fixed);
	return j;
}

static json_t *
base64_to_json(const ProtobufCBinaryData *b)
{
	char *out = malloc(4 * ((b->len + 2) / 3) + 1), *p = out;
	json_t *j;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < b->len; i += 3) {
		uint32_t v = (uint32_t)b->data[i] << 16;

		if (i + 1 < b->len)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (i + 2 < b->len)
			v |= b->data[i + 2];
		*p++ = base64_alphabet[(v >> 18) & 63];
		*p++ = base64_alphabet[(v >> 12) & 63];
		*p++ = i + 1 < b->len ? base64_alphabet[(v >> 6) & 63] : '=';
		*p++ = i + 2 < b->len ? base64_alphabet[v & 63] : '=';
	}
	*p = '\0';
	j = json_string(out);
	free(out);
	return j;
}

/* JSON has no NaN or infinities; proto3's JSON mapping spells them as strings. */
static json_t *
double_to_json(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

/* One value (a field or an element of a repeated field) stored at p. */
static json_t *
value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	char buf[24];

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		/* jansson's integers are signed 64-bit: the top half goes as a string. */
		if (*(const uint64_t *)p <= INT64_MAX)
			return json_integer((json_int_t) * (const uint64_t *)p);
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)p);
		return json_string(buf);
	case PROTOBUF_C_TYPE_FLOAT:
		return double_to_json(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return double_to_json(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);

		return ev != NULL ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING:
		return *(char *const *)p != NULL ? string_to_json(*(char *const *)p) : json_null();
	case PROTOBUF_C_TYPE_BYTES:
		return base64_to_json(p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p != NULL
		    ? json_codec_from_message(*(ProtobufCMessage *const *)p)
		    : json_null();
	}
	return NULL;
}

static json_t *
field_to_json(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const char *member = (const char *)msg + f->offset;
	const char *quantifier = (const char *)msg + f->quantifier_offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)quantifier, size = element_size(f->type);
		const char *items = *(const char *const *)member;
		json_t *arr = json_array();

		for (size_t i = 0; arr != NULL && i < n; i++) {
			json_t *v = value_to_json(f, items + i * size);

			if (v == NULL || json_array_append_new(arr, v) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		}
		return arr;
	}
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)quantifier != f->id)
		return json_null();
	if (has_presence_flag(f) && !*(const protobuf_c_boolean *)quantifier)
		return json_null();
	return value_to_json(f, member);
}

json_t *
json_codec_from_message(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	json_t *obj = json_object();

	for (unsigned i = 0; obj != NULL && i < d->n_fields; i++) {
		json_t *v = field_to_json(msg, &d->fields[i]);

		if (v == NULL || json_object_set_new(obj, d->fields[i].name, v) != 0) {
			json_decref(obj);
			obj = NULL;
		}
	}
	return obj;
}

/* ---------------------------------------------------------------------------
 * JSON to message
 */

struct decoder {
	struct error *err;        /* may be NULL */
	char path[JSON_PATH_LEN]; /* dotted path of the value being read */
};

/*
 * Records a failure. An INVALID_ARGUMENT names the field being read
 * (err->field is the dotted path) with the reason INVALID_JSON.
 */
static int __attribute__((format(printf, 3, 4)))
decoder_fail(struct decoder *dec, int code, const char *fmt, ...)
{
	char message[ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (code == BERTH__V1__CODE__INVALID_ARGUMENT)
		return error_set_field(dec->err, code, dec->path, "INVALID_JSON", "%s", message);
	return error_set(dec->err, code, "%s", message);
}

static int
out_of_memory(struct decoder *dec)
{
	return decoder_fail(dec, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
}

#define invalid(dec, ...) decoder_fail((dec), BERTH__V1__CODE__INVALID_ARGUMENT, __VA_ARGS__)

/* Appends ".name" or "[i]" to the path; returns the old length for path_pop. */
static size_t __attribute__((format(printf, 2, 3)))
path_push(struct decoder *dec, const char *fmt, ...)
{
	size_t old = strlen(dec->path);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dec->path + old, sizeof(dec->path) - old, fmt, ap);
	va_end(ap);
	return old;
}

static void
path_pop(struct decoder *dec, size_t old)
{
	dec->path[old] = '\0';
}

static const char *
json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* True when key is the lowerCamelCase spelling of the snake_case name. */
static bool
camel_case_equals(const char *name, const char *key)
{
	for (; *name != '\0'; name++, key++) {
		if (*name == '_' && name[1] != '\0') {
			name++;
			if (toupper((unsigned char)*name) != *key)
				return false;
		} else if (*name != *key) {
			return false;
		}
	}
	return *key == '\0';
}

static const ProtobufCFieldDescriptor *
find_field(const ProtobufCMessageDescriptor *d, const char *key)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);

	for (unsigned i = 0; f == NULL && i < d->n_fields; i++) {
		if (camel_case_equals(d->fields[i].name, key))
			f = &d->fields[i];
	}
	return f;
}

/* proto3's JSON mapping takes integers as numbers or decimal strings. */
static int
signed_from_json(struct decoder *dec, const json_t *j, int64_t min, int64_t max, int64_t *out)
{
	int64_t v;

	if (json_is_integer(j)) {
		v = json_integer_value(j);
	} else if (json_is_real(j)) {
		double d = json_real_value(j);

		if (d != trunc(d) || d < -9.2e18 || d > 9.2e18)
			return invalid(dec, "%s must be an integer, not %g", dec->path, d);
		v = (int64_t)d;
	} else if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (s[0] == '\0' || isspace((unsigned char)s[0]) || s[0] == '+' || *end != '\0' ||
		    errno != 0)
			return invalid(dec, "%s must be an integer, not \"%s\"", dec->path, s);
	} else {
		return invalid(dec, "%s must be an integer, not %s", dec->path, json_type_name(j));
	}
	if (v < min || v > max)
		return invalid(dec, "%s must be between %" PRId64 " and %" PRId64 ", not %" PRId64,
		    dec->path, min, max, v);
	*out = v;
	return 0;
}

static int
unsigned_from_json(struct decoder *dec, const json_t *j, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (json_is_integer(j)) {
		if (json_integer_value(j) < 0)
			return invalid(dec, "%s must be between 0 and %" PRIu64 ", not %" JSON_INTEGER_FORMAT,
			    dec->path, max, json_integer_value(j));
		v = (uint64_t)json_integer_value(j);
	} else if (json_is_real(j)) {
		double d = json_real_value(j);

		if (d != trunc(d) || d < 0 || d > 1.8e19)
			return invalid(dec, "%s must be an integer from 0 to %" PRIu64 ", not %g",
			    dec->path, max, d);
		v = (uint64_t)d;
	} else if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end;

		errno = 0;
		v = strtoull(s, &end, 10);
		if (!isdigit((unsigned char)s[0]) || *end != '\0' || errno != 0)
			return invalid(dec, "%s must be an integer from 0 to %" PRIu64 ", not \"%s\"",
			    dec->path, max, s);
	} else {
		return invalid(dec, "%s must be an integer, not %s", dec->path, json_type_name(j));
	}
	if (v > max)
		return invalid(dec, "%s must be between 0 and %" PRIu64 ", not %" PRIu64, dec->path,
		    max, v);
	*out = v;
	return 0;
}

static int
double_from_json(struct decoder *dec, const json_t *j, double *out)
{
	const char *s;
	char *end;

	if (json_is_number(j)) {
		*out = json_number_value(j);
		return 0;
	}
	if (!json_is_string(j))
		return invalid(dec, "%s must be a number, not %s", dec->path, json_type_name(j));
	s = json_string_value(j);
	if (strcmp(s, "NaN") == 0)
		*out = NAN;
	else if (strcmp(s, "Infinity") == 0)
		*out = INFINITY;
	else if (strcmp(s, "-Infinity") == 0)
		*out = -INFINITY;
	else if (s[0] != '\0' && !isspace((unsigned char)s[0]) && (*out = strtod(s, &end), *end == '\0'))
		return 0;
	else
		return invalid(dec, "%s must be a number, not \"%s\"", dec->path, s);
	return 0;
}

static int
enum_from_json(struct decoder *dec, const ProtobufCEnumDescriptor *e, const json_t *j, int *out)
{
	const ProtobufCEnumValue *v = NULL;
	char names[256] = "";

	if (json_is_string(j)) {
		v = protobuf_c_enum_descriptor_get_value_by_name(e, json_string_value(j));
	} else if (json_is_integer(j) && json_integer_value(j) >= INT32_MIN &&
	    json_integer_value(j) <= INT32_MAX) {
		/* Open enums (proto3): a number the descriptor lacks is kept, as the printer prints it. */
		*out = (int)json_integer_value(j);
		return 0;
	} else {
		return invalid(dec, "%s must be a name or number of %s, not %s", dec->path, e->name,
		    json_type_name(j));
	}
	if (v != NULL) {
		*out = v->value;
		return 0;
	}
	for (unsigned i = 0; i < e->n_values; i++) {
		size_t len = strlen(names);
		snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", e->values[i].name);
	}
	return invalid(dec, "%s: \"%s\" is not a value of %s (%s)", dec->path,
	    json_string_value(j), e->name, names);
}

static int
base64_digit(char c)
{
	const char *p;

	/* URL-safe base64 is accepted too: '-' and '_' for '+' and '/'. */
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	if (c == '\0' || (p = strchr(base64_alphabet, c)) == NULL)
		return -1;
	return (int)(p - base64_alphabet);
}

static int
bytes_from_json(struct decoder *dec, const json_t *j, ProtobufCBinaryData *out)
{
	const char *s;
	size_t len, padded, n = 0;
	uint32_t acc = 0;
	int bits = 0;
	uint8_t *data;

	if (!json_is_string(j))
		return invalid(dec, "%s must be a base64 string, not %s", dec->path, json_type_name(j));
	s = json_string_value(j);
	padded = len = strlen(s);
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (padded - len > 2 || len % 4 == 1 || (padded != len && padded % 4 != 0))
		return invalid(dec, "%s is not valid base64", dec->path);
	if ((data = malloc(len * 3 / 4 + 1)) == NULL)
		return out_of_memory(dec);
	for (size_t i = 0; i < len; i++) {
		int d = base64_digit(s[i]);

		if (d < 0) {
			free(data);
			return invalid(dec, "%s is not valid base64", dec->path);
		}
		acc = ((acc << 6) | (uint32_t)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			data[n++] = (uint8_t)(acc >> bits);
		}
	}
	out->data = data;
	out->len = n;
	return 0;
}

static int message_from_json(struct decoder *dec, const json_t *j,
    const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);

/* Reads one value into p; allocates only when it succeeds. */
static int
value_from_json(struct decoder *dec, const ProtobufCFieldDescriptor *f, const json_t *j, void *p)
{
	int64_t s;
	uint64_t u;
	double d;
	int code = 0;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if ((code = signed_from_json(dec, j, INT32_MIN, INT32_MAX, &s)) == 0)
			*(int32_t *)p = (int32_t)s;
		return code;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if ((code = unsigned_from_json(dec, j, UINT32_MAX, &u)) == 0)
			*(uint32_t *)p = (uint32_t)u;
		return code;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if ((code = signed_from_json(dec, j, INT64_MIN, INT64_MAX, &s)) == 0)
			*(int64_t *)p = s;
		return code;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if ((code = unsigned_from_json(dec, j, UINT64_MAX, &u)) == 0)
			*(uint64_t *)p = u;
		return code;
	case PROTOBUF_C_TYPE_FLOAT:
		if ((code = double_from_json(dec, j, &d)) != 0)
			return code;
		if (isfinite(d) && fabs(d) > FLT_MAX)
			return invalid(dec, "%s is out of range for a float", dec->path);
		*(float *)p = (float)d;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return double_from_json(dec, j, (double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j))
			return invalid(dec, "%s must be true or false, not %s", dec->path,
			    json_type_name(j));
		*(protobuf_c_boolean *)p = json_is_true(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return enum_from_json(dec, f->descriptor, j, (int *)p);
	case PROTOBUF_C_TYPE_STRING: {
		char *copy;

		if (!json_is_string(j))
			return invalid(dec, "%s must be a string, not %s", dec->path, json_type_name(j));
		if (strlen(json_string_value(j)) != json_string_length(j))
			return invalid(dec, "%s must not contain NUL characters", dec->path);
		if ((copy = strdup(json_string_value(j))) == NULL)
			return out_of_memory(dec);
		*(char **)p = copy;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_from_json(dec, j, p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return message_from_json(dec, j, f->descriptor, p);
	}
	return invalid(dec, "%s has a type this CLI cannot read", dec->path);
}

static int
field_from_json(struct decoder *dec, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
    const json_t *j)
{
	char *member = (char *)msg + f->offset;
	char *quantifier = (char *)msg + f->quantifier_offset;
	int code;

	/* null is proto3 JSON's "not set": keep the default. */
	if (json_is_null(j))
		return 0;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n, size = element_size(f->type);
		char *items;

		if (!json_is_array(j))
			return invalid(dec, "%s must be an array, not %s", dec->path, json_type_name(j));
		if ((n = json_array_size(j)) == 0)
			return 0;
		if ((items = calloc(n, size)) == NULL)
			return out_of_memory(dec);
		/* Counted as they succeed, so that freeing never sees an unfilled slot. */
		*(char **)member = items;
		for (size_t i = 0; i < n; i++) {
			size_t mark = path_push(dec, "[%zu]", i);

			code = value_from_json(dec, f, json_array_get(j, i), items + i * size);
			path_pop(dec, mark);
			if (code != 0)
				return code;
			(*(size_t *)quantifier)++;
		}
		return 0;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *which = (uint32_t *)quantifier;

		if (*which != 0 && *which != f->id)
			return invalid(dec, "%s: only one field of its oneof may be set", dec->path);
		if ((code = value_from_json(dec, f, j, member)) == 0)
			*which = f->id;
		return code;
	}
	if ((code = value_from_json(dec, f, j, member)) == 0 && has_presence_flag(f))
		*(protobuf_c_boolean *)quantifier = 1;
	return code;
}

static int
message_from_json(struct decoder *dec, const json_t *j, const ProtobufCMessageDescriptor *d,
    ProtobufCMessage **out)
{
	ProtobufCMessage *msg;
	unsigned char *seen;
	const char *key;
	json_t *value;
	int code = 0;

	if (!json_is_object(j))
		return invalid(dec, "%s must be a JSON object (%s), not %s",
		    dec->path[0] != '\0' ? dec->path : "the document", d->name, json_type_name(j));
	msg = calloc(1, d->sizeof_message);
	seen = calloc(d->n_fields + 1, 1);
	if (msg == NULL || seen == NULL) {
		free(msg);
		free(seen);
		return out_of_memory(dec);
	}
	protobuf_c_message_init(d, msg);
	json_object_foreach ((json_t *)j, key, value) {
		const ProtobufCFieldDescriptor *f = find_field(d, key);
		size_t mark = path_push(dec, "%s%s", dec->path[0] != '\0' ? "." : "", key);

		if (f == NULL)
			code = invalid(dec, "unknown field \"%s\" in %s", key, d->name);
		else if (seen[f - d->fields]++)
			code = invalid(dec, "field \"%s\" is given twice", f->name);
		else
			code = field_from_json(dec, msg, f, value);
		path_pop(dec, mark);
		if (code != 0)
			break;
	}
	free(seen);
	if (code != 0) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return code;
	}
	*out = msg;
	return 0;
}

int
json_codec_to_message(const json_t *json, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out, struct error *err)
{
	struct decoder dec = { err, "" };
	int code;

	*out = NULL;
	if ((code = message_from_json(&dec, json, desc, out)) == 0)
		error_clear(err);
	return code;
}

int
json_codec_parse(const char *text, size_t len, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out, struct error *err)
{
	json_error_t jerr;
	json_t *j;
	int code;

	*out = NULL;
	if ((j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		return error_set_field(err, BERTH__V1__CODE__INVALID_ARGUMENT, "", "INVALID_JSON",
		    "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
	}
	code = json_codec_to_message(j, desc, out, err);
	json_decref(j);
	return code;
}

int
json_codec_print(const ProtobufCMessage *msg, char **out, struct error *err)
{
	json_t *j = json_codec_from_message(msg);

	*out = j != NULL ? json_dumps(j, JSON_CODEC_DUMP_FLAGS) : NULL;
	json_decref(j);
	if (*out == NULL)
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	error_clear(err);
	return 0;
}
