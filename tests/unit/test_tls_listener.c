/*
 * test_tls_listener.c - a tls+tcp:// listener's set-up (server/rpc/
 * tls_listener.c) refuses a key that does not belong to its certificate:
 * nng's mbedTLS took such a pair, berthd said "listening", and every
 * handshake then failed without a word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "berth/v1/berth.pb-c.h"
#include "rpc/tls_listener.h"

static char dir[] = "/tmp/berth-tls-XXXXXX";

/* Two self-signed certificates with their keys: a.pem/a-key.pem, b.pem/b-key.pem. */
static int
make_pairs(void **state)
{
	char cmd[1024];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd),
	    "cd %s && for n in a b; do openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
	    "-subj /CN=localhost -keyout $n-key.pem -out $n.pem >/dev/null 2>&1 || exit 1; done",
	    dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
remove_pairs(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tls_listener_setup on a fresh listener with cert/key from the pair names. */
static int
setup_with(const char *cert, const char *key, struct error *err)
{
	char cert_path[128], key_path[128];
	struct tls_files files = { 0 };
	nng_socket sock;
	nng_listener l;
	int rc;

	snprintf(cert_path, sizeof(cert_path), "%s/%s", dir, cert);
	snprintf(key_path, sizeof(key_path), "%s/%s", dir, key);
	files.cert_file = cert_path;
	files.key_file = key_path;
	assert_int_equal(nng_rep0_open(&sock), 0);
	assert_int_equal(nng_listener_create(&l, sock, "tls+tcp://127.0.0.1:0"), 0);
	rc = tls_listener_setup(l, "tls+tcp://127.0.0.1:0", &files, err);
	nng_close(sock);
	return rc;
}

static void
test_matching_pair_is_taken(void **state)
{
	struct error err = { 0 };

	(void)state;
	assert_int_equal(setup_with("a.pem", "a-key.pem", &err), 0);
}

static void
test_key_of_another_certificate_is_refused(void **state)
{
	struct error err = { 0 };

	(void)state;
	assert_int_equal(setup_with("a.pem", "b-key.pem", &err), -1);
	assert_int_equal(err.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(err.message, "does not belong to the certificate"));
	assert_non_null(strstr(err.message, "b-key.pem"));
}

static void
test_certificate_given_as_key_is_refused(void **state)
{
	struct error err = { 0 };

	(void)state;
	assert_int_equal(setup_with("a.pem", "a.pem", &err), -1);
	assert_int_equal(err.code, BERTH__V1__CODE__INVALID_ARGUMENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matching_pair_is_taken),
		cmocka_unit_test(test_key_of_another_certificate_is_refused),
		cmocka_unit_test(test_certificate_given_as_key_is_refused),
	};

	return cmocka_run_group_tests(tests, make_pairs, remove_pairs);
}
