/*
 * bench_shutdown.c - graceful shutdown of 20 services whose process
 * ignores SIGTERM (the demo with DEMO_IGNORE_SIGTERM=1), stop timeout
 * 2 s: every stop has to wait out the timeout and kill. berthd stops them
 * in parallel; the target's floor is one stop timeout, the sequential sum
 * is what stopping them one after another would take (20 times one such
 * stop and removal, measured here on a container of our own), and Docker
 * alone is the same 20 stops and removals issued all at once straight to
 * the Engine API: what the engine itself needs.
 *
 * No caller can beat one stop timeout plus what the engine takes to tear
 * down 20 killed containers at once: measured here as 20 parallel SIGKILLs
 * and removals (no grace), before and after Docker alone. That teardown is
 * mostly dockerd releasing each container's network (endpoint, port
 * mapping's iptables rules), which its libnetwork does one container at a
 * time under a store lock and a port-mapper lock; the engine's floor row
 * compares against stop timeout + teardown.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "base/log.h"

#define SERVICES 20
#define STOP_TIMEOUT_S 2
#define LAUNCHERS 4
#define SEQUENTIAL_SAMPLES 2

static struct bench_berthd berthd;
static atomic_int next_launch, launch_failed;

static void *
launcher(void *arg)
{
	berth_client *c = arg;

	while (atomic_fetch_add(&next_launch, 1) < SERVICES) {
		char id[160];

		if (bench_launch(c, "bench", id, sizeof(id), NULL) != 0)
			atomic_store(&launch_failed, 1);
	}
	return NULL;
}

/* One stop (which waits out the timeout, then kills) and removal, as a sequential shutdown does per service. */
static double
one_stop_ms(void)
{
	static const struct docker_label labels[] = { { BENCH_LABEL_KEY, BENCH_LABEL_VALUE } };
	const char *env[] = { "DEMO_IGNORE_SIGTERM=1" };
	struct docker_container_spec spec = {
		.image = BENCH_IMAGE, .env = env, .n_env = 1, .labels = labels, .n_labels = 1,
		.container_port = BENCH_DEMO_PORT, .host_ip = "127.0.0.1",
		.host_port = BENCH_PORT_SHUTDOWN + 90, .stop_timeout_s = STOP_TIMEOUT_S,
	};
	struct error err = { 0 };
	char id[DOCKER_ID_LEN + 1];
	int64_t t0;
	double ms;

	if (docker_container_create(bench_docker(), &spec, id, 60000, &err) != 0 ||
	    docker_container_start(bench_docker(), id, 60000, &err) != 0) {
		bench_say("sequential sample: %s", err.message);
		return NAN;
	}
	bench_sleep_ms(300); /* the demo has installed its SIGTERM handler */
	t0 = bench_now_ns();
	docker_container_stop(bench_docker(), id, STOP_TIMEOUT_S, 60000, &err);
	docker_container_remove(bench_docker(), id, true, 60000, &err);
	ms = (double)(bench_now_ns() - t0) / 1e6;
	return ms;
}

/* --- Docker alone: the same 20 stops and removals, all at once ------------- */

/* How docker_parallel_ms ends each container. */
enum docker_end {
	DOCKER_STOP, /* stop (timeout, then kill) and remove: a graceful shutdown */
	DOCKER_KILL, /* SIGKILL at once and remove: the engine's teardown alone */
};

static char docker_ids[SERVICES][DOCKER_ID_LEN + 1];
static atomic_int docker_next;
static pthread_barrier_t docker_start;
static enum docker_end docker_end;

static void *
docker_creator(void *arg)
{
	static const struct docker_label labels[] = { { BENCH_LABEL_KEY, BENCH_LABEL_VALUE } };
	const char *env[] = { "DEMO_IGNORE_SIGTERM=1" };
	int i;

	(void)arg;
	while ((i = atomic_fetch_add(&docker_next, 1)) < SERVICES) {
		struct docker_container_spec spec = {
			.image = BENCH_IMAGE, .env = env, .n_env = 1, .labels = labels, .n_labels = 1,
			.container_port = BENCH_DEMO_PORT, .host_ip = "127.0.0.1",
			.host_port = (uint16_t)(BENCH_PORT_SHUTDOWN + 50 + i),
			.stop_timeout_s = STOP_TIMEOUT_S,
		};
		struct error err = { 0 };

		if (docker_container_create(bench_docker(), &spec, docker_ids[i], 60000, &err) != 0 ||
		    docker_container_start(bench_docker(), docker_ids[i], 60000, &err) != 0)
			atomic_store(&launch_failed, 1);
	}
	return NULL;
}

static void *
docker_stopper(void *arg)
{
	const char *id = arg;
	struct error err = { 0 };

	pthread_barrier_wait(&docker_start);
	if (docker_end == DOCKER_STOP)
		docker_container_stop(bench_docker(), id, STOP_TIMEOUT_S, 60000, &err);
	else
		docker_container_kill(bench_docker(), id, 60000, &err); /* returns once it died */
	docker_container_remove(bench_docker(), id, true, 60000, &err);
	return NULL;
}

/*
 * DOCKER_STOP: what Docker itself takes to stop 20 such containers in
 * parallel (each waits out the timeout, then is killed) and remove them.
 * DOCKER_KILL: what it takes to kill and remove them with no grace, the
 * part of any shutdown that comes after the stop timeout.
 */
static double
docker_parallel_ms(enum docker_end end)
{
	pthread_t threads[SERVICES];
	int64_t t0;

	docker_end = end;
	atomic_store(&docker_next, 0);
	for (int i = 0; i < LAUNCHERS; i++)
		pthread_create(&threads[i], NULL, docker_creator, NULL);
	for (int i = 0; i < LAUNCHERS; i++)
		pthread_join(threads[i], NULL);
	if (atomic_load(&launch_failed))
		return NAN;
	bench_sleep_ms(500);
	pthread_barrier_init(&docker_start, NULL, SERVICES + 1);
	for (int i = 0; i < SERVICES; i++)
		pthread_create(&threads[i], NULL, docker_stopper, docker_ids[i]);
	pthread_barrier_wait(&docker_start);
	t0 = bench_now_ns();
	for (int i = 0; i < SERVICES; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&docker_start);
	return (double)(bench_now_ns() - t0) / 1e6;
}

/* Containers of this berthd still on the engine. */
static size_t
leftovers(void)
{
	struct docker_container *list = NULL;
	struct error err = { 0 };
	char label[700];
	size_t n = 0;

	snprintf(label, sizeof(label), "%s=%s", DOCKER_LABEL_DATA_DIR, berthd.data_dir);
	if (docker_container_list(bench_docker(), label, &list, &n, 60000, &err) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		bench_remove_container(list[i].id);
	free(list);
	return n;
}

int
main(void)
{
	const char *env[] = { "DEMO_IGNORE_SIGTERM=1" };
	char dir[512], real_dir[PATH_MAX];
	berth_client *clients[LAUNCHERS];
	pthread_t threads[LAUNCHERS];
	struct samples seq = { 0 }, teardown = { 0 };
	long long cleanup_ms = -1;
	int64_t took_ns;
	double total_ms, one_ms, seq_ms, docker_ms, teardown_ms, floor_ms;
	size_t left;

	log_threshold = LL_WARN;
	if (bench_make_dir("shutdown", dir, sizeof(dir)) != 0 || bench_demo_image() != 0)
		return 1;
	if (bench_berthd_start(&berthd, dir, NULL, 20) != 0)
		return 1;
	/* Containers carry berthd's resolved data directory. */
	if (realpath(berthd.data_dir, real_dir) != NULL && strlen(real_dir) < sizeof(berthd.data_dir))
		strcpy(berthd.data_dir, real_dir);
	for (int i = 0; i < LAUNCHERS; i++)
		clients[i] = bench_client(&berthd);
	if (bench_put_template(clients[0], "bench", BENCH_PORT_SHUTDOWN, env, 1, STOP_TIMEOUT_S) != 0)
		goto fail;
	bench_say("shutdown: launching %d services that ignore SIGTERM", SERVICES);
	for (int i = 0; i < LAUNCHERS; i++)
		pthread_create(&threads[i], NULL, launcher, clients[i]);
	for (int i = 0; i < LAUNCHERS; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < LAUNCHERS; i++)
		berth_close(clients[i]);
	if (atomic_load(&launch_failed))
		goto fail;
	bench_sleep_ms(500); /* every demo has installed its SIGTERM handler */

	bench_say("shutdown: SIGTERM to berthd");
	took_ns = bench_berthd_stop(&berthd, 120);
	if (took_ns < 0) {
		bench_say("berthd did not exit within 120 s");
		goto fail;
	}
	total_ms = (double)took_ns / 1e6;
	bench_log_value(berthd.log_path, "shutdown policy=remove", "cleanup_ms", &cleanup_ms);
	left = leftovers();

	bench_say("shutdown: %d sequential samples of one stop+remove", SEQUENTIAL_SAMPLES);
	for (int i = 0; i < SEQUENTIAL_SAMPLES; i++)
		samples_add(&seq, one_stop_ms());
	one_ms = samples_quantile(&seq, 0.5);
	seq_ms = one_ms * SERVICES;
	bench_say("shutdown: Docker alone, %d parallel kills+removals, then stops+removals, then "
		  "kills+removals",
	    SERVICES);
	samples_add(&teardown, docker_parallel_ms(DOCKER_KILL));
	docker_ms = docker_parallel_ms(DOCKER_STOP);
	samples_add(&teardown, docker_parallel_ms(DOCKER_KILL));
	teardown_ms = samples_sum(&teardown) / (double)teardown.n;
	bench_say("shutdown: teardowns %.0f and %.0f ms, Docker alone %.0f ms", teardown.v[0],
	    teardown.v[1], docker_ms);
	floor_ms = STOP_TIMEOUT_S * 1000.0 + teardown_ms;

	bench_row(&(struct bench_row){ "4 shutdown", "one stop (timeout 2 s, then kill) + remove", one_ms,
	    "ms", NAN, NULL, NAN, NAN, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "4 shutdown",
	    "graceful shutdown, 20 services ignoring SIGTERM (SIGTERM to exit)", total_ms, "ms", NAN,
	    "one stop timeout", STOP_TIMEOUT_S * 1000.0, total_ms / (STOP_TIMEOUT_S * 1000.0),
	    "ratio <= 1.5", total_ms <= 1.5 * STOP_TIMEOUT_S * 1000.0 ? BENCH_HOLDS : BENCH_MISS });
	bench_row(&(struct bench_row){ "4 shutdown",
	    "graceful shutdown against Docker alone (20 parallel stops + removes)", total_ms, "ms", NAN,
	    "Docker alone", docker_ms, total_ms / docker_ms, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "4 shutdown",
	    "Docker's teardown of 20 killed containers (parallel SIGKILL + remove, no grace; mean of 2)",
	    teardown_ms, "ms", NAN, NULL, NAN, NAN, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "4 shutdown",
	    "graceful shutdown against the engine's floor (one stop timeout + that teardown)",
	    total_ms, "ms", NAN, "stop timeout + teardown", floor_ms, total_ms / floor_ms, NULL,
	    BENCH_NA });
	bench_row(&(struct bench_row){ "4 shutdown",
	    "Docker alone against the engine's floor (one stop timeout + that teardown)", docker_ms,
	    "ms", NAN, "stop timeout + teardown", floor_ms, docker_ms / floor_ms, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "4 shutdown", "  of which berthd's cleanup (log cleanup_ms)",
	    (double)cleanup_ms, "ms", NAN, NULL, NAN, NAN, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "4 shutdown", "graceful shutdown against a sequential one",
	    total_ms, "ms", NAN, "sequential sum (20 x one)", seq_ms, total_ms / seq_ms, NULL,
	    BENCH_NA });
	if (floor_ms > 1.5 * STOP_TIMEOUT_S * 1000.0)
		bench_note("shutdown: the target (1.5 x the %d s stop timeout = %.0f ms) is below this "
			   "engine's floor of %.0f ms: after the timeout, Docker needs %.0f ms to tear "
			   "down 20 killed containers (mostly releasing their networks, one at a time)",
		    STOP_TIMEOUT_S, 1.5 * STOP_TIMEOUT_S * 1000.0, floor_ms, teardown_ms);
	if (left > 0)
		bench_note("shutdown left %zu containers behind (removed by the benchmark)", left);
	samples_free(&seq);
	samples_free(&teardown);
	return left > 0;
fail:
	bench_berthd_stop(&berthd, 120);
	leftovers();
	return 1;
}
