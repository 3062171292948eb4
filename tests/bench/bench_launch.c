/*
 * bench_launch.c - what a launch through berth costs over Docker itself.
 *
 * 1. LaunchService against the bare Engine API sequence the same launch
 *    needs: create + start with the same configuration (image, five labels,
 *    the identity environment, one port binding, one bind mount, stop
 *    timeout), issued here through server/docker.c. Alternating, 20 rounds,
 *    each container removed before the next round (not timed). berthd's
 *    own share of each launch comes from its log ("launched ... own_us=").
 * 2. The CLI end to end: `berth launch` (a process: connect, call, print)
 *    against `docker run -d -p ...` with the same configuration.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "base/log.h"

#define ROUNDS 20

static struct bench_berthd berthd;
static berth_client *client;
static char bare_dir[600];

/* One launch through berthd, timed at the client; removed afterwards. */
static double
berth_once(void)
{
	char id[160];
	int64_t t0 = bench_now_ns();
	double ms;

	if (bench_launch(client, "bench", id, sizeof(id), NULL) != 0)
		exit(1);
	ms = (double)(bench_now_ns() - t0) / 1e6;
	bench_remove(client, id);
	return ms;
}

/* The same container made directly: create + start, timed; removed afterwards. */
static double
bare_once(int round)
{
	char name[64], service_env[96], instance_env[64], port_env[32], project[700], id[DOCKER_ID_LEN + 1];
	const char *env[3] = { service_env, instance_env, port_env };
	uint16_t port = (uint16_t)(BENCH_PORT_BARE + round % 50);
	const struct docker_label labels[] = {
		{ BENCH_LABEL_KEY, BENCH_LABEL_VALUE },
		{ "bench.service", name },
		{ "bench.template", "bench" },
		{ "bench.instance", "instance_1" },
		{ "bench.data_dir", bare_dir },
	};
	struct docker_container_spec spec = {
		.name = name, .image = BENCH_IMAGE, .env = env, .n_env = 3, .labels = labels,
		.n_labels = 5, .container_port = BENCH_DEMO_PORT, .host_ip = "127.0.0.1",
		.host_port = port, .bind_source = project, .bind_target = "/data", .stop_timeout_s = 2,
	};
	struct error err = { 0 };
	int64_t t0;
	double ms;

	snprintf(name, sizeof(name), "bench_bare_%d", round);
	snprintf(service_env, sizeof(service_env), "BERTH_SERVICE=%s", name);
	snprintf(instance_env, sizeof(instance_env), "BERTH_INSTANCE=instance_1");
	snprintf(port_env, sizeof(port_env), "BERTH_PORT=%u", port);
	snprintf(project, sizeof(project), "%s/%s", bare_dir, name);
	mkdir(project, 0750);
	t0 = bench_now_ns();
	if (docker_container_create(bench_docker(), &spec, id, 60000, &err) != 0 ||
	    docker_container_start(bench_docker(), id, 60000, &err) != 0) {
		bench_say("bare launch: %s", err.message);
		exit(1);
	}
	ms = (double)(bench_now_ns() - t0) / 1e6;
	bench_remove_container(id);
	return ms;
}

/* `berth launch bench`, a process end to end; the service removed afterwards. */
static double
berth_cli_once(void)
{
	char berth[PATH_MAX], id[256];
	const char *argv[] = { berth, "--url", berthd.url, "launch", "bench", NULL };
	const char *ids[] = { berth, "--url", berthd.url, "ls", "-q", NULL };
	int64_t t0;
	double ms;
	int rc;

	snprintf(berth, sizeof(berth), "%s/berth", bench_build_dir());
	t0 = bench_now_ns();
	/* Exit 4 is ABORTED here (see bench_launch): retry, as a script would. */
	for (int attempt = 0; (rc = bench_run(argv)) == 4 && attempt < 20; attempt++)
		bench_sleep_ms(10);
	ms = (double)(bench_now_ns() - t0) / 1e6;
	if (rc != 0) {
		bench_say("berth launch exited with %d", rc);
		exit(1);
	}
	if (bench_run_capture(ids, id, sizeof(id)) == 0 && id[0] != '\0')
		bench_remove(client, id);
	return ms;
}

/* `docker run -d -p` with the configuration of a berth launch. */
static double
docker_cli_once(int round)
{
	char name[64], publish[64], service_env[96], port_env[32], volume[800], project[700];
	char label_service[96], label_dir[700], id[128];
	uint16_t port = (uint16_t)(BENCH_PORT_BARE + 50 + round % 50);
	const char *argv[] = { "docker", "run", "-d", "--name", name, "-p", publish, "--label",
		BENCH_LABEL_KEY "=" BENCH_LABEL_VALUE, "--label", label_service, "--label",
		"bench.template=bench", "--label", "bench.instance=instance_1", "--label", label_dir,
		"-e", service_env, "-e", "BERTH_INSTANCE=instance_1", "-e", port_env, "-v", volume,
		"--stop-timeout", "2", BENCH_IMAGE, NULL };
	int64_t t0;
	double ms;
	int rc;

	snprintf(name, sizeof(name), "bench_cli_%d", round);
	snprintf(publish, sizeof(publish), "127.0.0.1:%u:%d", port, BENCH_DEMO_PORT);
	snprintf(service_env, sizeof(service_env), "BERTH_SERVICE=%s", name);
	snprintf(port_env, sizeof(port_env), "BERTH_PORT=%u", port);
	snprintf(label_service, sizeof(label_service), "bench.service=%s", name);
	snprintf(label_dir, sizeof(label_dir), "bench.data_dir=%s", bare_dir);
	snprintf(project, sizeof(project), "%s/%s", bare_dir, name);
	snprintf(volume, sizeof(volume), "%s:/data", project);
	mkdir(project, 0750);
	t0 = bench_now_ns();
	rc = bench_run_capture(argv, id, sizeof(id));
	ms = (double)(bench_now_ns() - t0) / 1e6;
	if (rc != 0) {
		bench_say("docker run exited with %d", rc);
		exit(1);
	}
	bench_remove_container(id);
	return ms;
}

static void
report(const char *figure, struct samples *ours, const char *floor_name, struct samples *floor,
    double limit)
{
	double v = samples_quantile(ours, 0.5), f = samples_quantile(floor, 0.5);
	double ratio = v / f;
	char target[32];

	snprintf(target, sizeof(target), "ratio <= %.2f", limit);
	bench_row(&(struct bench_row){ "2 launch", floor_name, f, "ms", samples_quantile(floor, 0.99),
	    NULL, NAN, NAN, NULL, BENCH_NA });
	bench_row(&(struct bench_row){ "2 launch", figure, v, "ms", samples_quantile(ours, 0.99),
	    floor_name, f, ratio, target, ratio <= limit ? BENCH_HOLDS : BENCH_MISS });
}

/* berthd's own share of each launch, from its "launched" log lines. */
static void
own_share(void)
{
	char line[4096];
	struct samples own = { 0 }, port = { 0 };
	FILE *f = fopen(berthd.log_path, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *a = strstr(line, " own_us="), *b = strstr(line, " port_us=");

		if (strstr(line, "level=info launched ") == NULL || a == NULL)
			continue;
		samples_add(&own, strtod(a + 8, NULL) / 1000.0);
		if (b != NULL)
			samples_add(&port, strtod(b + 9, NULL));
	}
	fclose(f);
	if (own.n == 0) {
		bench_note("berthd logs no own_us on its launch lines: its own share is not measured");
		return;
	}
	double p50 = samples_quantile(&own, 0.5);
	bench_row(&(struct bench_row){ "2 launch", "berthd's own work per launch (all but Docker)", p50,
	    "ms", samples_quantile(&own, 0.99), NULL, NAN, NAN, "< 10 ms",
	    p50 < 10 ? BENCH_HOLDS : BENCH_MISS });
	if (port.n > 0)
		bench_row(&(struct bench_row){ "2 launch", "port choice inside a launch (server side)",
		    samples_quantile(&port, 0.5), "us", samples_quantile(&port, 0.99), NULL, NAN, NAN,
		    NULL, BENCH_NA });
	samples_free(&own);
	samples_free(&port);
}

int
main(void)
{
	char dir[512];
	struct samples api_berth = { 0 }, api_bare = { 0 }, cli_berth = { 0 }, cli_docker = { 0 };
	const char *probe[] = { "docker", "version", NULL };
	bool docker_cli;

	log_threshold = LL_WARN;
	if (bench_make_dir("launch", dir, sizeof(dir)) != 0 ||
	    bench_make_dir("launch/bare", bare_dir, sizeof(bare_dir)) != 0 || bench_demo_image() != 0)
		return 1;
	if (bench_berthd_start(&berthd, dir, NULL, 20) != 0)
		return 1;
	client = bench_client(&berthd);
	if (bench_put_template(client, "bench", BENCH_PORT_LAUNCH, NULL, 0, 2) != 0)
		return 1;
	/* Warm-up, not counted: the first of each kind pays for caches. */
	berth_once();
	bare_once(ROUNDS);

	bench_say("launch: LaunchService against create+start, %d rounds", ROUNDS);
	for (int r = 0; r < ROUNDS; r++) {
		if (r % 2 == 0) {
			samples_add(&api_berth, berth_once());
			samples_add(&api_bare, bare_once(r));
		} else {
			samples_add(&api_bare, bare_once(r));
			samples_add(&api_berth, berth_once());
		}
	}
	report("LaunchService (end to end, libberth)", &api_berth, "Docker create+start (bare API)",
	    &api_bare, 1.05);
	own_share();

	docker_cli = bench_run(probe) == 0;
	if (docker_cli) {
		bench_say("launch: berth launch against docker run, %d rounds", ROUNDS);
		berth_cli_once();
		docker_cli_once(ROUNDS);
		for (int r = 0; r < ROUNDS; r++) {
			if (r % 2 == 0) {
				samples_add(&cli_berth, berth_cli_once());
				samples_add(&cli_docker, docker_cli_once(r));
			} else {
				samples_add(&cli_docker, docker_cli_once(r));
				samples_add(&cli_berth, berth_cli_once());
			}
		}
		report("`berth launch` (CLI process)", &cli_berth, "`docker run -d -p` (CLI process)",
		    &cli_docker, 0.95);
	} else {
		bench_note("no docker CLI: `berth launch` against `docker run` left out");
	}

	berth_close(client);
	bench_berthd_stop(&berthd, 60);
	bench_remove_labelled();
	samples_free(&api_berth);
	samples_free(&api_bare);
	samples_free(&cli_berth);
	samples_free(&cli_docker);
	return 0;
}
