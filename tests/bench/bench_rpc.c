/*
 * bench_rpc.c - what berth's RPC layer costs over nng itself.
 *
 * The floor is a raw nng rep0 echo server in a process of its own, built
 * like berthd's RPC server (16 worker threads, each its own context: receive,
 * wait, send, wait), that returns the request's bytes. Against it, on the
 * same transport and with the same request bytes on the wire: berthd's
 * Health (which pings Docker) and GetService with registry_only (decode,
 * checks, one registry read, encode, a log line). One client measures the
 * round trip (alternating batches of the three); 16 concurrent clients,
 * each with its own connection, measure the throughput (alternating runs).
 *
 * tcp:// needs a token once berthd has authentication: one is made with
 * `berthd token create`; if that command does not exist the calls go
 * without, and if berthd refuses tcp:// altogether, tcp is left out.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"
#include "base/log.h"
#include "store/registry.h"

#define ECHO_WORKERS 16 /* berthd's default --workers */
#define ONE_ROUNDS 30
#define ONE_BATCH 100
#define MANY_CLIENTS 16
#define MANY_ROUNDS 7
#define MANY_MS 400
#define SERVICE_ID "bench_instance_1"

enum target { ECHO, GET_SERVICE, HEALTH, N_TARGETS };
static const char *const target_names[N_TARGETS] = { "raw echo", "GetService", "Health" };

/* --- the echo server (a child process) ------------------------------------ */

struct echo_worker {
	nng_ctx ctx;
	nng_aio *aio;
	pthread_t thread;
};

static void *
echo_main(void *arg)
{
	struct echo_worker *w = arg;

	for (;;) {
		nng_msg *msg;

		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if (nng_aio_result(w->aio) != 0)
			continue;
		msg = nng_aio_get_msg(w->aio);
		nng_aio_set_msg(w->aio, msg);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if (nng_aio_result(w->aio) != 0)
			nng_msg_free(msg);
	}
	return NULL;
}

static void
echo_serve(const char *ipc_url, const char *tcp_url)
{
	struct echo_worker workers[ECHO_WORKERS];
	nng_socket sock;

	if (nng_rep0_open(&sock) != 0 || nng_listen(sock, ipc_url, NULL, 0) != 0 ||
	    nng_listen(sock, tcp_url, NULL, 0) != 0) {
		bench_say("echo server cannot listen on %s / %s", ipc_url, tcp_url);
		_exit(1);
	}
	for (int i = 0; i < ECHO_WORKERS; i++) {
		if (nng_ctx_open(&workers[i].ctx, sock) != 0 ||
		    nng_aio_alloc(&workers[i].aio, NULL, NULL) != 0 ||
		    pthread_create(&workers[i].thread, NULL, echo_main, &workers[i]) != 0)
			_exit(1);
	}
	for (;;)
		pause();
}

/* --- clients ---------------------------------------------------------------- */

struct wire {
	void *bytes;
	size_t len;
};

static int
open_client(const char *url, nng_socket *out)
{
	int rv;

	if ((rv = nng_req0_open(out)) != 0)
		return rv;
	nng_socket_set_ms(*out, NNG_OPT_RECVTIMEO, 30000);
	nng_socket_set_ms(*out, NNG_OPT_SENDTIMEO, 30000);
	/* Blocking dial: the first call does not pay for the connection. */
	return nng_dial(*out, url, NULL, 0);
}

/* One request, one reply; the reply is returned when `reply` is not NULL. */
static int
roundtrip(nng_socket s, const struct wire *w, nng_msg **reply)
{
	nng_msg *msg, *answer;
	int rv;

	if ((rv = nng_msg_alloc(&msg, w->len)) != 0)
		return rv;
	memcpy(nng_msg_body(msg), w->bytes, w->len);
	if ((rv = nng_sendmsg(s, msg, 0)) != 0) {
		nng_msg_free(msg);
		return rv;
	}
	if ((rv = nng_recvmsg(s, &answer, 0)) != 0)
		return rv;
	if (reply != NULL)
		*reply = answer;
	else
		nng_msg_free(answer);
	return 0;
}

/* Exits when berthd does not answer `w` with OK: a broken benchmark measures nothing. */
static void
check_ok(nng_socket s, const struct wire *w, const char *what)
{
	Berth__V1__RpcResponse *resp;
	nng_msg *reply;

	if (roundtrip(s, w, &reply) != 0) {
		bench_say("%s: no answer", what);
		exit(1);
	}
	resp = berth__v1__rpc_response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
	nng_msg_free(reply);
	if (resp == NULL || resp->code != BERTH__V1__CODE__OK) {
		bench_say("%s: %s", what, resp != NULL ? resp->message : "undecodable reply");
		exit(1);
	}
	berth__v1__rpc_response__free_unpacked(resp, NULL);
}

static struct wire
envelope(const char *method, const ProtobufCMessage *payload, const char *token)
{
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;
	struct wire w;
	uint8_t inner[256];

	env.method = (char *)method;
	env.payload.data = inner;
	env.payload.len = protobuf_c_message_pack(payload, inner);
	env.token = (char *)(token != NULL ? token : "");
	env.timeout_ms = 60000;
	env.request_id = "0123456789abcdef0123456789abcdef"; /* as libberth sends one */
	w.len = berth__v1__rpc_request__get_packed_size(&env);
	w.bytes = malloc(w.len);
	berth__v1__rpc_request__pack(&env, w.bytes);
	return w;
}

/* --- 16 clients at once ------------------------------------------------------- */

struct client_thread {
	nng_socket sock;
	const struct wire *wire;
	pthread_barrier_t *start;
	atomic_bool *stop;
	unsigned long calls;
	pthread_t thread;
};

static void *
client_main(void *arg)
{
	struct client_thread *c = arg;

	pthread_barrier_wait(c->start);
	c->calls = 0;
	while (!atomic_load(c->stop)) {
		if (roundtrip(c->sock, c->wire, NULL) != 0)
			break;
		c->calls++;
	}
	return NULL;
}

/* Round trips per second of MANY_CLIENTS clients during MANY_MS. */
static double
throughput(nng_socket *socks, const struct wire *w)
{
	struct client_thread threads[MANY_CLIENTS];
	pthread_barrier_t start;
	atomic_bool stop = false;
	unsigned long total = 0;
	int64_t t0, t1;

	pthread_barrier_init(&start, NULL, MANY_CLIENTS + 1);
	for (int i = 0; i < MANY_CLIENTS; i++) {
		threads[i] = (struct client_thread){ socks[i], w, &start, &stop, 0, 0 };
		pthread_create(&threads[i].thread, NULL, client_main, &threads[i]);
	}
	pthread_barrier_wait(&start);
	t0 = bench_now_ns();
	bench_sleep_ms(MANY_MS);
	atomic_store(&stop, true);
	t1 = bench_now_ns();
	/* Calls finishing after the stop count, over the time they really took. */
	for (int i = 0; i < MANY_CLIENTS; i++) {
		pthread_join(threads[i].thread, NULL);
		total += threads[i].calls;
	}
	t1 = bench_now_ns() > t1 ? bench_now_ns() : t1;
	pthread_barrier_destroy(&start);
	return (double)total / ((double)(t1 - t0) / 1e9);
}

/* --- one transport -------------------------------------------------------------- */

static void
bench_transport(const char *transport, const char *echo_url, const char *berth_url,
    const char *token)
{
	Berth__V1__GetServiceRequest get = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	Berth__V1__HealthRequest health = BERTH__V1__HEALTH_REQUEST__INIT;
	struct wire wires[N_TARGETS];
	const char *urls[N_TARGETS] = { echo_url, berth_url, berth_url };
	nng_socket one[N_TARGETS], many[N_TARGETS][MANY_CLIENTS];
	struct samples lat[N_TARGETS] = { { 0 } }, tput[N_TARGETS] = { { 0 } };
	char figure[160], target_text[64];

	get.service_id = SERVICE_ID;
	get.registry_only = true;
	wires[GET_SERVICE] = envelope("/berth.v1.Berth/GetService", &get.base, token);
	wires[HEALTH] = envelope("/berth.v1.Berth/Health", &health.base, token);
	wires[ECHO] = wires[GET_SERVICE]; /* the same bytes, echoed */

	for (int t = 0; t < N_TARGETS; t++) {
		if (open_client(urls[t], &one[t]) != 0) {
			bench_say("cannot dial %s", urls[t]);
			exit(1);
		}
		for (int i = 0; i < MANY_CLIENTS; i++)
			if (open_client(urls[t], &many[t][i]) != 0) {
				bench_say("cannot dial %s", urls[t]);
				exit(1);
			}
	}
	check_ok(one[GET_SERVICE], &wires[GET_SERVICE], "GetService");
	check_ok(one[HEALTH], &wires[HEALTH], "Health");
	/* Warm up every connection and worker. */
	for (int t = 0; t < N_TARGETS; t++)
		for (int i = 0; i < 200; i++)
			roundtrip(one[t], &wires[t], NULL);

	bench_say("rpc %s: 1 client, %d rounds of %d calls each", transport, ONE_ROUNDS, ONE_BATCH);
	for (int r = 0; r < ONE_ROUNDS; r++) {
		for (int t = 0; t < N_TARGETS; t++) {
			for (int i = 0; i < ONE_BATCH; i++) {
				int64_t t0 = bench_now_ns();

				if (roundtrip(one[t], &wires[t], NULL) != 0) {
					bench_say("%s: call failed", target_names[t]);
					exit(1);
				}
				samples_add(&lat[t], (double)(bench_now_ns() - t0) / 1000.0);
			}
		}
	}
	bench_say("rpc %s: %d clients, %d rounds of %d ms", transport, MANY_CLIENTS, MANY_ROUNDS,
	    MANY_MS);
	for (int r = 0; r < MANY_ROUNDS; r++)
		for (int t = 0; t < N_TARGETS; t++)
			samples_add(&tput[t], throughput(many[t], &wires[t]));

	double echo_p50 = samples_quantile(&lat[ECHO], 0.5);
	double echo_tput = samples_quantile(&tput[ECHO], 0.5);

	snprintf(figure, sizeof(figure), "raw nng echo round trip, %s, 1 client", transport);
	bench_row(&(struct bench_row){ "1 RPC", figure, echo_p50, "us",
	    samples_quantile(&lat[ECHO], 0.99), NULL, NAN, NAN, NULL, BENCH_NA });
	for (int t = GET_SERVICE; t < N_TARGETS; t++) {
		double p50 = samples_quantile(&lat[t], 0.5), ratio = p50 / echo_p50;
		bool targeted = t == GET_SERVICE;

		snprintf(figure, sizeof(figure), "%s%s round trip, %s, 1 client", target_names[t],
		    t == GET_SERVICE ? " (registry_only)" : " (pings Docker)", transport);
		bench_row(&(struct bench_row){ "1 RPC", figure, p50, "us", samples_quantile(&lat[t], 0.99),
		    "raw echo p50", echo_p50, ratio, targeted ? "ratio <= 1.20" : NULL,
		    !targeted ? BENCH_NA : ratio <= 1.20 ? BENCH_HOLDS : BENCH_MISS });
	}
	snprintf(figure, sizeof(figure), "raw nng echo, %s, %d clients", transport, MANY_CLIENTS);
	bench_row(&(struct bench_row){ "1 RPC", figure, echo_tput, "calls/s", NAN, NULL, NAN, NAN,
	    NULL, BENCH_NA });
	for (int t = GET_SERVICE; t < N_TARGETS; t++) {
		double v = samples_quantile(&tput[t], 0.5), ratio = v / echo_tput;
		bool targeted = t == GET_SERVICE;

		snprintf(figure, sizeof(figure), "%s throughput, %s, %d clients", target_names[t],
		    transport, MANY_CLIENTS);
		snprintf(target_text, sizeof(target_text), "ratio >= 0.85");
		bench_row(&(struct bench_row){ "1 RPC", figure, v, "calls/s", NAN, "raw echo", echo_tput,
		    ratio, targeted ? target_text : NULL,
		    !targeted ? BENCH_NA : ratio >= 0.85 ? BENCH_HOLDS : BENCH_MISS });
	}
	for (int t = 0; t < N_TARGETS; t++) {
		nng_close(one[t]);
		for (int i = 0; i < MANY_CLIENTS; i++)
			nng_close(many[t][i]);
		samples_free(&lat[t]);
		samples_free(&tput[t]);
	}
	free(wires[GET_SERVICE].bytes);
	free(wires[HEALTH].bytes);
}

/* User plus system CPU time of a process so far, in seconds. */
static double
cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime = 0, stime = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return NAN;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
		return NAN;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * For profiling, not part of `make bench`: BENCH_RPC_SOAK=N sends only
 * GetService from 16 clients over ipc for N seconds, printing the server's
 * pid first (perf record -p PID) and its CPU time per call at the end; with
 * BENCH_RPC_SOAK_ECHO=1 to the echo server instead, with BENCH_RPC_SOAK_TCP=1
 * over tcp (with a token, to berthd), with BENCH_RPC_URL=URL to a berthd
 * already running there (valgrind --tool=callgrind berthd ...).
 */
static void
soak(const char *url, pid_t pid, int seconds, const char *token)
{
	Berth__V1__GetServiceRequest get = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	nng_socket socks[MANY_CLIENTS];
	struct wire w;
	double sum = 0;
	int runs = seconds * 1000 / MANY_MS;

	get.service_id = SERVICE_ID;
	get.registry_only = true;
	w = envelope("/berth.v1.Berth/GetService", &get.base, token);
	for (int i = 0; i < MANY_CLIENTS; i++)
		if (open_client(url, &socks[i]) != 0)
			exit(1);
	printf("server pid %d\n", (int)pid);
	fflush(stdout);
	double cpu0 = cpu_seconds(pid);
	for (int r = 0; r < runs; r++)
		sum += throughput(socks, &w);
	double cpu1 = cpu_seconds(pid);
	printf("GetService %.0f calls/s, server CPU %.1f us per call\n", sum / (runs > 0 ? runs : 1),
	    (cpu1 - cpu0) * 1e6 / (sum * MANY_MS / 1000.0));
	free(w.bytes);
}

/* --- berthd with one registered service --------------------------------------- */

/* The registry berthd will open: the bench template and one service row. */
static int
prepare_registry(const char *data_dir)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	struct registry *reg;
	char path[700];
	struct error err = { 0 };
	bool created;

	snprintf(path, sizeof(path), "%s/registry.db", data_dir);
	if (registry_open(&reg, path, true, &err) != 0) {
		bench_say("registry: %s", err.message);
		return -1;
	}
	t.name = "bench";
	t.image = BENCH_IMAGE;
	t.container_port = BENCH_DEMO_PORT;
	t.port_range_start = 61900;
	s.service_id = SERVICE_ID;
	s.template_ = "bench";
	s.container_name = SERVICE_ID;
	s.container_id = "";
	s.port = 61900;
	s.instance = "instance_1";
	s.instance_number = 1;
	s.project_dir = "/nonexistent";
	s.status = "stopped";
	if (registry_template_put(reg, &t, &created) != 0 || registry_service_insert(reg, &s) != 0) {
		bench_say("registry: %s", registry_error(reg)->message);
		registry_close(reg);
		return -1;
	}
	registry_close(reg);
	return 0;
}

int
main(void)
{
	char dir[512], data_dir[600], echo_ipc[700], echo_tcp[64], tcp_url[64], token[256] = "";
	char berthd_path[600];
	const char *token_argv[] = { berthd_path, "token", "create", "--name", "bench", "--role",
		"admin", "--data-dir", data_dir, NULL };
	const char *with_tcp[] = { "--listen", tcp_url, "--ipc-admin", "on", NULL };
	struct bench_berthd b;
	bool tcp = true;
	pid_t echo;

	signal(SIGPIPE, SIG_IGN);
	log_threshold = LL_WARN; /* the registry's migration lines are berthd's business */
	if (getenv("BENCH_RPC_URL") != NULL && getenv("BENCH_RPC_SOAK") != NULL) {
		soak(getenv("BENCH_RPC_URL"), 0, atoi(getenv("BENCH_RPC_SOAK")), NULL);
		return 0;
	}
	if (bench_make_dir("rpc", dir, sizeof(dir)) != 0)
		return 1;
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(echo_ipc, sizeof(echo_ipc), "ipc://%s/echo.sock", dir);
	snprintf(echo_tcp, sizeof(echo_tcp), "tcp://127.0.0.1:%d", BENCH_PORT_ECHO);
	snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%d", BENCH_PORT_TCP);
	snprintf(berthd_path, sizeof(berthd_path), "%s/berthd", bench_build_dir());

	/* Before this process touches nng: the child gets a clean library. */
	if ((echo = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the benchmark */
		echo_serve(echo_ipc, echo_tcp);
	}
	if (echo < 0)
		return 1;

	if (bench_make_dir("rpc/data", data_dir, sizeof(data_dir)) != 0 ||
	    prepare_registry(data_dir) != 0)
		goto fail;
	if (bench_run_capture(token_argv, token, sizeof(token)) != 0 ||
	    strncmp(token, "berth_", 6) != 0) {
		bench_say("no `berthd token create`: tcp calls go without a token");
		token[0] = '\0';
	}
	if (bench_berthd_start(&b, dir, with_tcp, 20) != 0) {
		bench_say("berthd does not serve tcp:// here: ipc only");
		tcp = false;
		if (bench_berthd_start(&b, dir, NULL, 20) != 0)
			goto fail;
	}
	bench_sleep_ms(200); /* let the echo server listen */

	if (getenv("BENCH_RPC_SOAK") != NULL) {
		bool over_tcp = getenv("BENCH_RPC_SOAK_TCP") != NULL;

		if (getenv("BENCH_RPC_SOAK_ECHO") != NULL)
			soak(over_tcp ? echo_tcp : echo_ipc, echo, atoi(getenv("BENCH_RPC_SOAK")), NULL);
		else
			soak(over_tcp ? tcp_url : b.url, b.pid, atoi(getenv("BENCH_RPC_SOAK")),
			    over_tcp && token[0] != '\0' ? token : NULL);
		bench_berthd_stop(&b, 30);
		kill(echo, SIGKILL);
		waitpid(echo, NULL, 0);
		return 0;
	}
	bench_transport("ipc", echo_ipc, b.url, NULL);
	if (tcp)
		bench_transport("tcp", echo_tcp, tcp_url, token[0] != '\0' ? token : NULL);
	else
		bench_note("RPC over tcp left out: berthd refused to listen on %s", tcp_url);

	bench_berthd_stop(&b, 30);
	kill(echo, SIGKILL);
	waitpid(echo, NULL, 0);
	return 0;
fail:
	kill(echo, SIGKILL);
	waitpid(echo, NULL, 0);
	return 1;
}
