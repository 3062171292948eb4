/*
 * bench_rollout.c - a rolling update (issue 16, section 6): 10 instances of
 * the demo with an http check, a new revision (an env change), `rollout
 * --max-parallel 1`. Each instance's unavailability (the longest time its
 * published port did not answer GET /health with 200, polled every 5 ms
 * from one thread per instance) against its floor: what Docker alone takes
 * to stop a container of the same image, create and start its replacement
 * on the same port, and answer the first probe (measured here on
 * containers of our own, the same way, while the pollers and berthd's
 * probes run as they do during the rollout). Target: <= 1.1x, for the median
 * instance against the median floor and for the slowest instance against
 * the slowest floor sample (Docker's own times vary by a second under load).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "e2e.h"
#include "http.h"

#define INSTANCES 10
#define PORT_FIRST 63500 /* 63500-63549 */
#define FLOOR_PORT 63549
#define FLOOR_SAMPLES 5
#define TARGET_RATIO 1.1

static struct bench_berthd berthd;

static int
put_template(berth_client *c, const char *demo_dir)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	char env0[64];
	char *env[] = { env0 };
	berth_status st;

	e2e_demo_template(&t, "ro", PORT_FIRST, FLOOR_PORT - 1);
	t.description = "berth benchmark";
	t.image = BENCH_IMAGE;
	snprintf(env0, sizeof(env0), "DEMO_DIR=%s", demo_dir);
	t.env = env;
	t.n_env = 1;
	h.kind = "http";
	h.http_path = "/health";
	h.interval_s = 1;
	h.timeout_s = 1;
	h.retries = 3;
	t.health = &h;
	if (e2e_put_template(c, &t, &st) != 0) {
		bench_say("PutTemplate: %s", st.message);
		return -1;
	}
	return 0;
}

/* ms until GET /health on port answers 200 (polled every 5 ms), or NAN after 30 s. */
static double
until_answers(uint16_t port, int64_t t0)
{
	while (bench_now_ns() - t0 < 30000LL * 1000000) {
		char *body = NULL;
		int code = http_get(port, "/health", 0, &body);

		free(body);
		if (code == 200)
			return (double)(bench_now_ns() - t0) / 1e6;
		bench_sleep_ms(5);
	}
	return NAN;
}

/* Docker alone: stop a running demo, create + start another on its port, first answer: ms. */
static double
floor_ms(void)
{
	static const struct docker_label labels[] = { { BENCH_LABEL_KEY, BENCH_LABEL_VALUE } };
	struct docker_container_spec spec = {
		.image = BENCH_IMAGE,
		.labels = labels,
		.n_labels = 1,
		.container_port = BENCH_DEMO_PORT,
		.host_ip = "127.0.0.1",
		.host_port = FLOOR_PORT,
		.stop_timeout_s = 2,
	};
	struct error err = { 0 };
	char old[DOCKER_ID_LEN + 1], fresh[DOCKER_ID_LEN + 1];
	int64_t t0;
	double ms;

	if (docker_container_create(bench_docker(), &spec, old, 60000, &err) != 0 ||
	    docker_container_start(bench_docker(), old, 60000, &err) != 0 ||
	    isnan(until_answers(FLOOR_PORT, bench_now_ns()))) {
		bench_say("floor sample: %s", err.message);
		return NAN;
	}
	t0 = bench_now_ns();
	if (docker_container_stop(bench_docker(), old, 2, 60000, &err) != 0 ||
	    docker_container_create(bench_docker(), &spec, fresh, 60000, &err) != 0 ||
	    docker_container_start(bench_docker(), fresh, 60000, &err) != 0) {
		bench_say("floor sample: %s", err.message);
		bench_remove_container(old);
		return NAN;
	}
	ms = until_answers(FLOOR_PORT, t0);
	bench_remove_container(old);
	bench_remove_container(fresh);
	return ms;
}

struct poller {
	uint16_t port;
	atomic_bool *stop;
	pthread_t thread;
	double longest_ms;
};

static void *
poll_main(void *arg)
{
	struct poller *p = arg;
	int64_t down_since = 0;

	while (!atomic_load(p->stop)) {
		char *body = NULL;
		bool up = http_get(p->port, "/health", 0, &body) == 200;
		int64_t now = bench_now_ns();

		free(body);
		if (up && down_since != 0) {
			double gap = (double)(now - down_since) / 1e6;

			if (gap > p->longest_ms)
				p->longest_ms = gap;
			down_since = 0;
		} else if (!up && down_since == 0) {
			down_since = now;
		}
		bench_sleep_ms(5);
	}
	return NULL;
}

static char rollout_message[600];

static bool
rollout_ended(berth_client *c, const char *id, char *state, size_t len)
{
	Berth__V1__GetRolloutRequest req = BERTH__V1__GET_ROLLOUT_REQUEST__INIT;
	ProtobufCMessage *keep = NULL;
	berth_status st;
	bool ended = false;

	req.id = (char *)id;
	if (berth_call(c, "GetRollout", &req.base, &keep, &st) == 0) {
		const Berth__V1__Rollout *r = ((Berth__V1__GetRolloutResponse *)keep)->rollout;

		snprintf(state, len, "%s", r->state);
		snprintf(rollout_message, sizeof(rollout_message), "%s", r->message);
		ended = strcmp(r->state, "running") != 0;
	}
	berth_reply_free(keep);
	return ended;
}

static void
rolling_update(berth_client *c)
{
	Berth__V1__StartRolloutRequest req = BERTH__V1__START_ROLLOUT_REQUEST__INIT;
	static char ids[INSTANCES][160];
	struct poller pollers[INSTANCES];
	struct samples gaps = { 0 }, floors = { 0 };
	atomic_bool stop = false;
	ProtobufCMessage *keep = NULL;
	berth_status st;
	char id[160], state[32] = "";
	uint32_t port;
	int64_t t0;
	double took;
	size_t n = 0;

	for (; n < INSTANCES; n++) {
		if (bench_launch(c, "ro", ids[n], sizeof(ids[0]), &port) != 0)
			break;
		pollers[n] = (struct poller){ (uint16_t)port, &stop, 0, 0.0 };
		if (isnan(until_answers((uint16_t)port, bench_now_ns())))
			bench_say("%s does not answer", ids[n]);
	}
	if (n < INSTANCES) {
		bench_say("only %zu of %d instances launched", n, INSTANCES);
		goto out;
	}
	bench_sleep_ms(2500); /* healthy by the monitor's verdict */
	for (size_t i = 0; i < n; i++)
		pthread_create(&pollers[i].thread, NULL, poll_main, &pollers[i]);
	/* The floor in the same conditions: berthd probing, the pollers at work. */
	for (int i = 0; i < FLOOR_SAMPLES; i++)
		samples_add(&floors, floor_ms());
	if (put_template(c, "/data/.") != 0) {
		atomic_store(&stop, true);
		for (size_t i = 0; i < n; i++)
			pthread_join(pollers[i].thread, NULL);
		goto out;
	}
	req.template_ = "ro";
	req.max_parallel = 1;
	t0 = bench_now_ns();
	if (berth_call(c, "StartRollout", &req.base, &keep, &st) != 0) {
		bench_say("StartRollout: %s", st.message);
		atomic_store(&stop, true);
		for (size_t i = 0; i < n; i++)
			pthread_join(pollers[i].thread, NULL);
		goto out;
	}
	snprintf(id, sizeof(id), "%s", ((Berth__V1__StartRolloutResponse *)keep)->rollout->id);
	berth_reply_free(keep);
	while (!rollout_ended(c, id, state, sizeof(state)) &&
	    bench_now_ns() - t0 < 300LL * 1000000000)
		bench_sleep_ms(100);
	took = (double)(bench_now_ns() - t0) / 1e9;
	bench_sleep_ms(200);
	atomic_store(&stop, true);
	for (size_t i = 0; i < n; i++) {
		pthread_join(pollers[i].thread, NULL);
		samples_add(&gaps, pollers[i].longest_ms);
	}
	{
		FILE *f = fopen(berthd.log_path, "r");
		char line[1024];

		while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			char *at = strstr(line, "service=");

			line[strcspn(line, "\n")] = '\0';
			if (strstr(line, "rollout updated") != NULL && at != NULL)
				bench_note("berthd: %.200s", at);
		}
		if (f != NULL)
			fclose(f);
	}
	bench_note("rollout of %zu instances, --max-parallel 1: %s in %.1f s%s%.500s", n, state,
	    took, rollout_message[0] != '\0' ? ": " : "", rollout_message);
	{
		double floor50 = samples_quantile(&floors, 0.5), floor_max = samples_quantile(&floors, 1.0);
		double p50 = samples_quantile(&gaps, 0.5), max = samples_quantile(&gaps, 1.0);
		bool done = strcmp(state, "done") == 0;

		bench_row(&(struct bench_row){ "9 rollout",
		    "instance unavailable during a rolling update, p50 of 10 (max as p99)", p50, "ms",
		    max, "docker stop + create + start + first answer, p50 of 5", floor50,
		    p50 / floor50, "ratio <= 1.1", isnan(p50) || !done ? BENCH_NA : p50 / floor50 <= TARGET_RATIO ? BENCH_HOLDS
														  : BENCH_MISS });
		bench_row(&(struct bench_row){ "9 rollout",
		    "the longest-unavailable instance of 10", max, "ms", NAN,
		    "the slowest of 5 docker stop + create + start + first answer", floor_max,
		    max / floor_max, "ratio <= 1.1", isnan(max) || !done ? BENCH_NA : max / floor_max <= TARGET_RATIO ? BENCH_HOLDS
														      : BENCH_MISS });
	}
out:
	for (size_t i = 0; i < n; i++)
		bench_remove(c, ids[i]);
	samples_free(&gaps);
	samples_free(&floors);
}

int
main(void)
{
	const char *extra[] = { "--log-level", "info", NULL };
	char dir[512];
	berth_client *c;

	if (bench_demo_image() != 0 || bench_make_dir("rollout", dir, sizeof(dir)) != 0 ||
	    bench_berthd_start(&berthd, dir, extra, 20) != 0)
		return 1;
	c = bench_client(&berthd);
	if (put_template(c, "/data") != 0)
		return 1;
	rolling_update(c);
	berth_close(c);
	bench_berthd_stop(&berthd, 60);
	return 0;
}
