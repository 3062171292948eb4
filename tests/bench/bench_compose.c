/*
 * bench_compose.c - `berth scale demo 20` from 0 against `docker-compose up
 * -d --scale web=20`, and `berth scale demo 0` against `docker-compose
 * down`: the same image (BENCH_IMAGE), each publishing its port 8000 on a
 * host port range of its own. Both through their CLIs, as a user types
 * them; alternating which goes first, ROUNDS rounds, medians compared.
 *
 * docker-compose is Debian's (run.sh installs it when missing); without
 * it the comparison rows are left out with a note, berth's times stay.
 * The compose project's containers carry BENCH_LABEL, and `down` (or
 * run.sh's cleanup after a failure) removes them.
 *
 * The floor beside both: the same 20 containers made straight through the
 * Engine API (create + start, SCALE_PARALLEL at a time, as berthd does)
 * and removed the same way. What neither tool can go below.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "base/log.h"
#include "core/scale.h"

#define INSTANCES 20
#define ROUNDS 3
#define PORT_BERTH 64000   /* berth's template: 64000 and up */
#define PORT_BARE 64100    /* the floor's containers: 64100-64119 */
#define PORT_COMPOSE 64200 /* compose's range: 64200-64299 */
#define PROJECT "berthbench"

static struct bench_berthd berthd;
static char berth_bin[600], compose_file[600];
static const char *compose_bin;

/* Seconds one command takes; exits the benchmark when it fails. */
static double
timed(const char *what, const char *const *argv)
{
	int64_t t0 = bench_now_ns();
	int rc = bench_run(argv);

	if (rc != 0) {
		fprintf(stderr, "bench_compose: %s failed (exit %d)\n", what, rc);
		exit(1);
	}
	return (double)(bench_now_ns() - t0) / 1e9;
}

static double
berth_scale(const char *n)
{
	const char *argv[] = { berth_bin, "--url", berthd.url, "--timeout", "300", "scale", "demo",
		n, NULL };

	return timed(n[0] == '0' ? "berth scale demo 0" : "berth scale demo 20", argv);
}

static double
compose_up(void)
{
	const char *argv[] = { compose_bin, "-f", compose_file, "-p", PROJECT, "up", "-d",
		"--scale", "web=20", NULL };

	return timed("docker-compose up -d --scale web=20", argv);
}

static double
compose_down(void)
{
	const char *argv[] = { compose_bin, "-f", compose_file, "-p", PROJECT, "down", NULL };

	return timed("docker-compose down", argv);
}

/* The floor: INSTANCES containers made or removed by SCALE_PARALLEL threads. */
static struct {
	char ids[INSTANCES][DOCKER_ID_LEN + 1];
	atomic_int next;
	atomic_int failed;
	bool removing;
} bare;

static void *
bare_worker(void *arg)
{
	int i;

	(void)arg;
	while ((i = atomic_fetch_add(&bare.next, 1)) < INSTANCES) {
		if (bare.removing)
			bench_remove_container(bare.ids[i]);
		else if (bench_foreign_start(NULL, (uint16_t)(PORT_BARE + i), bare.ids[i]) != 0)
			atomic_fetch_add(&bare.failed, 1);
	}
	return NULL;
}

/* Seconds the bare Engine API takes to make (or remove) the INSTANCES containers. */
static double
bare_round(bool removing)
{
	pthread_t threads[SCALE_PARALLEL];
	int n = 0;
	int64_t t0 = bench_now_ns();

	atomic_store(&bare.next, 0);
	bare.removing = removing;
	for (int t = 0; t < SCALE_PARALLEL && t < INSTANCES; t++)
		if (pthread_create(&threads[n], NULL, bare_worker, NULL) == 0)
			n++;
	for (int t = 0; t < n; t++)
		pthread_join(threads[t], NULL);
	if (n == 0 || atomic_load(&bare.failed) != 0) {
		fprintf(stderr, "bench_compose: the bare Engine API round failed\n");
		exit(1);
	}
	return (double)(bench_now_ns() - t0) / 1e9;
}

/* docker-compose on $PATH (run.sh installs Debian's); NULL when there is none. */
static const char *
find_compose(void)
{
	const char *argv[] = { "docker-compose", "version", "--short", NULL };
	static char version[64];

	if (bench_run_capture(argv, version, sizeof(version)) != 0)
		return NULL;
	bench_note("docker-compose %s", version);
	return "docker-compose";
}

static int
write_compose_file(const char *dir)
{
	FILE *f;

	snprintf(compose_file, sizeof(compose_file), "%s/docker-compose.yml", dir);
	if ((f = fopen(compose_file, "w")) == NULL)
		return -1;
	/* Docker picks a free host port of the range for each container. */
	fprintf(f,
	    "version: \"2.4\"\n"
	    "services:\n"
	    "  web:\n"
	    "    image: %s\n"
	    "    ports:\n"
	    "      - \"127.0.0.1:%d-%d:%d\"\n"
	    "    labels:\n"
	    "      %s: %s\n",
	    BENCH_IMAGE, PORT_COMPOSE, PORT_COMPOSE + 99, BENCH_DEMO_PORT, BENCH_LABEL_KEY,
	    BENCH_LABEL_VALUE);
	return fclose(f);
}

static void
row(const char *figure, double value, const char *floor, double floor_value, double target)
{
	char target_text[32];
	double ratio = floor != NULL ? value / floor_value : NAN;

	snprintf(target_text, sizeof(target_text), "ratio <= %.1f", target);
	bench_row(&(struct bench_row){ "8 scale", figure, value, "s", NAN, floor, floor_value, ratio,
	    isnan(target) ? NULL : target_text,
	    isnan(target) ? BENCH_NA : ratio <= target ? BENCH_HOLDS : BENCH_MISS });
}

int
main(void)
{
	struct samples up = { 0 }, down = { 0 }, c_up = { 0 }, c_down = { 0 }, b_up = { 0 },
		       b_down = { 0 };
	char dir[512];
	berth_client *c;

	log_threshold = LL_WARN;
	if (bench_make_dir("compose", dir, sizeof(dir)) != 0 || bench_demo_image() != 0 ||
	    write_compose_file(dir) != 0)
		return 1;
	snprintf(berth_bin, sizeof(berth_bin), "%s/berth", bench_build_dir());
	compose_bin = find_compose();
	if (compose_bin == NULL)
		bench_note("docker-compose is missing and could not be installed: the berth scale "
			   "rows have no comparison");
	if (bench_berthd_start(&berthd, dir, NULL, 20) != 0)
		return 1;
	c = bench_client(&berthd);
	if (bench_put_template(c, "demo", PORT_BERTH, NULL, 0, 10) != 0)
		return 1;
	bench_say("compose: berth scale demo %d and 0 against docker-compose up --scale and down, "
		  "%d rounds",
	    INSTANCES, ROUNDS);
	for (int r = 0; r < ROUNDS; r++) {
		/* Each round in another order: berth, compose, bare; compose, bare, berth; ... */
		for (int k = 0; k < 3; k++) {
			int side = (r + k) % 3;

			if (side == 0) {
				samples_add(&up, berth_scale("20"));
				samples_add(&down, berth_scale("0"));
			} else if (side == 1 && compose_bin != NULL) {
				samples_add(&c_up, compose_up());
				samples_add(&c_down, compose_down());
			} else if (side == 2) {
				samples_add(&b_up, bare_round(false));
				samples_add(&b_down, bare_round(true));
			}
		}
	}
	if (compose_bin != NULL) {
		row("berth scale demo 20 from 0", samples_quantile(&up, 0.5),
		    "docker-compose up -d --scale web=20", samples_quantile(&c_up, 0.5), 0.5);
		row("berth scale demo 0 from 20", samples_quantile(&down, 0.5), "docker-compose down",
		    samples_quantile(&c_down, 0.5), 0.7);
		row("docker-compose up -d --scale web=20", samples_quantile(&c_up, 0.5),
		    "Engine API create+start x20 (16 at once)", samples_quantile(&b_up, 0.5), NAN);
		row("docker-compose down", samples_quantile(&c_down, 0.5),
		    "Engine API remove x20 (16 at once)", samples_quantile(&b_down, 0.5), NAN);
	}
	row("berth scale demo 20 from 0", samples_quantile(&up, 0.5),
	    "Engine API create+start x20 (16 at once)", samples_quantile(&b_up, 0.5), 1.1);
	row("berth scale demo 0 from 20", samples_quantile(&down, 0.5),
	    "Engine API remove x20 (16 at once)", samples_quantile(&b_down, 0.5), 1.1);
	berth_close(c);
	bench_berthd_stop(&berthd, 60);
	samples_free(&up);
	samples_free(&down);
	samples_free(&c_up);
	samples_free(&c_down);
	samples_free(&b_up);
	samples_free(&b_down);
	return 0;
}
