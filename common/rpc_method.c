/*
 * rpc_method.c - method paths from the generated service descriptor.
 */
#include <stdio.h>
#include <string.h>

#include "rpc_method.h"

unsigned
rpc_method_count(void)
{
	return RPC_SERVICE->n_methods;
}

const ProtobufCMethodDescriptor *
rpc_method(unsigned index)
{
	if (index >= RPC_SERVICE->n_methods)
		return NULL;
	return &RPC_SERVICE->methods[index];
}

int
rpc_method_find(const char *path)
{
	const char *svc = RPC_SERVICE->name; /* "berth.v1.Berth" */
	size_t svc_len = strlen(svc);
	const ProtobufCMethodDescriptor *m;

	if (path == NULL)
		return -1;
	if (path[0] == '/') {
		if (strncmp(path + 1, svc, svc_len) != 0 || path[1 + svc_len] != '/')
			return -1;
		path += svc_len + 2;
	}
	/* Method names are short; a linear scan beats building an index. */
	for (unsigned i = 0; i < RPC_SERVICE->n_methods; i++) {
		m = &RPC_SERVICE->methods[i];
		if (strcmp(m->name, path) == 0)
			return (int)i;
	}
	return -1;
}

int
rpc_method_path(unsigned index, char *buf, size_t len)
{
	const ProtobufCMethodDescriptor *m = rpc_method(index);
	int n;

	if (m == NULL)
		return -1;
	n = snprintf(buf, len, "/%s/%s", RPC_SERVICE->name, m->name);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}
