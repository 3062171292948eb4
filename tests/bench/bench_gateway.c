/*
 * bench_gateway.c - what the HTTP/JSON gateway costs over nng tcp.
 *
 * One berthd serves both: tcp:// (RpcRequest over nng req0) and
 * --http-listen (POST /v1/GetService with JSON, keep-alive connections
 * through libcurl). The call is GetService with registry_only for one
 * registered service, with an admin token on both. One client measures
 * the round trip (alternating batches of the two); 16 concurrent clients,
 * each with its own connection, the throughput (alternating runs).
 * Targets: gateway p50 <= 2 x nng tcp p50; gateway throughput >= 0.5 x
 * nng tcp's.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"
#include "base/log.h"
#include "store/registry.h"

#define ONE_ROUNDS 30
#define ONE_BATCH 100
#define MANY_CLIENTS 16
#define MANY_ROUNDS 7
#define MANY_MS 400
#define SERVICE_ID "bench_instance_1"

enum target { NNG_TCP,
	GATEWAY,
	N_TARGETS };
static const char *const target_names[N_TARGETS] = { "nng tcp", "HTTP gateway" };

static char token[256];
static char http_url[96];
static char auth_header[300];
static const char json_body[] = "{\"service_id\":\"" SERVICE_ID "\",\"registry_only\":true}";
static void *nng_request;
static size_t nng_request_len;

/* One client of either kind. */
struct client {
	enum target kind;
	nng_socket sock;
	CURL *curl;
	struct curl_slist *headers;
	long status;
};

static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

static int
client_open(struct client *c, enum target kind, const char *tcp_url)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	if (kind == NNG_TCP) {
		if (nng_req0_open(&c->sock) != 0)
			return -1;
		nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, 30000);
		nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, 30000);
		return nng_dial(c->sock, tcp_url, NULL, 0);
	}
	if ((c->curl = curl_easy_init()) == NULL)
		return -1;
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	c->headers = curl_slist_append(c->headers, auth_header);
	c->headers = curl_slist_append(c->headers, "Expect:");
	curl_easy_setopt(c->curl, CURLOPT_URL, http_url);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, json_body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json_body));
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 30000L);
	return 0;
}

static void
client_close(struct client *c)
{
	if (c->kind == NNG_TCP)
		nng_close(c->sock);
	else {
		curl_easy_cleanup(c->curl);
		curl_slist_free_all(c->headers);
	}
}

/* One GetService; 0 when berthd answered OK. */
static int
call(struct client *c)
{
	nng_msg *msg, *answer;
	int rv;

	if (c->kind == GATEWAY) {
		if (curl_easy_perform(c->curl) != CURLE_OK)
			return -1;
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
		return c->status == 200 ? 0 : -1;
	}
	if ((rv = nng_msg_alloc(&msg, nng_request_len)) != 0)
		return rv;
	memcpy(nng_msg_body(msg), nng_request, nng_request_len);
	if ((rv = nng_sendmsg(c->sock, msg, 0)) != 0) {
		nng_msg_free(msg);
		return rv;
	}
	if ((rv = nng_recvmsg(c->sock, &answer, 0)) != 0)
		return rv;
	nng_msg_free(answer);
	return 0;
}

struct runner {
	struct client *client;
	pthread_barrier_t *start;
	atomic_bool *stop;
	unsigned long calls;
	pthread_t thread;
};

static void *
runner_main(void *arg)
{
	struct runner *r = arg;

	pthread_barrier_wait(r->start);
	while (!atomic_load(r->stop) && call(r->client) == 0)
		r->calls++;
	return NULL;
}

/* Calls per second of MANY_CLIENTS clients during MANY_MS. */
static double
throughput(struct client *clients)
{
	struct runner runners[MANY_CLIENTS];
	pthread_barrier_t start;
	atomic_bool stop = false;
	unsigned long total = 0;
	int64_t t0, t1;

	pthread_barrier_init(&start, NULL, MANY_CLIENTS + 1);
	for (int i = 0; i < MANY_CLIENTS; i++) {
		runners[i] = (struct runner){ &clients[i], &start, &stop, 0, 0 };
		pthread_create(&runners[i].thread, NULL, runner_main, &runners[i]);
	}
	pthread_barrier_wait(&start);
	t0 = bench_now_ns();
	bench_sleep_ms(MANY_MS);
	atomic_store(&stop, true);
	for (int i = 0; i < MANY_CLIENTS; i++) {
		pthread_join(runners[i].thread, NULL);
		total += runners[i].calls;
	}
	t1 = bench_now_ns();
	pthread_barrier_destroy(&start);
	return (double)total / ((double)(t1 - t0) / 1e9);
}

/* The bench template and one stopped service, for GetService to read. */
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

static void
make_nng_request(void)
{
	Berth__V1__GetServiceRequest get = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;
	uint8_t inner[256];

	get.service_id = SERVICE_ID;
	get.registry_only = true;
	env.method = "/berth.v1.Berth/GetService";
	env.payload.data = inner;
	env.payload.len = protobuf_c_message_pack(&get.base, inner);
	env.token = token;
	env.timeout_ms = 60000;
	env.request_id = "0123456789abcdef0123456789abcdef";
	nng_request_len = berth__v1__rpc_request__get_packed_size(&env);
	nng_request = malloc(nng_request_len);
	berth__v1__rpc_request__pack(&env, nng_request);
}

int
main(void)
{
	char dir[512], data_dir[600], tcp_url[64], http_listen[64], berthd_path[600];
	const char *token_argv[] = { berthd_path, "token", "create", "--name", "bench", "--role",
		"admin", "--data-dir", data_dir, NULL };
	const char *args[] = { "--listen", tcp_url, "--ipc-admin", "on", "--http-listen",
		http_listen, NULL };
	struct client one[N_TARGETS], many[N_TARGETS][MANY_CLIENTS];
	struct samples lat[N_TARGETS] = { { 0 } }, tput[N_TARGETS] = { { 0 } };
	struct bench_berthd b;

	signal(SIGPIPE, SIG_IGN);
	log_threshold = LL_WARN;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (bench_make_dir("gateway", dir, sizeof(dir)) != 0 ||
	    bench_make_dir("gateway/data", data_dir, sizeof(data_dir)) != 0 ||
	    prepare_registry(data_dir) != 0)
		return 1;
	snprintf(berthd_path, sizeof(berthd_path), "%s/berthd", bench_build_dir());
	snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%d", BENCH_PORT_GATEWAY);
	snprintf(http_listen, sizeof(http_listen), "http://127.0.0.1:%d", BENCH_PORT_GATEWAY + 2);
	snprintf(http_url, sizeof(http_url), "%s/v1/GetService", http_listen);
	if (bench_run_capture(token_argv, token, sizeof(token)) != 0 ||
	    strncmp(token, "berth_", 6) != 0) {
		bench_say("gateway: cannot make a token");
		return 1;
	}
	snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %s", token);
	make_nng_request();
	if (bench_berthd_start(&b, dir, args, 20) != 0)
		return 1;

	for (int t = 0; t < N_TARGETS; t++) {
		if (client_open(&one[t], (enum target)t, tcp_url) != 0 || call(&one[t]) != 0) {
			bench_say("gateway: %s does not answer GetService", target_names[t]);
			goto fail;
		}
		for (int i = 0; i < MANY_CLIENTS; i++)
			if (client_open(&many[t][i], (enum target)t, tcp_url) != 0)
				goto fail;
		for (int i = 0; i < 200; i++) /* warm up */
			call(&one[t]);
	}
	bench_say("gateway: 1 client, %d rounds of %d calls each", ONE_ROUNDS, ONE_BATCH);
	for (int r = 0; r < ONE_ROUNDS; r++)
		for (int t = 0; t < N_TARGETS; t++)
			for (int i = 0; i < ONE_BATCH; i++) {
				int64_t t0 = bench_now_ns();

				if (call(&one[t]) != 0) {
					bench_say("gateway: %s call failed", target_names[t]);
					goto fail;
				}
				samples_add(&lat[t], (double)(bench_now_ns() - t0) / 1000.0);
			}
	bench_say("gateway: %d clients, %d rounds of %d ms", MANY_CLIENTS, MANY_ROUNDS, MANY_MS);
	for (int r = 0; r < MANY_ROUNDS; r++)
		for (int t = 0; t < N_TARGETS; t++)
			samples_add(&tput[t], throughput(many[t]));

	double nng_p50 = samples_quantile(&lat[NNG_TCP], 0.5);
	double http_p50 = samples_quantile(&lat[GATEWAY], 0.5);
	double nng_tput = samples_quantile(&tput[NNG_TCP], 0.5);
	double http_tput = samples_quantile(&tput[GATEWAY], 0.5);

	bench_row(&(struct bench_row){ "8 gateway", "GetService round trip, nng tcp, 1 client",
	    nng_p50, "us", samples_quantile(&lat[NNG_TCP], 0.99), NULL, NAN, NAN, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "8 gateway",
	    "GetService round trip, HTTP/JSON keep-alive, 1 client", http_p50, "us",
	    samples_quantile(&lat[GATEWAY], 0.99), "nng tcp p50", nng_p50, http_p50 / nng_p50,
	    "ratio <= 2.0", http_p50 / nng_p50 <= 2.0 ? BENCH_HOLDS : BENCH_MISS });
	bench_row(&(struct bench_row){ "8 gateway", "GetService throughput, nng tcp, 16 clients",
	    nng_tput, "calls/s", NAN, NULL, NAN, NAN, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "8 gateway",
	    "GetService throughput, HTTP/JSON keep-alive, 16 clients", http_tput, "calls/s", NAN,
	    "nng tcp", nng_tput, http_tput / nng_tput, "ratio >= 0.5",
	    http_tput / nng_tput >= 0.5 ? BENCH_HOLDS : BENCH_MISS });

	for (int t = 0; t < N_TARGETS; t++) {
		client_close(&one[t]);
		for (int i = 0; i < MANY_CLIENTS; i++)
			client_close(&many[t][i]);
		samples_free(&lat[t]);
		samples_free(&tput[t]);
	}
	bench_berthd_stop(&b, 30);
	free(nng_request);
	curl_global_cleanup();
	return 0;
fail:
	bench_berthd_stop(&b, 30);
	return 1;
}
