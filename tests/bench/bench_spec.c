/*
 * bench_spec.c - `plan` of a spec whose 200 instances all exist: the
 * answer is "no changes", and it must come within 50 ms.
 *
 * PlanSpec reads the registry only (templates, services, secrets) and
 * never Docker, so the 200 instances are 200 rows made through the
 * registry layer before berthd starts (as bench_scale.c makes its rows),
 * at the template's current revision: no container is launched, nothing
 * is left to clean up but the benchmark's directory. berthd runs with
 * --on-exit keep and the template's restart policy is "no", so nobody
 * tries to start the rows' (missing) containers.
 *
 * Measured: the PlanSpec round trip from libberth (p50, p99 of
 * PLAN_CALLS), and `berth plan -f FILE` as a user runs it (the CLI's
 * start, the YAML, the call, the output), p50 of CLI_RUNS.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "store/registry.h"

#define INSTANCES 200
#define PLAN_CALLS 200
#define CLI_RUNS 20
#define FIRST_PORT 30000
#define TARGET_MS 50.0

static void
spec_template(Berth__V1__Template *t)
{
	berth__v1__template__init(t);
	t->name = "specbench";
	t->image = BENCH_IMAGE;
	t->container_port = BENCH_DEMO_PORT;
	t->port_range_start = FIRST_PORT;
	t->port_range_end = FIRST_PORT + INSTANCES + 99;
	t->mount_path = "/data";
	t->stop_timeout_s = 2;
	t->restart = "no";
	t->max_restarts = 5; /* the stored defaults (templates.h) */
	t->restart_window_s = 600;
}

/* The template and its INSTANCES rows at its current revision. */
static int
populate(const char *data_dir)
{
	Berth__V1__Template t;
	struct template_put_result result;
	struct registry *reg;
	struct arena a;
	struct error err = { 0 };
	char path[700];

	snprintf(path, sizeof(path), "%s/registry.db", data_dir);
	if (registry_open(&reg, path, true, &err) != 0) {
		bench_say("registry: %s", err.message);
		return -1;
	}
	arena_init(&a);
	spec_template(&t);
	memset(&result, 0, sizeof(result));
	if (registry_template_write(reg, &a, &t, &result) != 0 || registry_begin(reg) != 0)
		goto fail;
	for (int i = 0; i < INSTANCES; i++) {
		Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
		char id[64], instance[32], dir[800];

		snprintf(instance, sizeof(instance), "instance_%d", i + 1);
		snprintf(id, sizeof(id), "specbench_%s", instance);
		snprintf(dir, sizeof(dir), "%s/templates/specbench/%s", data_dir, instance);
		s.service_id = id;
		s.template_ = "specbench";
		s.container_name = id;
		s.container_id = "";
		s.port = (uint32_t)(FIRST_PORT + i);
		s.instance = instance;
		s.instance_number = (uint32_t)(i + 1);
		s.project_dir = dir;
		s.status = "running";
		s.revision = result.revision;
		if (registry_service_insert(reg, &s) != 0)
			goto fail;
	}
	if (registry_commit(reg) != 0)
		goto fail;
	arena_reset(&a);
	registry_close(reg);
	return 0;
fail:
	bench_say("registry: %s", registry_error(reg)->message);
	arena_reset(&a);
	registry_close(reg);
	return -1;
}

/* The same spec as YAML, for the CLI. */
static int
write_yaml(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f,
	    "templates:\n"
	    "  specbench:\n"
	    "    image: %s\n"
	    "    container_port: %d\n"
	    "    port_range_start: %d\n"
	    "    port_range_end: %d\n"
	    "    mount_path: /data\n"
	    "    stop_timeout_s: 2\n"
	    "    restart: \"no\"\n"
	    "    instances: %d\n",
	    BENCH_IMAGE, BENCH_DEMO_PORT, FIRST_PORT, FIRST_PORT + INSTANCES + 99, INSTANCES);
	return fclose(f);
}

int
main(void)
{
	const char *extra[] = { "--on-exit", "keep", NULL };
	Berth__V1__PlanSpecRequest req = BERTH__V1__PLAN_SPEC_REQUEST__INIT;
	Berth__V1__SpecTemplate st = BERTH__V1__SPEC_TEMPLATE__INIT;
	Berth__V1__SpecTemplate *sts[] = { &st };
	Berth__V1__Spec spec = BERTH__V1__SPEC__INIT;
	Berth__V1__Template t;
	struct samples lat = { 0 }, cli = { 0 };
	struct bench_berthd b;
	char dir[512], data_dir[600], yaml[700], out[4096], berth[600];
	ProtobufCMessage *reply = NULL;
	berth_status s;
	berth_client *c;
	int rc = 0;

	if (bench_make_dir("spec", dir, sizeof(dir)) != 0 ||
	    bench_make_dir("spec/data", data_dir, sizeof(data_dir)) != 0 || populate(data_dir) != 0)
		return 1;
	if (bench_berthd_start(&b, dir, extra, 120) != 0)
		return 1;
	c = bench_client(&b);
	spec_template(&t);
	st.template_ = &t;
	st.instances = INSTANCES;
	spec.templates = sts;
	spec.n_templates = 1;
	req.spec = &spec;
	bench_say("spec: PlanSpec of %d instances, %d calls", INSTANCES, PLAN_CALLS);
	if (berth_call(c, "PlanSpec", &req.base, &reply, &s) != 0) {
		bench_say("PlanSpec: %s", s.message);
		rc = 1;
		goto out;
	}
	if (((Berth__V1__PlanSpecResponse *)reply)->n_changes != 0) {
		Berth__V1__PlanChange *first = ((Berth__V1__PlanSpecResponse *)reply)->changes[0];

		bench_note("spec_plan_not_empty=%s %s %s", first->action, first->template_,
		    first->detail);
		rc = 1;
	}
	berth_reply_free(reply);
	for (int i = 0; i < PLAN_CALLS && rc == 0; i++) {
		int64_t t0 = bench_now_ns();

		if (berth_call(c, "PlanSpec", &req.base, &reply, &s) != 0) {
			bench_say("PlanSpec: %s", s.message);
			rc = 1;
		}
		samples_add(&lat, (double)(bench_now_ns() - t0) / 1e6);
		berth_reply_free(reply);
	}
	snprintf(yaml, sizeof(yaml), "%s/berth.yaml", dir);
	snprintf(berth, sizeof(berth), "%s/berth", bench_build_dir());
	if (rc == 0 && write_yaml(yaml) == 0) {
		const char *argv[] = { berth, "--url", b.url, "plan", "-f", yaml, NULL };

		for (int i = 0; i < CLI_RUNS; i++) {
			int64_t t0 = bench_now_ns();

			if (bench_run_capture(argv, out, sizeof(out)) != 0 ||
			    strstr(out, "No changes.") == NULL) {
				bench_say("berth plan: %s", out);
				rc = 1;
				break;
			}
			samples_add(&cli, (double)(bench_now_ns() - t0) / 1e6);
		}
	}
	if (rc == 0) {
		double p50 = samples_quantile(&lat, 0.5), p99 = samples_quantile(&lat, 0.99);
		double cli_p50 = samples_quantile(&cli, 0.5);

		bench_row(&(struct bench_row){ "6 spec", "PlanSpec, 200 instances, no changes", p50,
		    "ms", p99, "target", TARGET_MS, p99 / TARGET_MS, "p99 <= 50 ms",
		    p99 <= TARGET_MS ? BENCH_HOLDS : BENCH_MISS });
		bench_row(&(struct bench_row){ "6 spec", "berth plan -f (CLI, YAML), 200 instances",
		    cli_p50, "ms", samples_quantile(&cli, 0.99), "target", TARGET_MS,
		    cli_p50 / TARGET_MS, "p50 <= 50 ms", cli_p50 <= TARGET_MS ? BENCH_HOLDS : BENCH_MISS });
	}
out:
	samples_free(&lat);
	samples_free(&cli);
	berth_close(c);
	bench_berthd_stop(&b, 30);
	return rc;
}
