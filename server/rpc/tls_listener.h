/*
 * tls_listener.h - TLS for one tls+tcp:// listener of berthd.
 */
#ifndef BERTH_TLS_LISTENER_H
#define BERTH_TLS_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include "error.h"

/* PEM files; NULL or "" when not given. */
struct tls_files {
	const char *cert_file;      /* server certificate (may hold the chain) */
	const char *key_file;       /* its private key, unencrypted */
	const char *client_ca_file; /* set: clients must present a certificate it signed */
};

/*
 * Gives listener `l` (not yet started, at `url`) our certificate and key;
 * with a client CA, the peer must present a certificate that CA signed
 * (mutual TLS), else the handshake fails and nng drops the connection
 * before any message. Returns 0, or -1 with the reason in err.
 */
int tls_listener_setup(nng_listener l, const char *url, const struct tls_files *files, struct error *err);

/*
 * Reads the certificate and key files and checks that the key belongs to
 * the certificate (for any TLS listener: nng's, libmicrohttpd's). Returns
 * 0 with *cert and *key (PEM text; release with tls_files_free, which
 * wipes the key), or INVALID_ARGUMENT with err filled and both NULL.
 */
int tls_files_read(const struct tls_files *files, const char *url, char **cert, char **key,
    struct error *err);
void tls_files_free(char *cert, char *key);

/* Whether files name a client CA: subscribers and callers are authenticated by certificate. */
bool tls_files_mutual(const struct tls_files *files);

#endif
