/*
 * template_fields.h - the fields of a Template by their proto names, walked
 * through the descriptor protoc-c generates, so that a field added to the
 * proto later is compared, reset and copied without code here changing.
 *
 * berthd uses it to tell which fields a write changed (revisions, the
 * summary of a revision, PutTemplateResponse.reset_fields) and to apply an
 * UpdateTemplate's field mask. Pure functions; any thread.
 */
#ifndef BERTH_TEMPLATE_FIELDS_H
#define BERTH_TEMPLATE_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/v1/berth.pb-c.h"

/* Every field of Template, in the proto's order (n out). */
const ProtobufCFieldDescriptor *template_fields(size_t *n);

/* The field called `name` (the proto's spelling), or NULL. */
const ProtobufCFieldDescriptor *template_field_find(const char *name);

/*
 * Whether a change of the field changes what a container is made of:
 * everything but name, description and revision.
 */
bool template_field_makes_container(const ProtobufCFieldDescriptor *fd);

/* Whether fd holds the same value in a and b (an unset message equals an empty one). */
bool template_field_equal(const Berth__V1__Template *a, const Berth__V1__Template *b,
    const ProtobufCFieldDescriptor *fd);

/* Whether fd of t holds anything but its zero value. */
bool template_field_is_set(const Berth__V1__Template *t, const ProtobufCFieldDescriptor *fd);

/*
 * Makes fd of dst what it is in src. Shallow: strings, arrays and
 * messages are shared with src, which must outlive dst's use of them.
 */
void template_field_copy(Berth__V1__Template *dst, const Berth__V1__Template *src,
    const ProtobufCFieldDescriptor *fd);

/*
 * For a single-valued field other than a message: its value as text into
 * buf (a string cut to 40 bytes with "..."), and true. False for repeated
 * and message fields, whose change a summary only names.
 */
bool template_field_format(const Berth__V1__Template *t, const ProtobufCFieldDescriptor *fd,
    char *buf, size_t len);

#endif
