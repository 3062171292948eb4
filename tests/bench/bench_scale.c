/*
 * bench_scale.c - cost as the work grows.
 *
 * Registries of 100, 1,000 and 10,000 services (rows made through the
 * registry layer, registry_service_insert on a registry_open'ed database in
 * the benchmark's own data directory), with 10 and then 200 foreign
 * containers on the engine (the demo image, BENCH_LABEL'ed, each publishing
 * a port on 127.0.0.1). The rows hold the ports just below the foreign
 * ones and the template's range starts at the lowest row, so every
 * allocation passes over all rows and all foreign ports first.
 *
 * Measured for each size:
 *   - ports_allocate in this process, on a struct ports loaded from the
 *     registry and from Docker's listing (as berthd loads it);
 *   - the server-side share of a LaunchService spent choosing the port
 *     (berthd's "launched ... port_us=" log field) and its own work;
 *   - berthd's start-up reconciliation (rows without containers become
 *     "missing": every row is updated), from its log;
 *   - GetStats and ListServices of all, one client: polled (repeated
 *     while nothing changes, answered from berthd's answer cache) and right
 *     after a launch or a removal (computed afresh);
 *   - berthd's VmRSS idle after start-up, and after a ListServices of all;
 *     idle, also split into anonymous and file-backed pages (RssAnon,
 *     RssFile), with the mappings that hold the most (from smaps) in a note.
 * Then the growth factor from 100 to 10,000 for each.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "base/log.h"
#include "core/ports.h"
#include "store/registry.h"

#define N_SIZES 3
#define ALLOC_REPEATS 2000
#define STATS_CALLS 200
#define LIST_CALLS 15
#define LAUNCHES 4

static const int sizes[N_SIZES] = { 100, 1000, 10000 };
static const int foreign_counts[2] = { 10, 200 };

/* Figures of one (size, foreign) configuration. */
struct scale_result {
	double alloc_p50, alloc_p99;     /* us, in-process */
	double port_us_p50, port_us_p99; /* us, inside LaunchService */
	double own_ms_p50, own_ms_p99;   /* berthd's own work per launch */
	double reconcile_ms, startup_ms;
	double stats_p50, stats_p99;     /* ms */
	double fresh_p50, fresh_p99;     /* ms, GetStats right after a change */
	double list_p50, list_p99;       /* ms */
	double list_fresh_p50, list_fresh_p99; /* ms, ListServices right after a change */
	double rss_idle_mb, rss_list_mb;
	double rss_anon_mb, rss_file_mb; /* idle */
	char rss_mappings[1024];         /* idle, the largest mappings */
	uint16_t expected_port;
};

static int foreign_running;
static atomic_int foreign_next, foreign_failed;

static void *
foreign_worker(void *arg)
{
	int n = *(int *)arg, i;

	while ((i = atomic_fetch_add(&foreign_next, 1)) < n) {
		char id[DOCKER_ID_LEN + 1];

		if (bench_foreign_start(NULL, (uint16_t)(BENCH_PORT_FOREIGN + i), id) != 0)
			atomic_store(&foreign_failed, 1);
	}
	return NULL;
}

/* Brings the number of foreign containers up to n (ports from BENCH_PORT_FOREIGN). */
static int
foreign_up_to(int n)
{
	pthread_t threads[4];

	bench_say("scale: %d foreign containers", n);
	atomic_store(&foreign_next, foreign_running);
	for (int t = 0; t < 4; t++)
		pthread_create(&threads[t], NULL, foreign_worker, &n);
	for (int t = 0; t < 4; t++)
		pthread_join(threads[t], NULL);
	foreign_running = n;
	return atomic_load(&foreign_failed) ? -1 : 0;
}

static void
hold_port(void *arg, uint32_t port)
{
	ports_hold(arg, (uint16_t)port);
}

/* The database of one configuration: the template and `rows` services. */
static int
populate(const char *data_dir, int rows, uint16_t first_port, struct registry **out)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
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
	t.port_range_start = first_port;
	t.mount_path = "/data";
	t.stop_timeout_s = 2;
	if (registry_template_put(reg, &t, &created) != 0 || registry_begin(reg) != 0)
		goto fail;
	for (int i = 0; i < rows; i++) {
		Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
		char id[64], instance[32], dir[800];

		snprintf(instance, sizeof(instance), "instance_%d", i + 1);
		snprintf(id, sizeof(id), "bench_%s", instance);
		snprintf(dir, sizeof(dir), "%s/templates/bench/%s", data_dir, instance);
		s.service_id = id;
		s.template_ = "bench";
		s.container_name = id;
		s.container_id = "";
		s.port = (uint32_t)(first_port + i);
		s.instance = instance;
		s.instance_number = (uint32_t)(i + 1);
		s.project_dir = dir;
		s.status = "running";
		if (registry_service_insert(reg, &s) != 0)
			goto fail;
	}
	if (registry_commit(reg) != 0)
		goto fail;
	*out = reg;
	return 0;
fail:
	bench_say("registry: %s", registry_error(reg)->message);
	registry_close(reg);
	return -1;
}

/* ports_allocate on an allocator loaded as berthd loads it. */
static int
measure_allocation(struct registry *reg, uint16_t first_port, struct scale_result *r)
{
	struct ports *p = ports_new("127.0.0.1");
	struct docker_container *list = NULL;
	struct ports_holder *holders;
	struct error err = { 0 };
	struct samples s = { 0 };
	size_t n = 0;

	if (registry_service_ports(reg, hold_port, p) != 0 ||
	    docker_container_list(bench_docker(), NULL, &list, &n, 60000, &err) != 0) {
		bench_say("cannot load the allocator: %s", err.message);
		ports_free(p);
		return -1;
	}
	holders = calloc(n + 1, sizeof(*holders));
	for (size_t i = 0; i < n; i++)
		holders[i] = (struct ports_holder){ list[i].id, list[i].ports, list[i].n_ports };
	ports_docker_replace(p, holders, n);
	free(holders);
	free(list);
	for (int i = 0; i < ALLOC_REPEATS; i++) {
		struct port_allocation alloc;
		int64_t t0 = bench_now_ns();
		int rc = ports_allocate(p, first_port, 0, &alloc);
		double us = (double)(bench_now_ns() - t0) / 1000.0;

		if (rc != 0) {
			bench_say("ports_allocate found no port");
			ports_free(p);
			return -1;
		}
		if (i == 0 && alloc.port != r->expected_port)
			bench_note("port allocation chose %u, not %u (something else holds ports there)",
			    alloc.port, r->expected_port);
		ports_release(p, alloc.port);
		samples_add(&s, us);
	}
	r->alloc_p50 = samples_quantile(&s, 0.5);
	r->alloc_p99 = samples_quantile(&s, 0.99);
	samples_free(&s);
	ports_free(p);
	return 0;
}

/* The line "Key: N kB" of /proc/PID/status, in MB; NAN when missing. */
static double
status_mb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t keylen = strlen(key);
	double mb = NAN;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return NAN;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, keylen) == 0 && line[keylen] == ':') {
			mb = strtod(line + keylen + 1, NULL) / 1024.0;
			break;
		}
	fclose(f);
	return mb;
}

#define TOP_MAPPINGS 12

/*
 * berthd's resident pages by mapping, from /proc/PID/smaps: the Rss of
 * every mapping of one file added up under its base name (a library's
 * written pages -- relocations, .data -- count with it), anonymous ones as
 * [heap], [stack] or [anon] (thread stacks, malloc's thread arenas). Writes
 * the TOP_MAPPINGS largest, "name kB, ...", then the rest's sum, to `text`.
 */
static void
rss_by_mapping(pid_t pid, char *text, size_t size)
{
	struct {
		char name[64];
		long kib;
	} m[128], t;
	char path[64], line[512], name[64] = "[anon]";
	int n = 0;
	long rest = 0;
	size_t off = 0;
	FILE *f;

	text[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char perms[8], file[512] = "";
		unsigned long start, end;
		long kib;
		int i;

		/* A mapping's first line: "start-end perms offset dev inode [path]". */
		if (sscanf(line, "%lx-%lx %7s %*x %*s %*u %511s", &start, &end, perms, file) >= 3) {
			const char *base = strrchr(file, '/');

			snprintf(name, sizeof(name), "%s",
			    file[0] == '\0' ? "[anon]" : base != NULL ? base + 1 : file);
			continue;
		}
		if (sscanf(line, "Rss: %ld kB", &kib) != 1 || kib == 0)
			continue;
		for (i = 0; i < n && strcmp(m[i].name, name) != 0; i++)
			;
		if (i == n) {
			if (n == (int)(sizeof(m) / sizeof(m[0]))) {
				rest += kib;
				continue;
			}
			snprintf(m[n].name, sizeof(m[n].name), "%s", name);
			m[n++].kib = 0;
		}
		m[i].kib += kib;
	}
	fclose(f);
	for (int i = 1; i < n; i++) /* largest first */
		for (int j = i; j > 0 && m[j].kib > m[j - 1].kib; j--) {
			t = m[j];
			m[j] = m[j - 1];
			m[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		if (i >= TOP_MAPPINGS) {
			rest += m[i].kib;
			continue;
		}
		off += (size_t)snprintf(text + off, off < size ? size - off : 0, "%s%s %ld", i ? ", " : "",
		    m[i].name, m[i].kib);
	}
	if (off < size)
		snprintf(text + off, size - off, ", %d others %ld", n > TOP_MAPPINGS ? n - TOP_MAPPINGS : 0,
		    rest);
}

static double
timed_call(berth_client *c, const char *method, const ProtobufCMessage *req)
{
	ProtobufCMessage *reply = NULL;
	berth_status st;
	int64_t t0 = bench_now_ns();
	double ms;

	if (berth_call(c, method, req, &reply, &st) != 0) {
		bench_say("%s: %s", method, st.message);
		exit(1);
	}
	ms = (double)(bench_now_ns() - t0) / 1e6;
	berth_reply_free(reply);
	return ms;
}

/* The "launched" lines of berthd's log: port_us and own_us of each launch. */
static void
launch_shares(const char *log_path, struct scale_result *r)
{
	char line[4096];
	struct samples port = { 0 }, own = { 0 };
	FILE *f = fopen(log_path, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *a = strstr(line, " port_us="), *b = strstr(line, " own_us=");

		if (strstr(line, "level=info launched ") == NULL || a == NULL || b == NULL)
			continue;
		samples_add(&port, strtod(a + 9, NULL));
		samples_add(&own, strtod(b + 8, NULL) / 1000.0);
	}
	fclose(f);
	r->port_us_p50 = samples_quantile(&port, 0.5);
	r->port_us_p99 = samples_quantile(&port, 0.99);
	r->own_ms_p50 = samples_quantile(&own, 0.5);
	r->own_ms_p99 = samples_quantile(&own, 0.99);
	samples_free(&port);
	samples_free(&own);
}

static int
measure_berthd(const char *dir, struct scale_result *r)
{
	Berth__V1__GetStatsRequest stats = BERTH__V1__GET_STATS_REQUEST__INIT;
	Berth__V1__ListServicesRequest list = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	const char *extra[] = { "--on-exit", "keep", NULL };
	struct samples s_stats = { 0 }, s_list = { 0 }, s_fresh = { 0 }, s_list_fresh = { 0 };
	struct bench_berthd b;
	berth_client *c;
	long long reconcile_ms;

	if (bench_berthd_start(&b, dir, extra, 120) != 0)
		return -1;
	r->startup_ms = (double)(b.ready_ns - b.started_ns) / 1e6;
	r->reconcile_ms = bench_log_value(b.log_path, "reconciled rows=", "duration_ms",
	    &reconcile_ms) == 0 ? (double)reconcile_ms : NAN;
	c = bench_client(&b);
	bench_sleep_ms(1500); /* the event follower's first reconciliation settles */
	r->rss_idle_mb = (double)bench_rss_kib(b.pid) / 1024.0;
	r->rss_anon_mb = status_mb(b.pid, "RssAnon");
	r->rss_file_mb = status_mb(b.pid, "RssFile");
	rss_by_mapping(b.pid, r->rss_mappings, sizeof(r->rss_mappings));

	for (int i = 0; i < STATS_CALLS; i++)
		samples_add(&s_stats, timed_call(c, "GetStats", &stats.base));
	for (int i = 0; i < LIST_CALLS; i++)
		samples_add(&s_list, timed_call(c, "ListServices", &list.base));
	r->rss_list_mb = (double)bench_rss_kib(b.pid) / 1024.0;
	r->stats_p50 = samples_quantile(&s_stats, 0.5);
	r->stats_p99 = samples_quantile(&s_stats, 0.99);
	r->list_p50 = samples_quantile(&s_list, 0.5);
	r->list_p99 = samples_quantile(&s_list, 0.99);

	for (int i = 0; i < LAUNCHES; i++) {
		char id[160];
		uint32_t port = 0;

		if (bench_launch(c, "bench", id, sizeof(id), &port) != 0)
			return -1;
		if (port != r->expected_port)
			bench_note("LaunchService chose %u, not %u", port, r->expected_port);
		/* The registry just changed: these compute their answers afresh. */
		samples_add(&s_fresh, timed_call(c, "GetStats", &stats.base));
		samples_add(&s_list_fresh, timed_call(c, "ListServices", &list.base));
		bench_remove(c, id);
		samples_add(&s_fresh, timed_call(c, "GetStats", &stats.base));
		samples_add(&s_list_fresh, timed_call(c, "ListServices", &list.base));
	}
	r->fresh_p50 = samples_quantile(&s_fresh, 0.5);
	r->fresh_p99 = samples_quantile(&s_fresh, 0.99);
	r->list_fresh_p50 = samples_quantile(&s_list_fresh, 0.5);
	r->list_fresh_p99 = samples_quantile(&s_list_fresh, 0.99);
	launch_shares(b.log_path, r);
	berth_close(c);
	bench_berthd_stop(&b, 60);
	samples_free(&s_stats);
	samples_free(&s_list);
	samples_free(&s_fresh);
	samples_free(&s_list_fresh);
	return 0;
}

static int
run_config(int rows, int foreign, struct scale_result *r)
{
	char name[64], dir[512], data_dir[600];
	uint16_t first_port = (uint16_t)(BENCH_PORT_FOREIGN - rows);
	struct registry *reg;

	memset(r, 0, sizeof(*r));
	r->expected_port = (uint16_t)(BENCH_PORT_FOREIGN + foreign);
	snprintf(name, sizeof(name), "scale-%d-%d", rows, foreign);
	if (bench_make_dir(name, dir, sizeof(dir)) != 0)
		return -1;
	snprintf(name, sizeof(name), "scale-%d-%d/data", rows, foreign);
	if (bench_make_dir(name, data_dir, sizeof(data_dir)) != 0)
		return -1;
	bench_say("scale: %d rows, %d foreign containers", rows, foreign);
	if (populate(data_dir, rows, first_port, &reg) != 0)
		return -1;
	if (measure_allocation(reg, first_port, r) != 0) {
		registry_close(reg);
		return -1;
	}
	registry_close(reg);
	return measure_berthd(dir, r);
}

static void
row(const char *figure, int rows, int foreign, double v, double p99, const char *unit,
    const char *target, enum bench_verdict verdict)
{
	char text[160];

	snprintf(text, sizeof(text), "%s, %d rows, %d foreign", figure, rows, foreign);
	bench_row(&(struct bench_row){ "3 scale", text, v, unit, p99, NULL, NAN, NAN, target,
	    verdict });
}

static void
growth(const char *figure, int foreign, double small, double large, double limit)
{
	char text[160], target[32];
	double g = large / small;

	snprintf(text, sizeof(text), "growth 100 -> 10000 rows: %s, %d foreign", figure, foreign);
	snprintf(target, sizeof(target), "<= %.1fx (flat)", limit);
	bench_row(&(struct bench_row){ "3 scale", text, g, "x", NAN, "at 100 rows", small, g,
	    isnan(limit) ? NULL : target,
	    isnan(limit) ? BENCH_NA : g <= limit ? BENCH_HOLDS : BENCH_MISS });
}

static enum bench_verdict
at_most(double v, double limit)
{
	return v <= limit ? BENCH_HOLDS : BENCH_MISS;
}

int
main(void)
{
	struct scale_result res[2][N_SIZES];
	double rss_floor;
	char text[160];

	/*
	 * The floor of berthd's RSS: this process before it does anything. It
	 * links what berthd links (libcurl, OpenSSL, SQLite, nng and their
	 * dependencies; libarchive is loaded only for a build), and loading
	 * them is most of an idle berthd.
	 */
	rss_floor = (double)bench_rss_kib(getpid()) / 1024.0;
	log_threshold = LL_WARN;
	if (bench_demo_image() != 0)
		return 1;
	for (int f = 0; f < 2; f++) {
		if (foreign_up_to(foreign_counts[f]) != 0)
			goto fail;
		for (int i = 0; i < N_SIZES; i++)
			if (run_config(sizes[i], foreign_counts[f], &res[f][i]) != 0)
				goto fail;
	}
	bench_remove_labelled();

	for (int f = 0; f < 2; f++) {
		int fc = foreign_counts[f];

		for (int i = 0; i < N_SIZES; i++) {
			struct scale_result *r = &res[f][i];
			bool big = sizes[i] == 10000;

			row("ports_allocate p50 (in-process)", sizes[i], fc, r->alloc_p50, r->alloc_p99, "us",
			    big ? "<= 50 us" : NULL, big ? at_most(r->alloc_p50, 50) : BENCH_NA);
			row("port choice inside LaunchService", sizes[i], fc, r->port_us_p50, r->port_us_p99,
			    "us", NULL, BENCH_NA);
		}
		growth("ports_allocate p50", fc, res[f][0].alloc_p50, res[f][N_SIZES - 1].alloc_p50, 1.5);
	}
	/* The rest hardly depends on the foreign containers: shown with 200. */
	bench_row(&(struct bench_row){ "3 scale",
	    "RSS floor: a process with berthd's libraries loaded, nothing else",
	    rss_floor, "MB", NAN, NULL, NAN, NAN, NULL, BENCH_NA });
	for (int i = 0; i < N_SIZES; i++) {
		struct scale_result *r = &res[1][i];
		bool big = sizes[i] == 10000, small = sizes[i] == 100;

		row("berthd's own work per LaunchService", sizes[i], 200, r->own_ms_p50, r->own_ms_p99,
		    "ms", "< 10 ms", at_most(r->own_ms_p50, 10));
		row("GetStats p50", sizes[i], 200, r->stats_p50, r->stats_p99, "ms",
		    big ? "<= 1 ms" : NULL, big ? at_most(r->stats_p50, 1) : BENCH_NA);
		row("GetStats right after a change (computed afresh)", sizes[i], 200, r->fresh_p50,
		    r->fresh_p99, "ms", NULL, BENCH_NA);
		row("ListServices (all) p50", sizes[i], 200, r->list_p50, r->list_p99, "ms",
		    big ? "<= 25 ms" : NULL, big ? at_most(r->list_p50, 25) : BENCH_NA);
		row("ListServices (all) right after a change (computed afresh)", sizes[i], 200,
		    r->list_fresh_p50, r->list_fresh_p99, "ms", NULL, BENCH_NA);
		snprintf(text, sizeof(text), "berthd RSS idle, %d rows, 200 foreign", sizes[i]);
		bench_row(&(struct bench_row){ "3 scale", text, r->rss_idle_mb, "MB", NAN, "RSS floor",
		    rss_floor, r->rss_idle_mb / rss_floor, small ? "<= 10 MB" : NULL,
		    small ? at_most(r->rss_idle_mb, 10) : BENCH_NA });
		if (small) {
			row("berthd RSS idle: anonymous (heap, stacks, libraries' written pages)",
			    sizes[i], 200, r->rss_anon_mb, NAN, "MB", NULL, BENCH_NA);
			row("berthd RSS idle: file-backed (code and read-only data of berthd, libraries)",
			    sizes[i], 200, r->rss_file_mb, NAN, "MB", NULL, BENCH_NA);
			bench_note("berthd idle RSS by mapping, %d rows, 200 foreign, kB: %s", sizes[i],
			    r->rss_mappings);
		}
		row("berthd RSS after ListServices", sizes[i], 200, r->rss_list_mb, NAN, "MB",
		    big ? "<= 40 MB" : NULL, big ? at_most(r->rss_list_mb, 40) : BENCH_NA);
		row("start-up reconciliation (rows -> missing)", sizes[i], 200, r->reconcile_ms, NAN,
		    "ms", NULL, BENCH_NA);
		row("start-up until Health answers", sizes[i], 200, r->startup_ms, NAN, "ms", NULL,
		    BENCH_NA);
	}
	growth("berthd's own work per launch", 200, res[1][0].own_ms_p50, res[1][2].own_ms_p50, NAN);
	growth("GetStats p50", 200, res[1][0].stats_p50, res[1][2].stats_p50, NAN);
	growth("ListServices p50", 200, res[1][0].list_p50, res[1][2].list_p50, NAN);
	growth("RSS after ListServices", 200, res[1][0].rss_list_mb, res[1][2].rss_list_mb, NAN);
	growth("start-up reconciliation", 200, res[1][0].reconcile_ms, res[1][2].reconcile_ms, NAN);
	return 0;
fail:
	bench_remove_labelled();
	return 1;
}
