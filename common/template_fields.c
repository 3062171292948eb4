/*
 * template_fields.c - Template's fields by name, through protoc-c's
 * descriptor (see template_fields.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_fields.h"

/* How long a string value may be in a summary before it is cut. */
#define FORMAT_STRING_MAX 40

const ProtobufCFieldDescriptor *
template_fields(size_t *n)
{
	*n = berth__v1__template__descriptor.n_fields;
	return berth__v1__template__descriptor.fields;
}

const ProtobufCFieldDescriptor *
template_field_find(const char *name)
{
	if (name == NULL)
		return NULL;
	return protobuf_c_message_descriptor_get_field_by_name(&berth__v1__template__descriptor,
	    name);
}

bool
template_field_makes_container(const ProtobufCFieldDescriptor *fd)
{
	return strcmp(fd->name, "name") != 0 && strcmp(fd->name, "description") != 0 &&
	    strcmp(fd->name, "revision") != 0;
}

/* Bytes one value of the field takes in the message (or in its array). */
static size_t
value_size(const ProtobufCFieldDescriptor *fd)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

static const void *
field_at(const Berth__V1__Template *t, const ProtobufCFieldDescriptor *fd)
{
	return (const char *)t + fd->offset;
}

static size_t
repeated_count(const Berth__V1__Template *t, const ProtobufCFieldDescriptor *fd)
{
	return *(const size_t *)((const char *)t + fd->quantifier_offset);
}

/* A message's packed bytes (NULL packs as none): malloc'ed, *len its length. */
static uint8_t *
packed(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = m != NULL ? protobuf_c_message_get_packed_size(m) : 0;
	buf = malloc(*len + 1);
	if (buf != NULL && *len > 0)
		protobuf_c_message_pack(m, buf);
	return buf;
}

/* Whether two values of the field's type (at a and b) are equal. */
static bool
value_equal(const ProtobufCFieldDescriptor *fd, const void *a, const void *b)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *sa = *(char *const *)a, *sb = *(char *const *)b;
		return strcmp(sa != NULL ? sa : "", sb != NULL ? sb : "") == 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *ba = a, *bb = b;
		return ba->len == bb->len && (ba->len == 0 || memcmp(ba->data, bb->data, ba->len) == 0);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		size_t la, lb;
		uint8_t *pa = packed(*(ProtobufCMessage *const *)a, &la);
		uint8_t *pb = packed(*(ProtobufCMessage *const *)b, &lb);
		bool same = pa != NULL && pb != NULL && la == lb && memcmp(pa, pb, la) == 0;

		free(pa);
		free(pb);
		return same;
	}
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)a == *(const double *)b;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)a == *(const float *)b;
	default:
		return memcmp(a, b, value_size(fd)) == 0;
	}
}

bool
template_field_equal(const Berth__V1__Template *a, const Berth__V1__Template *b,
    const ProtobufCFieldDescriptor *fd)
{
	size_t n, size = value_size(fd);

	if (fd->label != PROTOBUF_C_LABEL_REPEATED)
		return value_equal(fd, field_at(a, fd), field_at(b, fd));
	n = repeated_count(a, fd);
	if (n != repeated_count(b, fd))
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *ea = *(const char *const *)field_at(a, fd) + i * size;
		const char *eb = *(const char *const *)field_at(b, fd) + i * size;

		if (!value_equal(fd, ea, eb))
			return false;
	}
	return true;
}

bool
template_field_is_set(const Berth__V1__Template *t, const ProtobufCFieldDescriptor *fd)
{
	Berth__V1__Template zero;

	if (fd->label == PROTOBUF_C_LABEL_REPEATED)
		return repeated_count(t, fd) > 0;
	berth__v1__template__init(&zero);
	return !value_equal(fd, field_at(t, fd), field_at(&zero, fd));
}

void
template_field_copy(Berth__V1__Template *dst, const Berth__V1__Template *src,
    const ProtobufCFieldDescriptor *fd)
{
	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		*(size_t *)((char *)dst + fd->quantifier_offset) = repeated_count(src, fd);
		memcpy((char *)dst + fd->offset, field_at(src, fd), sizeof(void *));
		return;
	}
	memcpy((char *)dst + fd->offset, field_at(src, fd), value_size(fd));
}

bool
template_field_format(const Berth__V1__Template *t, const ProtobufCFieldDescriptor *fd,
    char *buf, size_t len)
{
	const void *p = field_at(t, fd);

	if (fd->label == PROTOBUF_C_LABEL_REPEATED)
		return false;
	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		if (s == NULL || s[0] == '\0')
			snprintf(buf, len, "\"\"");
		else if (strlen(s) > FORMAT_STRING_MAX)
			snprintf(buf, len, "%.*s...", FORMAT_STRING_MAX, s);
		else
			snprintf(buf, len, "%s", s);
		return true;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(buf, len, "%" PRIu32, *(const uint32_t *)p);
		return true;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		snprintf(buf, len, "%" PRId32, *(const int32_t *)p);
		return true;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p);
		return true;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(buf, len, "%" PRId64, *(const int64_t *)p);
		return true;
	case PROTOBUF_C_TYPE_DOUBLE:
		snprintf(buf, len, "%g", *(const double *)p);
		return true;
	case PROTOBUF_C_TYPE_FLOAT:
		snprintf(buf, len, "%g", (double)*(const float *)p);
		return true;
	case PROTOBUF_C_TYPE_BOOL:
		snprintf(buf, len, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
		return true;
	default:
		return false;
	}
}
