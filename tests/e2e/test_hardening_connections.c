/*
 * test_hardening_connections.c - connections cannot use up berthd's file
 * descriptors before they authenticate (issue 14, item 4), against a real
 * berthd: a request left half-sent is cut at the idle deadline, one
 * address keeps at most --max-connections-per-ip, a tcp:// flood under a
 * low open-file limit leaves ipc:// to the local admin, and a TLS
 * handshake that never finishes is cut.
 *
 * Raw connections go through tests/support/sp_raw.c: berthd cuts them,
 * and nng 1.5.2's own client can hang closing a socket it was cut from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"
#include "sp_raw.h"

#define CUT_WAIT_MS 10000 /* how long a cut may take at most, whatever the deadline */
#define HEALTH_PATH "/berth.v1.Berth/Health"

/* A tcp:// URL on a free port of 127.0.0.1. */
static void
tcp_url(char *buf, size_t len, const char *scheme)
{
	uint16_t port = e2e_free_port();

	assert_true(port != 0);
	snprintf(buf, len, "%s://127.0.0.1:%u", scheme, (unsigned)port);
}

/*
 * Whether the listener at url (tcp://) accepts within 5 s. berthd answers
 * Health on ipc:// once that listener is up, maybe before the next one.
 */
static bool
listening(const char *url)
{
	int fd = -1;

	if (!E2E_WAIT_UNTIL((fd = sp_raw_connect(url, 1000)) >= 0, 5000))
		return false;
	close(fd);
	return true;
}

/* A Health request's bytes (an RpcRequest envelope), malloc'ed. */
static uint8_t *
health_envelope(size_t *len)
{
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;
	uint8_t *buf;

	env.method = HEALTH_PATH;
	env.timeout_ms = 5000;
	*len = berth__v1__rpc_request__get_packed_size(&env);
	buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	berth__v1__rpc_request__pack(&env, buf);
	return buf;
}

/* True when `answer` is an RpcResponse saying OK with a SERVING HealthResponse. */
static bool
health_ok(const void *answer, size_t len)
{
	Berth__V1__RpcResponse *resp = berth__v1__rpc_response__unpack(NULL, len, answer);
	Berth__V1__HealthResponse *h = NULL;
	bool ok;

	if (resp != NULL && resp->code == BERTH__V1__CODE__OK)
		h = berth__v1__health_response__unpack(NULL, resp->payload.len, resp->payload.data);
	ok = h != NULL && h->status == BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING;
	berth__v1__health_response__free_unpacked(h, NULL);
	berth__v1__rpc_response__free_unpacked(resp, NULL);
	return ok;
}

/* Health over a fresh raw connection: what came of it (SP_RAW_ANSWERED only when SERVING). */
static enum sp_raw_result
raw_health(const char *url)
{
	size_t len, n;
	uint8_t *env = health_envelope(&len);
	void *answer = NULL;
	enum sp_raw_result r = sp_raw_exchange(url, env, len, 5000, &answer, &n);

	if (r == SP_RAW_ANSWERED && !health_ok(answer, n))
		r = SP_RAW_ERROR;
	free(answer);
	free(env);
	return r;
}

/* Health through libberth; 0 or the code. */
static int
client_health(berth_client *c)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	int code = berth_call(c, "Health", &req.base, &reply, &st);

	berth_reply_free(reply);
	return code;
}

/* How many of fds[0..n) berthd has closed. */
static int
count_closed(const int *fds, int n)
{
	int closed = 0;

	for (int i = 0; i < n; i++)
		closed += fds[i] >= 0 && sp_raw_closed(fds[i], 0);
	return closed;
}

static void
close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Descriptors berthd (pid) has open. */
static int
open_descriptors(pid_t pid)
{
	char path[64];
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n - 2;
}

/*
 * Each test's berthd (and the TLS test's certificate directory): the
 * teardown ends them even when the test failed half-way.
 */
struct fixture {
	struct e2e_daemon d;
	char tls_dir[64]; /* "" until made */
};

static int
setup(void **state)
{
	*state = calloc(1, sizeof(struct fixture));
	return *state != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char rm[128];

	e2e_daemon_destroy(&f->d, false);
	if (f->tls_dir[0] != '\0') {
		snprintf(rm, sizeof(rm), "rm -rf '%s'", f->tls_dir);
		(void)system(rm);
	}
	free(f);
	return 0;
}

/*
 * A peer that connected and sent half a request held its connection for
 * good: it is cut once it has sent no complete request for
 * --idle-timeout-ms, over ipc:// and tcp:// alike, and so is one that got
 * its reply and asks nothing more. A client whose idle connection was cut
 * is served on its next call (nng dials again).
 */
static void
test_a_half_sent_request_is_cut_at_the_idle_deadline(void **state)
{
	struct fixture *f = *state;
	struct e2e_daemon *d = &f->d;
	char tcp[64];
	const char *args[] = { "--listen", tcp, "--idle-timeout-ms", "500", "--log-level", "debug",
		NULL };
	const char *urls[2];
	size_t len, n;
	uint8_t *env;
	void *answer = NULL;

	tcp_url(tcp, sizeof(tcp), "tcp");
	assert_int_equal(e2e_daemon_start(d, args), 0);
	assert_true(listening(tcp));
	urls[0] = d->proc.url;
	urls[1] = tcp;
	for (int i = 0; i < 2; i++) {
		int64_t opened = clock_monotonic_ms();
		int fd = sp_raw_open_stalled(urls[i], true, 5000);

		assert_true(fd >= 0);
		if (!sp_raw_closed(fd, CUT_WAIT_MS))
			fail_msg("%s: a half-sent request kept its connection for %d ms", urls[i],
			    CUT_WAIT_MS);
		/* Not before the deadline (the server's clock starts after our connect). */
		assert_true(clock_monotonic_ms() - opened >= 450);
		close(fd);
	}
	/* After a reply the clock starts again, and a peer that asks nothing more is cut too. */
	env = health_envelope(&len);
	for (int i = 0; i < 2; i++) {
		int fd = sp_raw_open(urls[i], 5000);

		assert_true(fd >= 0);
		assert_int_equal(sp_raw_request(fd, urls[i], env, len, 5000, &answer, &n),
		    SP_RAW_ANSWERED);
		assert_true(health_ok(answer, n));
		free(answer);
		assert_true(sp_raw_closed(fd, CUT_WAIT_MS));
		close(fd);
	}
	free(env);
	assert_true(e2e_wait_log(&d->proc, "closed idle connections socket=rpc", 5000));
	/* The fixture's client has been idle since the start: its connection is long cut. */
	assert_int_equal(client_health(d->client), 0);
}

/*
 * One address opened connection after connection and kept them all: the
 * 9th and later of 127.0.0.1 are closed at once with
 * --max-connections-per-ip 8, ipc:// serves meanwhile, and tcp:// serves
 * again once the flood is gone.
 */
static void
test_one_address_keeps_at_most_max_connections_per_ip(void **state)
{
	struct fixture *f = *state;
	struct e2e_daemon *d = &f->d;
	char tcp[64];
	const char *args[] = { "--listen", tcp, "--max-connections-per-ip", "8", NULL };
	int fds[20], closed = 0;

	tcp_url(tcp, sizeof(tcp), "tcp");
	assert_int_equal(e2e_daemon_start(d, args), 0);
	assert_true(listening(tcp));
	for (int i = 0; i < 20; i++) {
		fds[i] = sp_raw_open_stalled(tcp, false, 5000);
		assert_true(fds[i] >= 0);
	}
	if (!E2E_WAIT_UNTIL((closed = count_closed(fds, 20)) >= 12, CUT_WAIT_MS))
		fail_msg("berthd kept %d connections of one address, 8 allowed", 20 - closed);
	/* Exactly: the 8 admitted stay (the idle deadline is 30 s away). */
	assert_int_equal(count_closed(fds, 20), 12);
	assert_true(e2e_wait_log(&d->proc, "max-connections-per-ip", 5000));
	/* The address is full: one more is refused; the local admin is served. */
	assert_int_equal(raw_health(tcp), SP_RAW_CLOSED);
	assert_int_equal(raw_health(d->proc.url), SP_RAW_ANSWERED);
	assert_int_equal(client_health(d->client), 0);

	close_all(fds, 20);
	assert_true(E2E_WAIT_UNTIL(raw_health(tcp) == SP_RAW_ANSWERED, CUT_WAIT_MS));
}

/*
 * 300 stalled tcp:// connections under `ulimit -n 256` took every
 * descriptor, and ipc:// was unreachable too (its watchdog logged "Out of
 * files"). berthd now lowers the tcp listener's cap to what the limit
 * leaves, keeping a share for ipc://: Health over ipc answers throughout.
 * The per-address cap is set high and the idle deadline off, so that only
 * that share protects ipc:// here.
 */
static void
test_a_tcp_flood_under_a_low_open_file_limit_leaves_ipc_reachable(void **state)
{
	static const char *const wrapper[] = { "prlimit", "--nofile=256:256", NULL };
	struct fixture *f = *state;
	struct e2e_daemon *d = &f->d;
	char tcp[64], limits[64], line[256];
	const char *args[] = { "--listen", tcp, "--max-connections-per-ip", "100000",
		"--idle-timeout-ms", "0", "--workers", "4", NULL };
	int fds[300], opened = 0, held;
	bool limited = false;
	FILE *fp;

	if (system("command -v prlimit >/dev/null 2>&1") != 0) {
		print_message("skipped: prlimit (util-linux) is not installed\n");
		skip();
	}
	tcp_url(tcp, sizeof(tcp), "tcp");
	assert_int_equal(berthd_proc_start_wrapped(&d->proc, wrapper, 10000, args), 0);
	assert_int_equal(e2e_daemon_connect(d, 5000), 0);
	assert_true(listening(tcp));
	snprintf(limits, sizeof(limits), "/proc/%d/limits", (int)d->proc.pid);
	assert_non_null(fp = fopen(limits, "r"));
	while (fgets(line, sizeof(line), fp) != NULL)
		limited |= strncmp(line, "Max open files", 14) == 0 && strstr(line, " 256 ") != NULL;
	fclose(fp);
	assert_true(limited);

	for (int i = 0; i < 300; i++)
		if ((fds[i] = sp_raw_open_stalled(tcp, true, 2000)) >= 0)
			opened++;
	assert_true(opened > 256);
	/* The flood has been dealt with (or has taken every descriptor). */
	(void)e2e_wait_log(&d->proc, "the listener has max-connections pipes", CUT_WAIT_MS);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(client_health(d->client), 0);
		assert_int_equal(raw_health(d->proc.url), SP_RAW_ANSWERED);
	}
	held = open_descriptors(d->proc.pid);
	assert_true(held > 0 && held < 256);
	assert_false(berthd_proc_log_contains(&d->proc, "Out of files"));
	assert_true(berthd_proc_log_contains(&d->proc, "the open-file limit lowers max-connections"));
	close_all(fds, 300);
}

/* A self-signed certificate for 127.0.0.1 in dir (cert.pem, key.pem); 0 or -1. */
static int
make_certificate(const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-keyout key.pem -out cert.pem -days 2 -subj '/CN=localhost' "
	    "-addext 'subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1' >openssl.log 2>&1",
	    dir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * nng 1.5.2 waits for good for a TLS handshake: 20 connections that sent
 * nothing or half a ClientHello held 20 descriptors for as long as their
 * peers liked. They are cut once they are still no pipe after the
 * deadline (here --idle-timeout-ms 1000); a TLS client that finished its
 * handshake and calls on is left alone past it.
 */
static void
test_a_tls_handshake_that_never_finishes_is_cut(void **state)
{
	/* A TLS record header (handshake, TLS 1.0) and the start of a ClientHello. */
	static const unsigned char half_hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00 };
	struct fixture *f = *state;
	struct e2e_daemon *d = &f->d;
	char dir[] = "/tmp/berth-tls-XXXXXX", tls[64], tcp[64], cert[300], key[300];
	const char *args[] = { "--listen", tls, "--tls-cert", cert, "--tls-key", key,
		"--idle-timeout-ms", "1000", NULL };
	berth_options opts = { 0 };
	berth_client *c = NULL;
	berth_status st;
	int fds[10];
	int64_t opened, until;

	tcp_url(tls, sizeof(tls), "tls+tcp");
	snprintf(tcp, sizeof(tcp), "tcp://%s", tls + strlen("tls+tcp://"));
	assert_non_null(mkdtemp(dir));
	snprintf(f->tls_dir, sizeof(f->tls_dir), "%s", dir);
	if (make_certificate(dir) != 0)
		fail_msg("openssl failed: see %s/openssl.log", dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	assert_int_equal(e2e_daemon_start(d, args), 0);
	assert_true(listening(tcp));

	/* A real client, calling throughout the deadline and past it: never cut. */
	opts.tls_ca_file = cert;
	opts.timeout_ms = 5000;
	if (berth_open(&c, tls, &opts, &st) != 0)
		fail_msg("berth_open %s: %s", tls, st.message);
	until = clock_monotonic_ms() + 1500;
	while (clock_monotonic_ms() < until) {
		assert_int_equal(client_health(c), 0);
		clock_sleep_ms(100); /* the pace of the calls, not a wait for anything */
	}
	assert_false(berthd_proc_log_contains(&d->proc, "finished no handshake"));

	/* Five peers that send nothing, five that send half a ClientHello. */
	opened = clock_monotonic_ms();
	for (int i = 0; i < 10; i++) {
		fds[i] = sp_raw_connect(tcp, 5000);
		assert_true(fds[i] >= 0);
		if (i >= 5)
			assert_int_equal(send(fds[i], half_hello, sizeof(half_hello), MSG_NOSIGNAL),
			    (ssize_t)sizeof(half_hello));
	}
	if (!E2E_WAIT_UNTIL(count_closed(fds, 10) == 10, CUT_WAIT_MS))
		fail_msg("%d of 10 unfinished TLS handshakes were kept for %d ms",
		    10 - count_closed(fds, 10), CUT_WAIT_MS);
	assert_true(clock_monotonic_ms() - opened >= 900);
	assert_true(berthd_proc_log_contains(&d->proc, "finished no handshake"));
	close_all(fds, 10);
	assert_int_equal(client_health(c), 0);
	berth_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_half_sent_request_is_cut_at_the_idle_deadline,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_address_keeps_at_most_max_connections_per_ip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_tcp_flood_under_a_low_open_file_limit_leaves_ipc_reachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_tls_handshake_that_never_finishes_is_cut, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("connections", tests, NULL, NULL);
}
