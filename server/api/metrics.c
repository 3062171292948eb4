/*
 * metrics.c - counters in static atomics, rendered as Prometheus text for
 * GET /metrics (served by the HTTP layer, server/http/).
 *
 * Threads: the counting functions run on any thread (RPC workers, lifecycle
 * code, the Docker event follower) and touch only relaxed atomics.
 * metrics_serve runs on an HTTP worker, with that worker's registry
 * connection.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "base/log.h"
#include "api/metrics.h"
#include "core/event_follower.h"
#include "core/health_monitor.h"
#include "core/rollout.h"
#include "core/supervisor.h"
#include "engine/backend.h"
#include "engine/docker.h"
#include "store/registry.h"
#include "store/tokens.h"
#include "rpc_method.h"
#include "status.h"

/* Method slots: one per method of the service, plus one for "unknown". */
#define MAX_METHODS 64
#define UNKNOWN_METHOD MAX_METHODS
#define N_CODES (STATUS_CODE_MAX + 1)

/*
 * Latency buckets, upper bounds in microseconds and as Prometheus prints
 * them. Reads take milliseconds; a launch that builds an image, minutes.
 */
static const int64_t bucket_us[] = { 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 120000000, 300000000 };
static const char *const bucket_le[] = { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10", "30", "60", "120", "300" };
#define N_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

/*
 * The counters. Buckets are stored non-cumulative (one add per call, the
 * last slot is "above every bound") and summed when rendered; the
 * histogram's _count is that same sum, so +Inf always equals _count.
 */
static _Atomic uint64_t rpc_requests[MAX_METHODS + 1][N_CODES];
static _Atomic uint64_t rpc_buckets[MAX_METHODS + 1][N_BUCKETS + 1];
static _Atomic uint64_t rpc_duration_sum_us[MAX_METHODS + 1];

void
metrics_rpc_observe(const char *method, int code, int64_t duration_us)
{
	int index = rpc_method_find(method);
	size_t slot = index >= 0 && index < MAX_METHODS ? (size_t)index : UNKNOWN_METHOD;
	size_t b = 0;

	if (code < 0 || code >= N_CODES)
		code = BERTH__V1__CODE__UNKNOWN;
	if (duration_us < 0)
		duration_us = 0;
	while (b < N_BUCKETS && duration_us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&rpc_requests[slot][code], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rpc_buckets[slot][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rpc_duration_sum_us[slot], (uint64_t)duration_us,
	    memory_order_relaxed);
}

static uint64_t
load(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------
 * Rendering: text exposition format 0.0.4
 */

static const char *
method_name(size_t slot)
{
	const ProtobufCMethodDescriptor *m = slot < UNKNOWN_METHOD ? rpc_method((unsigned)slot) : NULL;

	return m != NULL ? m->name : "unknown";
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
put_label(FILE *f, const char *name, const char *value, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', f);
		if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
render_rpc(FILE *f)
{
	size_t n_slots = rpc_method_count() < MAX_METHODS ? rpc_method_count() : MAX_METHODS;

	family(f, "berth_rpc_requests_total", "counter", "RPC calls answered, by method and code.");
	for (size_t s = 0; s <= MAX_METHODS; s++) {
		if (s >= n_slots && s != UNKNOWN_METHOD)
			continue;
		for (int c = 0; c < N_CODES; c++) {
			uint64_t v = load(&rpc_requests[s][c]);

			if (v == 0)
				continue;
			fputs("berth_rpc_requests_total{", f);
			put_label(f, "method", method_name(s), true);
			put_label(f, "code", status_code_name(c), false);
			fprintf(f, "} %llu\n", (unsigned long long)v);
		}
	}

	family(f, "berth_rpc_duration_seconds", "histogram",
	    "Time from receiving an RPC until its reply is ready, by method.");
	for (size_t s = 0; s <= MAX_METHODS; s++) {
		uint64_t counts[N_BUCKETS + 1], total = 0;

		if (s >= n_slots && s != UNKNOWN_METHOD)
			continue;
		for (size_t b = 0; b <= N_BUCKETS; b++)
			total += counts[b] = load(&rpc_buckets[s][b]);
		if (total == 0)
			continue;
		uint64_t cumulative = 0;
		for (size_t b = 0; b <= N_BUCKETS; b++) {
			cumulative += counts[b];
			fputs("berth_rpc_duration_seconds_bucket{", f);
			put_label(f, "method", method_name(s), true);
			put_label(f, "le", b < N_BUCKETS ? bucket_le[b] : "+Inf", false);
			fprintf(f, "} %llu\n", (unsigned long long)cumulative);
		}
		fputs("berth_rpc_duration_seconds_sum{", f);
		put_label(f, "method", method_name(s), true);
		fprintf(f, "} %.6f\n", (double)load(&rpc_duration_sum_us[s]) / 1e6);
		fputs("berth_rpc_duration_seconds_count{", f);
		put_label(f, "method", method_name(s), true);
		fprintf(f, "} %llu\n", (unsigned long long)total);
	}
}

static void
put_service_count(void *arg, const char *template_name, const char *status, unsigned count)
{
	FILE *f = arg;

	fputs("berth_services{", f);
	put_label(f, "template", template_name, true);
	put_label(f, "status", status, false);
	fprintf(f, "} %u\n", count);
}

/* Both port families come from one query: collected, then printed in turn. */
struct port_usage {
	char *text[2]; /* used, capacity */
	size_t len[2];
	FILE *f[2];
};

static void
put_port_usage(void *arg, const char *template_name, unsigned capacity, unsigned used)
{
	struct port_usage *u = arg;
	const char *names[2] = { "berth_template_ports_used", "berth_template_ports_capacity" };
	unsigned values[2] = { used, capacity };

	for (int i = 0; i < 2; i++) {
		fprintf(u->f[i], "%s{", names[i]);
		put_label(u->f[i], "template", template_name, true);
		fprintf(u->f[i], "} %u\n", values[i]);
	}
}

static void
render_registry(FILE *f, struct registry *reg)
{
	struct port_usage u = { 0 };
	int rc = 0;

	family(f, "berth_services", "gauge", "Services in the registry, by template and status.");
	if (registry_service_counts(reg, put_service_count, f) != 0)
		log_warn("metrics cannot count services error=\"%s\"", registry_error(reg)->message);

	for (int i = 0; i < 2; i++)
		if ((u.f[i] = open_memstream(&u.text[i], &u.len[i])) == NULL)
			rc = -1;
	if (rc == 0 && registry_template_port_usage(reg, put_port_usage, &u) != 0)
		log_warn("metrics cannot count ports error=\"%s\"", registry_error(reg)->message);
	for (int i = 0; i < 2; i++)
		if (u.f[i] != NULL)
			fclose(u.f[i]);
	family(f, "berth_template_ports_used", "gauge",
	    "Ports of each template's range that its own services hold.");
	fputs(u.text[0] != NULL ? u.text[0] : "", f);
	family(f, "berth_template_ports_capacity", "gauge",
	    "Ports in each template's range (an open range ends at 65535).");
	fputs(u.text[1] != NULL ? u.text[1] : "", f);
	free(u.text[0]);
	free(u.text[1]);
}

static struct backend *engine_backend; /* set once, before the HTTP threads start */

void
metrics_set_backend(struct backend *b)
{
	engine_backend = b;
}

int
metrics_render(struct registry *reg, char **out, size_t *len)
{
	FILE *f;

	*out = NULL;
	*len = 0;
	if ((f = open_memstream(out, len)) == NULL)
		return -1;
	family(f, "berth_build_info", "gauge", "Always 1; the version of this berthd.");
	fputs("berth_build_info{", f);
	put_label(f, "version", BERTH_VERSION, true);
	fputs("} 1\n", f);
	family(f, "berth_engine_info", "gauge",
	    "Always 1; the container engine berthd drives (\"docker 20.10.24\", \"podman 4.3.1\"; "
	    "\"\" until it first answered).");
	fputs("berth_engine_info{", f);
	put_label(f, "engine", engine_backend != NULL ? backend_engine(engine_backend) : "", true);
	fputs("} 1\n", f);
	render_rpc(f);
	if (reg != NULL)
		render_registry(f, reg);
	family(f, "berth_docker_errors_total", "counter",
	    "Requests to Docker that failed (unreachable, timed out, refused or failed; "
	    "not-found answers excluded).");
	fprintf(f, "berth_docker_errors_total %llu\n", (unsigned long long)docker_failures_total());
	family(f, "berth_docker_event_reconnects_total", "counter",
	    "Times the Docker event stream was lost and followed again.");
	fprintf(f, "berth_docker_event_reconnects_total %llu\n",
	    (unsigned long long)event_follower_reconnects_total());
	family(f, "berth_supervisor_restarts_total", "counter",
	    "Restarts berth made on its own: after a crash, a deleted container or an unhealthy "
	    "verdict.");
	fprintf(f, "berth_supervisor_restarts_total %llu\n",
	    (unsigned long long)supervisor_restarts_total());
	family(f, "berth_rollouts_started_total", "counter", "Rollouts started.");
	fprintf(f, "berth_rollouts_started_total %llu\n",
	    (unsigned long long)rollout_started_total());
	family(f, "berth_rollouts_done_total", "counter",
	    "Rollouts that replaced every outdated instance.");
	fprintf(f, "berth_rollouts_done_total %llu\n", (unsigned long long)rollout_done_total());
	family(f, "berth_rollouts_failed_total", "counter",
	    "Rollouts that failed (an instance rolled back) or were aborted.");
	fprintf(f, "berth_rollouts_failed_total %llu\n", (unsigned long long)rollout_failed_total());
	family(f, "berth_supervisor_giveups_total", "counter",
	    "Times berth gave up on a service: more restarts than its template allows in the "
	    "window.");
	fprintf(f, "berth_supervisor_giveups_total %llu\n",
	    (unsigned long long)supervisor_giveups_total());
	family(f, "berth_health_probes_total", "counter", "Health probes berth finished.");
	fprintf(f, "berth_health_probes_total %llu\n", (unsigned long long)health_probes_total());
	family(f, "berth_health_probes_failed_total", "counter",
	    "Health probes that failed (refused, timed out, a bad status, a non-zero exit).");
	fprintf(f, "berth_health_probes_failed_total %llu\n",
	    (unsigned long long)health_probes_failed_total());
	if (fclose(f) != 0 || *out == NULL) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * GET /metrics
 */

int
metrics_serve(struct registry *reg, const char *token, bool need_token, char **page,
    size_t *len, struct error *err)
{
	struct token_info who;
	int code;

	*page = NULL;
	*len = 0;
	if (need_token) {
		if (token == NULL || token[0] == '\0')
			return error_set(err, BERTH__V1__CODE__UNAUTHENTICATED,
			    "/metrics needs a viewer token here (Authorization: Bearer TOKEN)");
		code = tokens_verify(reg, token, &who, err);
		if (code == BERTH__V1__CODE__UNAUTHENTICATED)
			return error_set(err, code, "the token is not valid (unknown or revoked)");
		if (code != 0)
			return code;
		if (who.role < RPC_ROLE_VIEWER)
			return error_set_field(err, BERTH__V1__CODE__PERMISSION_DENIED, "token",
			    "ROLE_TOO_LOW", "/metrics needs the viewer role");
	}
	if (metrics_render(reg, page, len) != 0)
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	return 0;
}
