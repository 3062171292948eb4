/*
 * status.c - names of the gRPC status codes, taken from the proto's own enum
 * descriptor so the two can never disagree.
 */
#include <string.h>

#include "status.h"

const char *
status_code_name(int code)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&berth__v1__code__descriptor, code);
	return v != NULL ? v->name : "UNKNOWN";
}

int
status_code_from_name(const char *name)
{
	const ProtobufCEnumValue *v;

	if (name == NULL)
		return -1;
	v = protobuf_c_enum_descriptor_get_value_by_name(&berth__v1__code__descriptor, name);
	return v != NULL ? v->value : -1;
}
