/*
 * rpc_method.h - gRPC method paths of the Berth service.
 *
 * Both sides address a method as "/berth.v1.Berth/<Name>". The list of
 * methods, their request and reply types all come from the service
 * descriptor that protoc-c generates, so adding an RPC to the proto needs no
 * change here.
 */
#ifndef BERTH_RPC_METHOD_H
#define BERTH_RPC_METHOD_H

#include <stddef.h>

#include "berth/v1/berth.pb-c.h"

/* Longest method path we accept on the wire; real ones are far shorter. */
#define RPC_METHOD_PATH_MAX 128

/* The service all methods belong to. */
#define RPC_SERVICE (&berth__v1__berth__descriptor)

/* Number of methods of the service. */
unsigned rpc_method_count(void);

/* Descriptor of method `index`, or NULL when out of range. */
const ProtobufCMethodDescriptor *rpc_method(unsigned index);

/*
 * Index of the method named by a full path ("/berth.v1.Berth/Health") or by
 * its bare name ("Health"); -1 when there is no such method.
 */
int rpc_method_find(const char *path_or_name);

/*
 * Writes "/berth.v1.Berth/<Name>" of method `index` into buf. Returns 0, or
 * -1 when index is out of range or buf too small.
 */
int rpc_method_path(unsigned index, char *buf, size_t len);

#endif
