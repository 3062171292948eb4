/*
 * tls_listener.c - the TLS side of berthd's tls+tcp:// listeners (the RPC
 * socket and the events socket): certificate, key, and the client CA.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "berth/v1/berth.pb-c.h"
#include "pem.h"
#include "rpc/tls_listener.h"

/*
 * True when the private key belongs to the certificate. nng's mbedTLS
 * takes a pair that does not match and then fails every handshake without
 * a word, so berthd checks the pair itself before it listens.
 */
static bool
key_matches_certificate(const char *cert_pem, const char *key_pem)
{
	BIO *cert_bio = BIO_new_mem_buf(cert_pem, -1), *key_bio = BIO_new_mem_buf(key_pem, -1);
	X509 *cert = cert_bio ? PEM_read_bio_X509(cert_bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = key_bio ? PEM_read_bio_PrivateKey(key_bio, NULL, NULL, NULL) : NULL;
	bool match = cert != NULL && key != NULL && X509_check_private_key(cert, key) == 1;

	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(key_bio);
	BIO_free(cert_bio);
	return match;
}

int
tls_files_read(const struct tls_files *c, const char *url, char **cert, char **key,
    struct error *err)
{
	struct error pem_err;

	*cert = *key = NULL;
	if (c->cert_file == NULL || c->cert_file[0] == '\0' || c->key_file == NULL ||
	    c->key_file[0] == '\0')
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "cannot listen on %s: TLS needs a certificate and a key", url);
	if (pem_read_file("certificate", c->cert_file, cert, &pem_err) != 0 ||
	    pem_read_file("key", c->key_file, key, &pem_err) != 0) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "%s", pem_err.message);
		goto fail;
	}
	if (!key_matches_certificate(*cert, *key)) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "the key %s does not belong to the certificate %s (or one of them is not PEM): "
		    "every TLS handshake would fail",
		    c->key_file, c->cert_file);
		goto fail;
	}
	return 0;
fail:
	tls_files_free(*cert, *key);
	*cert = *key = NULL;
	return BERTH__V1__CODE__INVALID_ARGUMENT;
}

void
tls_files_free(char *cert, char *key)
{
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
}

int
tls_listener_setup(nng_listener l, const char *url, const struct tls_files *c, struct error *err)
{
	nng_tls_config *tls = NULL;
	char *cert = NULL, *key = NULL;
	int rv, result = -1;

	if (tls_files_read(c, url, &cert, &key, err) != 0)
		return -1;
	if ((rv = nng_tls_config_alloc(&tls, NNG_TLS_MODE_SERVER)) != 0 ||
	    (rv = nng_tls_config_own_cert(tls, cert, key, NULL)) != 0) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "cannot use the certificate %s with the key %s: %s",
		    c->cert_file, c->key_file, nng_strerror(rv));
		goto out;
	}
	if (c->client_ca_file != NULL && c->client_ca_file[0] != '\0') {
		if ((rv = nng_tls_config_ca_file(tls, c->client_ca_file)) != 0 ||
		    (rv = nng_tls_config_auth_mode(tls, NNG_TLS_AUTH_MODE_REQUIRED)) != 0) {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "cannot use the client CA %s: %s", c->client_ca_file,
			    nng_strerror(rv));
			goto out;
		}
	} else if ((rv = nng_tls_config_auth_mode(tls, NNG_TLS_AUTH_MODE_NONE)) != 0) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "cannot configure TLS: %s", nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls)) != 0) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "cannot listen on %s with TLS: %s", url, nng_strerror(rv));
		goto out;
	}
	result = 0;
out:
	tls_files_free(cert, key);
	if (tls != NULL)
		nng_tls_config_free(tls); /* the listener holds its own reference */
	return result;
}

bool
tls_files_mutual(const struct tls_files *files)
{
	return files != NULL && files->client_ca_file != NULL && files->client_ca_file[0] != '\0';
}
