/*
 * docker_tls.c - TLS to a tcp:// engine, configured as the docker CLI is:
 * DOCKER_TLS_VERIFY (verify the engine against ca.pem), DOCKER_TLS (TLS
 * without verifying), DOCKER_CERT_PATH (default ~/.docker) holding
 * ca.pem, cert.pem and key.pem.
 *
 * Threads: docker_tls_from_env runs in docker_open; the settings are
 * read-only afterwards and any thread sets them on its curl handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/docker_internal.h"

static bool
env_set(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0';
}

bool
docker_tls_wanted(void)
{
	return env_set("DOCKER_TLS_VERIFY") || env_set("DOCKER_TLS");
}

static char *
path_join(const char *dir, const char *file)
{
	size_t n = strlen(dir) + strlen(file) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, file);
	return p;
}

int
docker_tls_from_env(struct docker_tls *tls)
{
	const char *certs = getenv("DOCKER_CERT_PATH");
	const char *home = getenv("HOME");
	char *dir;
	int rc = -1;

	tls->verify = env_set("DOCKER_TLS_VERIFY");
	tls->on = docker_tls_wanted();
	if (!tls->on)
		return 0;
	if (certs != NULL && *certs != '\0')
		dir = strdup(certs);
	else
		dir = path_join(home != NULL ? home : "/root", ".docker");
	if (dir == NULL)
		return -1;
	tls->ca_file = path_join(dir, "ca.pem");
	tls->cert_file = path_join(dir, "cert.pem");
	tls->key_file = path_join(dir, "key.pem");
	if (tls->ca_file != NULL && tls->cert_file != NULL && tls->key_file != NULL)
		rc = 0;
	free(dir);
	return rc;
}

void
docker_tls_free(struct docker_tls *tls)
{
	free(tls->ca_file);
	free(tls->cert_file);
	free(tls->key_file);
	memset(tls, 0, sizeof(*tls));
}

CURLcode
docker_tls_options(const struct docker_tls *tls, CURL *h)
{
	CURLcode cc = CURLE_OK;

	if (!tls->on)
		return CURLE_OK;
#define SET(opt, val)                                           \
	do {                                                    \
		if (cc == CURLE_OK)                             \
			cc = curl_easy_setopt(h, (opt), (val)); \
	} while (0)
	SET(CURLOPT_SSLCERT, tls->cert_file);
	SET(CURLOPT_SSLKEY, tls->key_file);
	if (tls->verify) {
		SET(CURLOPT_CAINFO, tls->ca_file);
	} else {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
#undef SET
	return cc;
}
