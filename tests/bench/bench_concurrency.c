/*
 * bench_concurrency.c - 16 clients launching at once against 16 launches
 * one after another, on the same berthd, alternating, 3 rounds. Each round's
 * services are removed (16 at once, not timed) before the next.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "base/log.h"

#define CLIENTS 16
#define ROUNDS 3

static struct bench_berthd berthd;
static berth_client *clients[CLIENTS];
static char ids[CLIENTS][160];
static pthread_barrier_t start;

struct job {
	int index;
	int rc;
	pthread_t thread;
};

static void *
launch_main(void *arg)
{
	struct job *j = arg;

	pthread_barrier_wait(&start);
	j->rc = bench_launch(clients[j->index], "bench", ids[j->index], sizeof(ids[0]), NULL);
	return NULL;
}

static void *
remove_main(void *arg)
{
	struct job *j = arg;

	j->rc = bench_remove(clients[j->index], ids[j->index]);
	return NULL;
}

/* Runs fn on CLIENTS threads released together; returns the seconds until all are done. */
static double
all_at_once(void *(*fn)(void *))
{
	struct job jobs[CLIENTS];
	int64_t t0;

	pthread_barrier_init(&start, NULL, CLIENTS + 1);
	for (int i = 0; i < CLIENTS; i++) {
		jobs[i] = (struct job){ i, 0, 0 };
		pthread_create(&jobs[i].thread, NULL, fn, &jobs[i]);
	}
	pthread_barrier_wait(&start);
	t0 = bench_now_ns();
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(jobs[i].thread, NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < CLIENTS; i++)
		if (jobs[i].rc != 0)
			exit(1);
	return (double)(bench_now_ns() - t0) / 1e9;
}

static void *
remove_released(void *arg)
{
	pthread_barrier_wait(&start);
	return remove_main(arg);
}

static double
concurrent(void)
{
	double s = all_at_once(launch_main);

	all_at_once(remove_released);
	return s;
}

static double
sequential(void)
{
	int64_t t0 = bench_now_ns();
	double s;

	for (int i = 0; i < CLIENTS; i++)
		if (bench_launch(clients[0], "bench", ids[i], sizeof(ids[0]), NULL) != 0)
			exit(1);
	s = (double)(bench_now_ns() - t0) / 1e9;
	all_at_once(remove_released);
	return s;
}

int
main(void)
{
	char dir[512];
	struct samples seq = { 0 }, conc = { 0 };

	log_threshold = LL_WARN;
	if (bench_make_dir("concurrency", dir, sizeof(dir)) != 0 || bench_demo_image() != 0)
		return 1;
	if (bench_berthd_start(&berthd, dir, NULL, 20) != 0)
		return 1;
	for (int i = 0; i < CLIENTS; i++)
		clients[i] = bench_client(&berthd);
	if (bench_put_template(clients[0], "bench", BENCH_PORT_CONCURRENT, NULL, 0, 2) != 0)
		return 1;
	bench_say("concurrency: %d launches at once against one after another, %d rounds", CLIENTS,
	    ROUNDS);
	for (int r = 0; r < ROUNDS; r++) {
		if (r % 2 == 0) {
			samples_add(&seq, CLIENTS / sequential());
			samples_add(&conc, CLIENTS / concurrent());
		} else {
			samples_add(&conc, CLIENTS / concurrent());
			samples_add(&seq, CLIENTS / sequential());
		}
	}
	double s = samples_quantile(&seq, 0.5), c = samples_quantile(&conc, 0.5);
	bench_row(&(struct bench_row){ "5 concurrency", "16 launches one after another", s,
	    "launches/s", NAN, NULL, NAN, NAN, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "5 concurrency", "16 clients launching at once", c, "launches/s",
	    NAN, "sequential", s, c / s, "ratio >= 1.5", c / s >= 1.5 ? BENCH_HOLDS : BENCH_MISS });
	for (int i = 0; i < CLIENTS; i++)
		berth_close(clients[i]);
	bench_berthd_stop(&berthd, 60);
	samples_free(&seq);
	samples_free(&conc);
	return 0;
}
