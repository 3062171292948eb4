/*
 * pem.h - reading a certificate or key file (PEM) whole, for nng's TLS
 * configuration: berthd's listeners (server/rpc/tls_listener.c) and
 * libberth's dialers (client/berth.c).
 */
#ifndef BERTH_PEM_H
#define BERTH_PEM_H

#include "error.h"

#define PEM_MAX_BYTES (1 << 20)

/*
 * Reads the PEM file at `path` as one NUL-terminated string. `what` names
 * the file in messages ("certificate", "key"). Returns 0 with *out owned
 * by the caller (free(); explicit_bzero() a key first), or
 * INVALID_ARGUMENT (cannot open, empty, larger than PEM_MAX_BYTES) or
 * RESOURCE_EXHAUSTED with err filled (may be NULL) and *out NULL.
 */
int pem_read_file(const char *what, const char *path, char **out, struct error *err);

#endif
