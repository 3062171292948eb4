/*
 * test_chaos.c - berth under load, faults and hostile input, with figures.
 *
 * berth promises that nothing is lost: every container it started is in its
 * registry, every row tells the truth about its container, no port is held
 * twice. This suite tries hard to break that promise against a real berthd,
 * the real Docker engine and the demo image (built by berthd from
 * $BUILD/demo), and counts what it did:
 *
 *   1. load: 16 clients with their own connections issue a mix of launch,
 *      ls, info, stop, restart, rm and stats for a bounded time; every
 *      answer's code must be one the operation may give under contention; a
 *      checker thread compares ListServices with Docker's container list all
 *      along; berthd's RSS is sampled from /proc; in full mode a shorter
 *      load runs with berthd under valgrind (0 bytes definitely lost);
 *   2. faults: SIGKILL at random points of launch, stop, restart and remove
 *      loops, then a restart: every answered call kept its word and the
 *      registry and Docker agree exactly; Docker going away under load
 *      (berthd talks to it through tests/support/docker_proxy.c, the real
 *      dockerd is never touched); the data directory's disk full (a 2 MiB
 *      tmpfs); containers that exit at once or ignore SIGTERM; a host port
 *      taken between the allocation and the container's start;
 *   3. hostile input: a table of malformed and malicious requests on a raw
 *      nng req0 socket, mutated requests, and misbehaving connections; after
 *      each, Health from separate clients must answer.
 *
 * The group teardown prints a summary table (operations, errors by code,
 * faults injected, invariants checked, violations, peak RSS).
 *
 * Environment:
 *   BERTH_CHAOS_LEVEL   quick (default: about a minute, part of `make test`)
 *                       or full (`make chaos`: longer load, 30 kill rounds,
 *                       4000 mutated requests, berthd under valgrind)
 *   BERTH_CHAOS_SEED    repeat the random choices of an earlier run
 *   BERTH_CHAOS_REPORT  also write the summary there, as Markdown
 *   BERTH_CHAOS_ONLY    run only the tests matching this pattern ('*outage*')
 * Each berthd's log is kept in $BUILD/chaos-logs/.
 *
 * Every berthd of the suite gets a data directory under
 * /tmp/berth-chaos-<pid>/, so every container it makes carries that path in
 * its berth.data_dir label; the group teardown force-removes all of them
 * (and anything labelled berth.test=chaos), also after a failure, and the
 * group setup removes what a crashed earlier run left behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "berth.h"
#include "berthd_proc.h"
#include "clock.h"
#include "sp_raw.h"
#include "engine/docker.h"
#include "docker_proxy.h"

#define DEMO_IMAGE "berth-demo:e2e"
#define CHAOS_ROOT_PREFIX "/tmp/berth-chaos-"
#define TEST_LABEL "berth.test=chaos"
#define CALL_TIMEOUT_MS 60000
#define SLICE_PORTS 25
#define MAX_IDS 64
#define ID_LEN 128

/* --- how hard: quick (make test) or full (make chaos) ------------------------ */

struct level {
	const char *name;
	int load_clients;
	int load_seconds;
	int kill_rounds;
	int kill_max_delay_ms;
	int outage_load_seconds;
	int outages;
	int outage_ms;
	int mutations;
	int flood_ms;         /* how long Health is watched beside a client that never reads */
	int valgrind_seconds; /* 0: no valgrind run */
};

static const struct level levels[] = {
	{ "quick", 16, 8, 3, 900, 6, 1, 2000, 300, 7000, 0 },
	{ "full", 16, 150, 30, 2500, 30, 2, 5000, 4000, 12000, 40 },
};
static const struct level *lv;
static unsigned seed;

/* --- the report -------------------------------------------------------------- */

enum op {
	OP_LAUNCH,
	OP_LIST,
	OP_GET,
	OP_STOP,
	OP_RESTART,
	OP_REMOVE,
	OP_STATS,
	OP_HEALTH,
	OP_TEMPLATE,
	OP_OTHER,
	OP_RAW,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = { "LaunchService", "ListServices", "GetService",
	"StopService", "RestartService", "RemoveService", "GetStats", "Health",
	"Put/DeleteTemplate", "other RPCs", "raw (hostile)" };

#define CODE_COUNT 17
#define CODE_DROPPED CODE_COUNT /* raw requests: no answer, the connection was dropped */

enum fault {
	F_SIGKILL,
	F_OUTAGE,
	F_DISK_FULL,
	F_EXIT_AT_ONCE,
	F_IGNORE_SIGTERM,
	F_PORT_STOLEN,
	F_HOSTILE,
	F_MUTATED,
	F_CONNECTION,
	F_COUNT
};

static const char *const fault_names[F_COUNT] = { "berthd killed (SIGKILL)",
	"Docker outages (proxy down)", "disk full (2 MiB tmpfs)", "containers exiting at once",
	"containers ignoring SIGTERM", "host ports taken before start", "hostile requests (table)",
	"mutated requests", "misbehaving connections" };

#define MAX_LISTED 16

static struct {
	atomic_uint calls[OP_COUNT][CODE_COUNT + 1];
	atomic_uint faults[F_COUNT];
	atomic_ulong invariants;
	atomic_uint violations;
	pthread_mutex_t lock; /* guards everything below */
	char listed[MAX_LISTED][320];
	unsigned n_listed;
	long peak_rss_kb;
	long load_rss_first_kb, load_rss_second_kb;
	int load_rss_samples;
	long outage_ms;
	long recovery_ms_max;
	long flood_health_ms;
	long ipc_recovery_ms;
	bool valgrind_ran;
	long valgrind_lost, valgrind_errors;
	char notes[8][200];
	unsigned n_notes;
	int64_t started_ms;
} report = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* An invariant held: counted for the report. */
static void
checked(unsigned long n)
{
	atomic_fetch_add(&report.invariants, n);
}

/* An invariant broke: counted, printed, the first few kept for the report. Any thread. */
static void __attribute__((format(printf, 1, 2)))
violation(const char *fmt, ...)
{
	char text[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	atomic_fetch_add(&report.violations, 1);
	checked(1);
	printf("# VIOLATION: %s\n", text);
	fflush(stdout);
	pthread_mutex_lock(&report.lock);
	if (report.n_listed < MAX_LISTED)
		snprintf(report.listed[report.n_listed++], sizeof(report.listed[0]), "%s", text);
	pthread_mutex_unlock(&report.lock);
}

static void __attribute__((format(printf, 1, 2)))
note(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&report.lock);
	if (report.n_notes < sizeof(report.notes) / sizeof(report.notes[0])) {
		va_start(ap, fmt);
		vsnprintf(report.notes[report.n_notes++], sizeof(report.notes[0]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&report.lock);
}

static void
fault(enum fault f, unsigned n)
{
	atomic_fetch_add(&report.faults[f], n);
}

static void
count_call(enum op op, int code)
{
	if (code < 0 || code > CODE_COUNT)
		code = BERTH__V1__CODE__UNKNOWN;
	atomic_fetch_add(&report.calls[op][code], 1);
}

/* Fails the running test when it found violations; the message names the first. */
static void
expect_no_violations_since(unsigned before)
{
	unsigned now = atomic_load(&report.violations);

	if (now != before)
		fail_msg("%u violation(s); the first of the run: %s", now - before,
		    report.n_listed > 0 ? report.listed[0] : "(none listed)");
}

static void
note_rss(long kb)
{
	pthread_mutex_lock(&report.lock);
	if (kb > report.peak_rss_kb)
		report.peak_rss_kb = kb;
	pthread_mutex_unlock(&report.lock);
}

/* --- per-thread randomness ------------------------------------------------------- */

static unsigned
rnd(unsigned *state)
{
	/* xorshift32: small, good enough, and its state is the caller's. */
	unsigned x = *state != 0 ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static int
rnd_between(unsigned *state, int lo, int hi)
{
	return lo + (int)(rnd(state) % (unsigned)(hi - lo + 1));
}

/* --- the suite's directory, containers, ports ----------------------------------- */

static struct docker *docker;
static char chaos_root[64];
static char demo_context[PATH_MAX];
static uint16_t port_base;
static char tpl_prefix[24]; /* "ch<pid>": template names, so container names never collide */
static char log_dir[PATH_MAX]; /* $BUILD/chaos-logs: each berthd's log, kept */

/* Slice `slot` of the suite's 200 ports: 10000-11999, away from every other suite. */
static uint16_t
slice(int slot)
{
	return (uint16_t)(port_base + slot * SLICE_PORTS);
}

static bool
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Removes every container labelled berth.managed whose data directory lies
 * under `root_prefix` (with only_dead_runs, only those of chaos runs whose
 * process is gone), and every container labelled berth.test=chaos.
 */
static unsigned
remove_suite_containers(const char *root_prefix, bool only_dead_runs)
{
	const char *labels[2] = { DOCKER_LABEL_MANAGED "=true", TEST_LABEL };
	struct error err = { 0 };
	unsigned removed = 0;

	for (int l = 0; l < 2; l++) {
		struct docker_container *list = NULL;
		size_t n = 0;

		if (docker_container_list(docker, labels[l], &list, &n, 30000, &err) != 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (l == 1 && only_dead_runs)
				break; /* another run's may be alive: no pid to tell */
			if (l == 0 && !has_prefix(list[i].label_data_dir, root_prefix))
				continue;
			if (l == 0 && only_dead_runs) {
				long pid = strtol(list[i].label_data_dir + strlen(CHAOS_ROOT_PREFIX), NULL,
				    10);
				if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
					continue;
			}
			if (docker_container_remove(docker, list[i].id, true, 30000, &err) == 0)
				removed++;
		}
		free(list);
	}
	return removed;
}

/* Removes every container carrying `label` ("key=value"). */
static void
remove_labelled(const char *label)
{
	struct docker_container *list = NULL;
	struct error err = { 0 };
	size_t n = 0;

	if (docker_container_list(docker, label, &list, &n, 30000, &err) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		docker_container_remove(docker, list[i].id, true, 30000, &err);
	free(list);
}

static void
run_quiet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
run_quiet(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fprintf(stderr, "# (ignored) failed: %s\n", cmd);
}

/* --- berthd --------------------------------------------------------------------- */

/* One berthd of the suite and its own client. */
struct daemon {
	struct berthd_proc proc;
	berth_client *client;
	char data_dir[PATH_MAX];     /* absolute, under chaos_root */
	char label[PATH_MAX + 32];   /* "berth.data_dir=<data_dir>" */
	const char *args[24];        /* --data-dir DIR, then the test's own, for restarts */
};

static struct daemon dmn;             /* the running test's berthd */
static struct docker_proxy proxy = { .listen_fd = -1 };
static char mounted[PATH_MAX];       /* a tmpfs of the disk-full test, to unmount */

static int
daemon_connect(struct daemon *d)
{
	berth_status st;

	berth_close(d->client);
	d->client = NULL;
	if (berth_open(&d->client, d->proc.url, &(berth_options){ NULL, CALL_TIMEOUT_MS }, &st) != 0) {
		fprintf(stderr, "berth_open %s: %s\n", d->proc.url, st.message);
		return -1;
	}
	return 0;
}

/*
 * Starts berthd on <chaos_root>/<name> (or on data_dir when not NULL) with
 * the NULL-terminated extra arguments, under `wrapper` when not NULL.
 */
static int
daemon_start_in(struct daemon *d, const char *name, const char *data_dir,
    const char *const *extra, const char *const *wrapper, int wait_ms)
{
	int n = 0;

	berth_close(d->client);
	memset(d, 0, sizeof(*d));
	if (data_dir != NULL)
		snprintf(d->data_dir, sizeof(d->data_dir), "%s", data_dir);
	else
		snprintf(d->data_dir, sizeof(d->data_dir), "%s/%s", chaos_root, name);
	snprintf(d->label, sizeof(d->label), "%s=%s", DOCKER_LABEL_DATA_DIR, d->data_dir);
	d->args[n++] = "--data-dir";
	d->args[n++] = d->data_dir;
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 22; i++)
		d->args[n++] = extra[i];
	d->args[n] = NULL;
	if (berthd_proc_start_wrapped(&d->proc, wrapper, wait_ms, d->args) != 0)
		return -1;
	return daemon_connect(d);
}

static int
daemon_start(struct daemon *d, const char *name, const char *const *extra)
{
	return daemon_start_in(d, name, NULL, extra, NULL, 10000);
}

static int
daemon_restart(struct daemon *d)
{
	if (berthd_proc_restart(&d->proc, d->args) != 0)
		return -1;
	return daemon_connect(d);
}

static void
daemon_kill(struct daemon *d)
{
	berthd_proc_kill(&d->proc);
	fault(F_SIGKILL, 1);
}

/* Kills berthd (no shutdown work), removes its containers and its directories. */
static void
daemon_destroy(struct daemon *d)
{
	berth_close(d->client);
	d->client = NULL;
	berthd_proc_kill(&d->proc);
	if (d->label[0] != '\0')
		remove_labelled(d->label);
	/* berthd's log outlives it, for whoever reads a failure. */
	if (d->proc.dir[0] != '\0' && log_dir[0] != '\0')
		run_quiet("cp '%s' '%s/%s.log' 2>/dev/null", d->proc.log_path, log_dir,
		    strrchr(d->data_dir, '/') + 1);
	berthd_proc_cleanup(&d->proc);
	memset(d, 0, sizeof(*d));
}

static long
proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (has_prefix(line, key))
			kb = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return kb;
}

/* --- RPCs, counted ------------------------------------------------------------------ */

static int
rpc(berth_client *c, enum op op, const char *method, const ProtobufCMessage *req,
    ProtobufCMessage **reply, berth_status *st)
{
	berth_status local;
	int rc;

	if (st == NULL)
		st = &local;
	*reply = NULL;
	rc = berth_call(c, method, req, reply, st);
	count_call(op, rc);
	return rc;
}

static int
put_template(struct daemon *d, const char *name, uint16_t first, uint16_t count,
    uint32_t stop_timeout_s, char **env, size_t n_env, berth_status *st)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status local;
	int rc;

	t.name = (char *)name;
	t.description = "berth's demo HTTP service, for the chaos suite";
	t.image = DEMO_IMAGE;
	t.build_context = demo_context;
	t.container_port = 8000;
	t.port_range_start = first;
	t.port_range_end = (uint32_t)(first + count - 1);
	t.mount_path = "/data";
	t.env = env;
	t.n_env = n_env;
	t.stop_timeout_s = stop_timeout_s;
	put.template_ = &t;
	rc = rpc(d->client, OP_TEMPLATE, "PutTemplate", &put.base, &reply, st != NULL ? st : &local);
	berth_reply_free(reply);
	return rc;
}

/* The demo template `name` with `count` ports from `first`; fails the test when refused. */
static void
demo_template(struct daemon *d, const char *name, uint16_t first, uint16_t count,
    uint32_t stop_timeout_s, char **env, size_t n_env)
{
	berth_status st;

	if (put_template(d, name, first, count, stop_timeout_s, env, n_env, &st) != 0)
		fail_msg("PutTemplate %s: %s: %s", name, berth_code_name(st.code), st.message);
}

static void
tpl_name(char *out, size_t len, const char *what)
{
	snprintf(out, len, "%s%s", tpl_prefix, what);
}

/* LaunchService; on success copies id and port out. */
static int
do_launch(berth_client *c, const char *tpl, char *id, uint32_t *port, berth_status *st)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *r = NULL;
	int rc;

	req.template_ = (char *)tpl;
	req.instance = "";
	rc = rpc(c, OP_LAUNCH, "LaunchService", &req.base, (ProtobufCMessage **)&r, st);
	if (rc == 0) {
		if (id != NULL)
			snprintf(id, ID_LEN, "%s", r->service->service_id);
		if (port != NULL)
			*port = r->service->port;
	}
	berth_reply_free((ProtobufCMessage *)r);
	return rc;
}

static int
do_by_id(berth_client *c, enum op op, const char *id, uint32_t arg, berth_status *st)
{
	ProtobufCMessage *reply = NULL;
	int rc;

	switch (op) {
	case OP_STOP: {
		Berth__V1__StopServiceRequest req = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
		req.service_id = (char *)id;
		req.timeout_s = arg;
		rc = rpc(c, op, "StopService", &req.base, &reply, st);
		break;
	}
	case OP_RESTART: {
		Berth__V1__RestartServiceRequest req = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
		req.service_id = (char *)id;
		rc = rpc(c, op, "RestartService", &req.base, &reply, st);
		break;
	}
	case OP_REMOVE: {
		Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
		req.service_id = (char *)id;
		req.purge = true;
		rc = rpc(c, op, "RemoveService", &req.base, &reply, st);
		break;
	}
	case OP_GET: {
		Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
		req.service_id = (char *)id;
		req.registry_only = arg != 0;
		rc = rpc(c, op, "GetService", &req.base, &reply, st);
		break;
	}
	default:
		return -1;
	}
	berth_reply_free(reply);
	return rc;
}

static Berth__V1__ListServicesResponse *
do_list(berth_client *c, berth_status *st)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	if (rpc(c, OP_LIST, "ListServices", &req.base, &reply, st) != 0)
		return NULL;
	return (Berth__V1__ListServicesResponse *)reply;
}

static int
do_stats(berth_client *c, berth_status *st)
{
	Berth__V1__GetStatsRequest req = BERTH__V1__GET_STATS_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	int rc = rpc(c, OP_STATS, "GetStats", &req.base, &reply, st);

	berth_reply_free(reply);
	return rc;
}

static Berth__V1__HealthResponse *
do_health(berth_client *c, berth_status *st)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	if (rpc(c, OP_HEALTH, "Health", &req.base, &reply, st) != 0)
		return NULL;
	return (Berth__V1__HealthResponse *)reply;
}

static const Berth__V1__Service *
find_row(const Berth__V1__ListServicesResponse *r, const char *id)
{
	for (size_t i = 0; r != NULL && i < r->n_services; i++)
		if (strcmp(r->services[i]->service_id, id) == 0)
			return r->services[i];
	return NULL;
}

/* Removes every service through berthd (best effort, for clean slates). */
static void
remove_all_services(struct daemon *d)
{
	Berth__V1__ListServicesResponse *list = do_list(d->client, NULL);

	for (size_t i = 0; list != NULL && i < list->n_services; i++)
		do_by_id(d->client, OP_REMOVE, list->services[i]->service_id, 0, NULL);
	berth_reply_free((ProtobufCMessage *)list);
}

/* --- the invariants ----------------------------------------------------------------- */

static bool
state_running(const char *state)
{
	return strcmp(state, "running") == 0 || strcmp(state, "restarting") == 0 ||
	    strcmp(state, "paused") == 0;
}

static bool
publishes(const struct docker_container *c, uint32_t port)
{
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i] == port)
			return true;
	return false;
}

/* The container of a row: by id, else (a row without one yet) by name. */
static const struct docker_container *
container_of_row(const Berth__V1__Service *row, const struct docker_container *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (row->container_id[0] != '\0' && strcmp(list[i].id, row->container_id) == 0)
			return &list[i];
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, row->container_name) == 0)
			return &list[i];
	return NULL;
}

/*
 * One strict comparison of the registry (ListServices) with Docker's
 * containers labelled with d's data directory, for a quiet moment (no call
 * in flight): no row half-launched or half-removed; ids, ports and
 * container ids unique among rows; every row's status tells the truth
 * (running <-> running, stopped/exited/dead <-> exists and not running,
 * missing <-> no container); a running container publishes its row's
 * port; every labelled container has a row. Writes the first problem into
 * `why`; returns the number of problems (-1: cannot look).
 */
static int
agreement_pass(struct daemon *d, char *why, size_t len, unsigned long *checks)
{
	Berth__V1__ListServicesResponse *rows;
	struct docker_container *list = NULL;
	struct error err = { 0 };
	bool *claimed;
	size_t n = 0;
	berth_status st;
	int problems = 0;

#define PROBLEM(...)                                      \
	do {                                              \
		if (problems++ == 0)                      \
			snprintf(why, len, __VA_ARGS__);  \
	} while (0)

	why[0] = '\0';
	if (docker_container_list(docker, d->label, &list, &n, 30000, &err) != 0) {
		snprintf(why, len, "cannot list containers: %.200s", err.message);
		return -1;
	}
	if ((rows = do_list(d->client, &st)) == NULL) {
		free(list);
		snprintf(why, len, "ListServices: %s: %.200s", berth_code_name(st.code), st.message);
		return -1;
	}
	claimed = calloc(n + 1, sizeof(*claimed));
	for (size_t i = 0; i < rows->n_services; i++) {
		const Berth__V1__Service *r = rows->services[i];
		const struct docker_container *c = container_of_row(r, list, n);
		bool running = c != NULL && state_running(c->state);

		*checks += 6;
		if (strcmp(r->status, "creating") == 0 || strcmp(r->status, "removing") == 0)
			PROBLEM("row %s is still %s", r->service_id, r->status);
		for (size_t j = 0; j < i; j++) {
			const Berth__V1__Service *o = rows->services[j];

			if (o->port == r->port)
				PROBLEM("port %u held by %s and %s", r->port, o->service_id, r->service_id);
			if (r->container_id[0] != '\0' && strcmp(o->container_id, r->container_id) == 0)
				PROBLEM("container %.12s in rows %s and %s", r->container_id, o->service_id,
				    r->service_id);
		}
		if (c != NULL)
			claimed[c - list] = true;
		if (strcmp(r->status, "missing") == 0) {
			if (c != NULL)
				PROBLEM("row %s says missing, its container %.12s is %s", r->service_id,
				    c->id, c->state);
		} else if (c == NULL) {
			PROBLEM("row %s says %s, it has no container", r->service_id, r->status);
		} else if (strcmp(r->status, "running") == 0) {
			if (!running)
				PROBLEM("row %s says running, its container is %s", r->service_id,
				    c->state);
			else if (!publishes(c, r->port))
				PROBLEM("row %s holds port %u, its container publishes %u", r->service_id,
				    r->port, c->n_ports > 0 ? c->ports[0] : 0);
		} else if (running) {
			PROBLEM("row %s says %s, its container runs", r->service_id, r->status);
		}
	}
	for (size_t k = 0; k < n; k++) {
		*checks += 2;
		if (!claimed[k])
			PROBLEM("container %s (%.12s, %s) has no row", list[k].name, list[k].id,
			    list[k].state);
		for (size_t j = 0; j < k; j++)
			for (size_t p = 0; p < list[k].n_ports; p++)
				if (state_running(list[k].state) && state_running(list[j].state) &&
				    publishes(&list[j], list[k].ports[p]))
					PROBLEM("containers %s and %s both publish %u", list[j].name,
					    list[k].name, list[k].ports[p]);
	}
#undef PROBLEM
	free(claimed);
	free(list);
	berth_reply_free(&rows->base);
	return problems;
}

/* PRAGMA integrity_check on the registry, read-only beside berthd (WAL allows it). */
static void
check_integrity(struct daemon *d, const char *when)
{
	char path[PATH_MAX + 16], result[256] = "";
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/registry.db", d->data_dir);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(db, 5000);
	if (rc == SQLITE_OK &&
	    (rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL)) == SQLITE_OK &&
	    (rc = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(result, sizeof(result), "%s", (const char *)sqlite3_column_text(st, 0));
	else
		snprintf(result, sizeof(result), "cannot check: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (strcmp(result, "ok") != 0)
		violation("%s: integrity_check of %s: %s", when, path, result);
	else
		checked(1);
}

/*
 * The registry and Docker agree exactly, allowing `settle_ms` for what is
 * still arriving (Docker's events, a reconnecting follower); then the
 * registry's integrity. Disagreement that outlasts settle_ms is a violation.
 */
static void
check_agreement(struct daemon *d, const char *when, int settle_ms)
{
	int64_t until = clock_monotonic_ms() + settle_ms;
	unsigned long checks = 0;
	char why[320];
	int problems;

	for (;;) {
		checks = 0;
		problems = agreement_pass(d, why, sizeof(why), &checks);
		if (problems == 0 || clock_monotonic_ms() >= until)
			break;
		clock_sleep_ms(250);
	}
	if (problems != 0)
		violation("%s: registry and Docker disagree (%d problem%s): %s", when, problems,
		    problems == 1 ? "" : "s", why);
	else
		checked(checks);
	check_integrity(d, when);
}

/* --- load: clients, a checker, an RSS sampler ------------------------------------------ */

#define MAX_CLIENTS 32
#define MAX_RSS_SAMPLES 4096

struct load {
	struct daemon *d;
	const char *phase;            /* in messages: "load", "outage" */
	bool not_peak;                /* berthd runs under valgrind: its RSS is not berthd's */
	const char *tpl;
	int clients;
	atomic_bool stop;
	/* Docker outages: odd while down; a call that saw it change may answer UNAVAILABLE. */
	atomic_uint outage_gen;
	atomic_uint ops;
	int64_t started_ms;
	long rss_kb[MAX_RSS_SAMPLES];
	int64_t rss_at[MAX_RSS_SAMPLES];
	int n_rss;
	unsigned long snapshot_checks;
};

struct load_client {
	struct load *l;
	berth_client *c;
	unsigned seed;
	char ids[MAX_IDS][ID_LEN]; /* services seen in the last ListServices, plus our launches */
	int n_ids;
};

/*
 * The codes an operation may answer under contention from 15 other clients:
 * another client removed the service (NOT_FOUND), it is busy with another
 * operation (ABORTED), the template's range is full (RESOURCE_EXHAUSTED);
 * and, while Docker is away, UNAVAILABLE from anything that must ask it.
 */
static bool
expected_under_load(enum op op, int code, bool docker_away)
{
	if (code == BERTH__V1__CODE__OK)
		return true;
	if (docker_away && code == BERTH__V1__CODE__UNAVAILABLE &&
	    (op == OP_LAUNCH || op == OP_STOP || op == OP_RESTART || op == OP_REMOVE))
		return true;
	switch (op) {
	case OP_LAUNCH:
		/* ABORTED: another call held the id the launch chose (a stop of a removed one). */
		return code == BERTH__V1__CODE__RESOURCE_EXHAUSTED || code == BERTH__V1__CODE__ABORTED;
	case OP_GET:
		return code == BERTH__V1__CODE__NOT_FOUND;
	case OP_STOP:
	case OP_RESTART:
	case OP_REMOVE:
		return code == BERTH__V1__CODE__NOT_FOUND || code == BERTH__V1__CODE__ABORTED;
	default:
		return false;
	}
}

static void
forget_id(struct load_client *lc, int i)
{
	lc->n_ids--;
	if (i != lc->n_ids)
		memcpy(lc->ids[i], lc->ids[lc->n_ids], ID_LEN);
}

static void
remember_id(struct load_client *lc, const char *id)
{
	for (int i = 0; i < lc->n_ids; i++)
		if (strcmp(lc->ids[i], id) == 0)
			return;
	if (lc->n_ids < MAX_IDS)
		snprintf(lc->ids[lc->n_ids++], ID_LEN, "%s", id);
}

/* One client: a realistic mix, forever until told to stop. */
static void *
load_client_main(void *arg)
{
	struct load_client *lc = arg;
	struct load *l = lc->l;

	while (!atomic_load(&l->stop)) {
		unsigned gen_before = atomic_load(&l->outage_gen), gen_after;
		int r = rnd_between(&lc->seed, 0, 99), pick = -1, rc;
		const char *target = "";
		enum op op;
		berth_status st = { 0 };

		if (lc->n_ids > 0) {
			pick = rnd_between(&lc->seed, 0, lc->n_ids - 1);
			target = lc->ids[pick];
		}
		if (lc->n_ids == 0 || r < 16) {
			char id[ID_LEN];

			op = OP_LAUNCH;
			if ((rc = do_launch(lc->c, l->tpl, id, NULL, &st)) == 0)
				remember_id(lc, id);
		} else if (r < 32) {
			Berth__V1__ListServicesResponse *list;

			op = OP_LIST;
			if ((list = do_list(lc->c, &st)) != NULL) {
				lc->n_ids = 0;
				for (size_t i = 0; i < list->n_services; i++)
					remember_id(lc, list->services[i]->service_id);
				berth_reply_free(&list->base);
			}
			rc = st.code;
		} else if (r < 46) {
			op = OP_GET;
			rc = do_by_id(lc->c, op, target, (uint32_t)(r & 1), &st);
		} else if (r < 58) {
			op = OP_STOP;
			rc = do_by_id(lc->c, op, target, 2, &st);
		} else if (r < 70) {
			op = OP_RESTART;
			rc = do_by_id(lc->c, op, target, 0, &st);
		} else if (r < 86) {
			op = OP_REMOVE;
			if ((rc = do_by_id(lc->c, op, target, 0, &st)) == 0 ||
			    rc == BERTH__V1__CODE__NOT_FOUND)
				forget_id(lc, pick);
		} else {
			op = OP_STATS;
			rc = do_stats(lc->c, &st);
		}
		atomic_fetch_add(&l->ops, 1);
		gen_after = atomic_load(&l->outage_gen);
		if (!expected_under_load(op, rc, (gen_before & 1) != 0 || gen_after != gen_before))
			violation("%s: %s %s answered %s: %s", l->phase, op_names[op], target,
			    berth_code_name(rc), st.message);
		else
			checked(1);
		/* As a client would: no busy loop while Docker is away or the range is full. */
		if (rc == BERTH__V1__CODE__UNAVAILABLE || rc == BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			clock_sleep_ms(100);
	}
	return NULL;
}

static bool
same_container_running(const struct docker_container *a, const struct docker_container *b)
{
	if (strcmp(a->id, b->id) != 0 || !state_running(a->state) || !state_running(b->state) ||
	    a->n_ports != b->n_ports)
		return false;
	return a->n_ports == 0 || memcmp(a->ports, b->ports, sizeof(a->ports[0]) * a->n_ports) == 0;
}

/*
 * Invariants that hold at every moment, even with calls in flight: Docker
 * listed before and after ListServices, so a container running in both
 * listings ran the whole time the rows were read. Then: rows hold distinct
 * ports and ids; running containers publish distinct ports; a container
 * running throughout has its row (rows go only after their container),
 * that row holds the port it publishes, and no other row holds that port.
 */
static void
snapshot_check(struct load *l)
{
	struct docker_container *before = NULL, *after = NULL;
	struct error err = { 0 };
	Berth__V1__ListServicesResponse *rows;
	size_t n_before = 0, n_after = 0;
	unsigned long checks = 0;
	berth_status st;

	if (docker_container_list(docker, l->d->label, &before, &n_before, 10000, &err) != 0)
		return;
	rows = do_list(l->d->client, &st);
	if (rows == NULL || docker_container_list(docker, l->d->label, &after, &n_after, 10000,
				&err) != 0) {
		if (rows == NULL && st.code != BERTH__V1__CODE__OK)
			violation("%s: checker's ListServices answered %s: %s", l->phase,
			    berth_code_name(st.code), st.message);
		goto out;
	}
	for (size_t i = 0; i < rows->n_services; i++) {
		for (size_t j = 0; j < i; j++) {
			checks += 2;
			if (rows->services[i]->port == rows->services[j]->port)
				violation("%s: port %u held by rows %s and %s", l->phase,
				    rows->services[i]->port, rows->services[i]->service_id,
				    rows->services[j]->service_id);
			if (strcmp(rows->services[i]->service_id, rows->services[j]->service_id) == 0)
				violation("%s: two rows named %s", l->phase, rows->services[i]->service_id);
		}
	}
	for (size_t k = 0; k < n_after; k++) {
		const struct docker_container *c = &after[k];
		const Berth__V1__Service *own = NULL;
		bool throughout = false;

		for (size_t j = 0; j < k; j++)
			for (size_t p = 0; p < c->n_ports; p++) {
				checks++;
				if (state_running(c->state) && state_running(after[j].state) &&
				    publishes(&after[j], c->ports[p]))
					violation("%s: containers %s and %s both publish %u", l->phase,
					    after[j].name, c->name, c->ports[p]);
			}
		for (size_t b = 0; b < n_before && !throughout; b++)
			throughout = same_container_running(&before[b], c);
		if (!throughout)
			continue;
		own = find_row(rows, c->label_service);
		checks++;
		if (own == NULL) {
			violation("%s: container %s ran all along without a row", l->phase, c->name);
			continue;
		}
		for (size_t p = 0; p < c->n_ports; p++) {
			for (size_t i = 0; i < rows->n_services; i++) {
				checks++;
				if (rows->services[i] != own && rows->services[i]->port == c->ports[p])
					violation("%s: row %s holds port %u, published by %s's container",
					    l->phase, rows->services[i]->service_id, c->ports[p], c->name);
			}
		}
		checks++;
		if (c->n_ports > 0 && !publishes(c, own->port))
			violation("%s: row %s holds port %u, its running container publishes %u",
			    l->phase, own->service_id, own->port, c->ports[0]);
	}
	l->snapshot_checks += checks;
	checked(checks);
out:
	free(before);
	free(after);
	berth_reply_free((ProtobufCMessage *)rows);
}

static void *
checker_main(void *arg)
{
	struct load *l = arg;

	while (!atomic_load(&l->stop)) {
		if ((atomic_load(&l->outage_gen) & 1) == 0)
			snapshot_check(l);
		clock_sleep_ms(200);
	}
	return NULL;
}

static void *
rss_sampler_main(void *arg)
{
	struct load *l = arg;

	while (!atomic_load(&l->stop) && l->n_rss < MAX_RSS_SAMPLES) {
		long kb = proc_status_kb(l->d->proc.pid, "VmRSS:");

		if (kb > 0) {
			l->rss_at[l->n_rss] = clock_monotonic_ms() - l->started_ms;
			l->rss_kb[l->n_rss++] = kb;
			if (!l->not_peak)
				note_rss(kb);
		}
		clock_sleep_ms(250);
	}
	return NULL;
}

/*
 * Runs l->clients clients, the checker and the sampler for `seconds`; with
 * a proxy, Docker goes away lv->outages times for lv->outage_ms meanwhile.
 * Returns after every thread ended; each client closed its connection.
 */
static void
run_load(struct load *l, int seconds, struct docker_proxy *px)
{
	static struct load_client clients[MAX_CLIENTS];
	pthread_t threads[MAX_CLIENTS], checker, sampler;
	int64_t end;

	assert_true(l->clients <= MAX_CLIENTS);
	atomic_store(&l->stop, false);
	l->started_ms = clock_monotonic_ms();
	l->n_rss = 0;
	for (int i = 0; i < l->clients; i++) {
		berth_status st;

		memset(&clients[i], 0, sizeof(clients[i]));
		clients[i].l = l;
		clients[i].seed = seed * 31u + (unsigned)i * 7919u + 1u;
		if (berth_open(&clients[i].c, l->d->proc.url, &(berth_options){ NULL, CALL_TIMEOUT_MS },
			&st) != 0)
			fail_msg("client %d: berth_open: %s", i, st.message);
	}
	for (int i = 0; i < l->clients; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, load_client_main, &clients[i]), 0);
	assert_int_equal(pthread_create(&checker, NULL, checker_main, l), 0);
	assert_int_equal(pthread_create(&sampler, NULL, rss_sampler_main, l), 0);

	end = l->started_ms + (int64_t)seconds * 1000;
	for (int k = 0; px != NULL && k < lv->outages; k++) {
		/* Outages evenly spread: at 1/(n+1), 2/(n+1), ... of the time. */
		int64_t at = l->started_ms + (int64_t)seconds * 1000 * (k + 1) / (lv->outages + 1);

		clock_sleep_ms((int)(at - clock_monotonic_ms()));
		atomic_fetch_add(&l->outage_gen, 1);
		if (!docker_proxy_down(px))
			violation("%s: the Docker proxy did not go down", l->phase);
		fault(F_OUTAGE, 1);
		clock_sleep_ms(lv->outage_ms);
		if (!docker_proxy_up(px))
			violation("%s: the Docker proxy did not come back", l->phase);
		atomic_fetch_add(&l->outage_gen, 1);
		pthread_mutex_lock(&report.lock);
		report.outage_ms += lv->outage_ms;
		pthread_mutex_unlock(&report.lock);
		printf("# %s: Docker away for %d ms at %lld ms\n", l->phase, lv->outage_ms,
		    (long long)(at - l->started_ms));
	}
	clock_sleep_ms((int)(end - clock_monotonic_ms()));
	atomic_store(&l->stop, true);
	for (int i = 0; i < l->clients; i++) {
		pthread_join(threads[i], NULL);
		berth_close(clients[i].c);
	}
	pthread_join(checker, NULL);
	pthread_join(sampler, NULL);
}

/* Max RSS of the first and the second half of the samples. */
static void
rss_halves(const struct load *l, long *first, long *second)
{
	int64_t half = l->n_rss > 0 ? l->rss_at[l->n_rss - 1] / 2 : 0;

	*first = *second = 0;
	for (int i = 0; i < l->n_rss; i++) {
		long *m = l->rss_at[i] <= half ? first : second;
		if (l->rss_kb[i] > *m)
			*m = l->rss_kb[i];
	}
}

/* --- 1. load ------------------------------------------------------------------------------ */

/* Waits until no service is "creating" or "removing" and Docker answers berthd again. */
static void
quiesce(struct daemon *d, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;

	while (clock_monotonic_ms() < until) {
		Berth__V1__HealthResponse *h = do_health(d->client, NULL);
		Berth__V1__ListServicesResponse *list = do_list(d->client, NULL);
		bool busy = h == NULL || !h->docker_available || list == NULL;

		for (size_t i = 0; list != NULL && i < list->n_services; i++)
			busy |= strcmp(list->services[i]->status, "creating") == 0 ||
			    strcmp(list->services[i]->status, "removing") == 0;
		berth_reply_free((ProtobufCMessage *)h);
		berth_reply_free((ProtobufCMessage *)list);
		if (!busy)
			return;
		clock_sleep_ms(200);
	}
}

static void
print_load(const struct load *l, int64_t took_ms)
{
	long first, second;

	rss_halves(l, &first, &second);
	printf("# %s: %u calls by %d clients in %lld ms (%.0f/s); %lu snapshot checks; "
	       "berthd RSS max %ld KiB in the first half, %ld KiB in the second (%d samples)\n",
	    l->phase, atomic_load(&l->ops), l->clients, (long long)took_ms,
	    took_ms > 0 ? atomic_load(&l->ops) * 1000.0 / (double)took_ms : 0.0, l->snapshot_checks,
	    first, second, l->n_rss);
}

/* 1. Sixteen clients, the whole mix, against the real engine. */
static void
test_load_sixteen_clients_keep_ports_names_and_memory_in_line(void **state)
{
	static struct load l;
	unsigned before = atomic_load(&report.violations);
	char tpl[40];
	long first, second, hwm;
	int64_t started;

	(void)state;
	memset(&l, 0, sizeof(l));
	tpl_name(tpl, sizeof(tpl), "load");
	assert_int_equal(daemon_start(&dmn, "load", NULL), 0);
	demo_template(&dmn, tpl, slice(0), 20, 2, NULL, 0);
	l.d = &dmn;
	l.phase = "load";
	l.tpl = tpl;
	l.clients = lv->load_clients;
	started = clock_monotonic_ms();
	run_load(&l, lv->load_seconds, NULL);
	print_load(&l, clock_monotonic_ms() - started);

	quiesce(&dmn, 20000);
	check_agreement(&dmn, "after the load", 5000);

	rss_halves(&l, &first, &second);
	hwm = proc_status_kb(dmn.proc.pid, "VmHWM:");
	note_rss(hwm);
	pthread_mutex_lock(&report.lock);
	report.load_rss_first_kb = first;
	report.load_rss_second_kb = second;
	report.load_rss_samples = l.n_rss;
	pthread_mutex_unlock(&report.lock);
	printf("# berthd peak RSS (VmHWM) %ld KiB\n", hwm);
	/* Generous: the second half may not grow past 1.5 x the first plus 16 MiB. */
	if (l.n_rss < 4)
		violation("load: only %d RSS samples", l.n_rss);
	else if (second > first + first / 2 + 16384)
		violation("load: berthd's RSS grew from %ld KiB (first half) to %ld KiB (second half)",
		    first, second);
	else
		checked(1);
	remove_all_services(&dmn);
	check_agreement(&dmn, "after removing everything", 5000);
	expect_no_violations_since(before);
}

/* --- 2a. SIGKILL at random points of launch, stop, restart and remove loops ------------ */

/* What a service must look like after the restart, from the calls answered before the kill. */
enum expect { E_UNKNOWN, E_RUNNING, E_STOPPED, E_NOT_RUNNING, E_ABSENT };

enum kill_kind { K_LAUNCH, K_STOP, K_RESTART, K_REMOVE, K_COUNT };
static const char *const kill_kind_names[K_COUNT] = { "launch", "stop", "restart", "remove" };

#define KILL_WORKERS 3
#define KILL_TRACKED 48
#define KILL_CALL_TIMEOUT_MS 2000
#define KILL_MAX_ROWS 12

/*
 * What the calls answered before the kill promise, per service id, shared
 * by the round's workers: ids come back (a launch takes the lowest free
 * instance_N), so a removal's promise is void once another launch may have
 * taken the id again. Each service belongs to one worker, which alone
 * calls on it.
 */
struct tracked {
	char id[ID_LEN];
	enum expect expect;
	int owner; /* worker index */
};

struct promises {
	pthread_mutex_t lock; /* guards everything below */
	struct tracked svc[KILL_TRACKED];
	int n;
	int launches_cut; /* launches whose answer never came: they may have taken any id */
};

struct kill_worker {
	berth_client *c;
	int index;
	enum kill_kind kind;
	const char *tpl;
	unsigned seed;
	atomic_bool *killing;
	struct promises *p;
	unsigned answered, unknown;
};

/* Records `e` for id (a new entry owned by `owner`, or the existing one, which it now owns). */
static void
promise(struct promises *p, int owner, const char *id, enum expect e)
{
	int i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n && strcmp(p->svc[i].id, id) != 0; i++)
		;
	if (i == p->n && p->n < KILL_TRACKED)
		snprintf(p->svc[p->n++].id, ID_LEN, "%s", id);
	if (i < p->n) {
		p->svc[i].expect = e;
		p->svc[i].owner = owner;
	}
	pthread_mutex_unlock(&p->lock);
}

/*
 * An answered call is a promise the restart must keep; a call that failed
 * because berthd died under it may or may not have happened; any other
 * failure before the kill is a violation (and its outcome unknown too).
 */
static void
settle_call(struct kill_worker *w, const char *id, enum op op, int rc, const berth_status *st,
    enum expect on_ok)
{
	promise(w->p, w->index, id, rc == 0 ? on_ok : E_UNKNOWN);
	if (rc == 0) {
		w->answered++;
		return;
	}
	w->unknown++;
	if (!atomic_load(w->killing))
		violation("kill round: %s %s answered %s before the kill: %s", op_names[op], id,
		    berth_code_name(rc), st->message);
}

/* One of w's services whose state is known and matches `want` (E_UNKNOWN: any); its id into id. */
static bool
pick_tracked(struct kill_worker *w, enum expect want, char *id, enum expect *state)
{
	struct promises *p = w->p;
	bool found = false;
	int start;

	pthread_mutex_lock(&p->lock);
	start = p->n > 0 ? rnd_between(&w->seed, 0, p->n - 1) : 0;
	for (int k = 0; k < p->n && !found; k++) {
		const struct tracked *t = &p->svc[(start + k) % p->n];

		if (t->owner != w->index || t->expect == E_UNKNOWN || t->expect == E_ABSENT)
			continue;
		if (want == E_UNKNOWN || t->expect == want ||
		    (want == E_STOPPED && t->expect == E_NOT_RUNNING)) {
			snprintf(id, ID_LEN, "%s", t->id);
			*state = t->expect;
			found = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

static void *
kill_worker_main(void *arg)
{
	struct kill_worker *w = arg;
	bool launch_next = true;

	while (!atomic_load(w->killing)) {
		berth_status st = { 0 };
		enum expect state;
		char id[ID_LEN];
		int rc;

		switch (w->kind) {
		case K_REMOVE:
			if (!launch_next && pick_tracked(w, E_RUNNING, id, &state)) {
				rc = do_by_id(w->c, OP_REMOVE, id, 0, &st);
				settle_call(w, id, OP_REMOVE, rc, &st, E_ABSENT);
				launch_next = true;
				break;
			}
			launch_next = false;
			/* launch one to remove next */
			__attribute__((fallthrough));
		case K_LAUNCH:
			rc = do_launch(w->c, w->tpl, id, NULL, &st);
			if (rc == 0) {
				promise(w->p, w->index, id, E_RUNNING);
				w->answered++;
				break;
			}
			w->unknown++;
			pthread_mutex_lock(&w->p->lock);
			w->p->launches_cut++;
			pthread_mutex_unlock(&w->p->lock);
			if (!atomic_load(w->killing))
				violation("kill round: LaunchService answered %s before the kill: %s",
				    berth_code_name(rc), st.message);
			break;
		case K_STOP:
			if (!pick_tracked(w, E_UNKNOWN, id, &state)) {
				clock_sleep_ms(20);
				break;
			}
			if (state == E_RUNNING) {
				rc = do_by_id(w->c, OP_STOP, id, 1, &st);
				settle_call(w, id, OP_STOP, rc, &st, E_STOPPED);
			} else {
				rc = do_by_id(w->c, OP_RESTART, id, 0, &st);
				settle_call(w, id, OP_RESTART, rc, &st, E_RUNNING);
			}
			break;
		case K_RESTART:
			if (!pick_tracked(w, E_UNKNOWN, id, &state)) {
				clock_sleep_ms(20);
				break;
			}
			rc = do_by_id(w->c, OP_RESTART, id, 0, &st);
			settle_call(w, id, OP_RESTART, rc, &st, E_RUNNING);
			break;
		default:
			return NULL;
		}
	}
	return NULL;
}

/* Was every answered call's promise kept? Checks the rows after the restart. */
static void
check_promises(struct promises *p, const char *when)
{
	Berth__V1__ListServicesResponse *list = do_list(dmn.client, NULL);
	unsigned long checks = 0;

	if (list == NULL) {
		violation("%s: ListServices failed after the restart", when);
		return;
	}
	for (int i = 0; i < p->n; i++) {
		const struct tracked *t = &p->svc[i];
		const Berth__V1__Service *row = find_row(list, t->id);
		const char *status = row != NULL ? row->status : "absent";
		bool ok = true;

		switch (t->expect) {
		case E_UNKNOWN:
			continue;
		case E_RUNNING:
			ok = strcmp(status, "running") == 0;
			break;
		case E_STOPPED:
			ok = strcmp(status, "stopped") == 0;
			break;
		case E_NOT_RUNNING:
			ok = strcmp(status, "stopped") == 0 || strcmp(status, "exited") == 0 ||
			    strcmp(status, "dead") == 0;
			break;
		case E_ABSENT:
			if (p->launches_cut > 0)
				continue; /* a launch cut short may have taken the id again */
			ok = row == NULL;
			break;
		}
		checks++;
		if (!ok)
			violation("%s: %s was answered as %s before the kill, its row says %s", when,
			    t->id,
			    t->expect == E_RUNNING ? "running"
			    : t->expect == E_ABSENT ? "removed"
						    : "stopped",
			    status);
	}
	checked(checks);
	berth_reply_free(&list->base);
}

/* Launches through the main client until `want` rows exist, or trims them to `want`. */
static void
adjust_rows(const char *tpl, int want_at_least, int want_at_most)
{
	Berth__V1__ListServicesResponse *list = do_list(dmn.client, NULL);
	int n = list != NULL ? (int)list->n_services : 0;
	berth_status st;

	for (int i = n - 1; list != NULL && i >= 0 && n > want_at_most; i--, n--)
		do_by_id(dmn.client, OP_REMOVE, list->services[i]->service_id, 0, NULL);
	berth_reply_free((ProtobufCMessage *)list);
	for (; n < want_at_least; n++)
		if (do_launch(dmn.client, tpl, NULL, NULL, &st) != 0)
			violation("kill rounds: preparing launch answered %s: %s", berth_code_name(st.code),
			    st.message);
}

static void
kill_round(int round, enum kill_kind kind, const char *tpl, unsigned *rs)
{
	static struct kill_worker w[KILL_WORKERS];
	static struct promises p = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t threads[KILL_WORKERS];
	atomic_bool killing = false;
	Berth__V1__ListServicesResponse *list;
	unsigned answered = 0, unknown = 0;
	size_t next_row = 0;
	char when[128];
	int delay;

	if (kind == K_STOP || kind == K_RESTART)
		adjust_rows(tpl, 2 * KILL_WORKERS, KILL_MAX_ROWS);
	else
		adjust_rows(tpl, 0, KILL_MAX_ROWS / 2);
	list = do_list(dmn.client, NULL);
	assert_non_null(list);
	p.n = 0;
	p.launches_cut = 0;
	for (int k = 0; k < KILL_WORKERS; k++) {
		berth_status st;

		memset(&w[k], 0, sizeof(w[k]));
		w[k].index = k;
		w[k].kind = kind;
		w[k].tpl = tpl;
		w[k].seed = rnd(rs);
		w[k].killing = &killing;
		w[k].p = &p;
		if (berth_open(&w[k].c, dmn.proc.url, &(berth_options){ NULL, KILL_CALL_TIMEOUT_MS },
			&st) != 0)
			fail_msg("berth_open: %s", st.message);
		/* Two rows each to stop or restart, in the state the registry gives. */
		for (int j = 0; (kind == K_STOP || kind == K_RESTART) && j < 2; j++) {
			while (next_row < list->n_services &&
			    strcmp(list->services[next_row]->status, "missing") == 0)
				next_row++;
			if (next_row == list->n_services)
				break;
			promise(&p, k, list->services[next_row]->service_id,
			    strcmp(list->services[next_row]->status, "running") == 0 ? E_RUNNING
										     : E_NOT_RUNNING);
			next_row++;
		}
	}
	berth_reply_free(&list->base);

	for (int k = 0; k < KILL_WORKERS; k++)
		assert_int_equal(pthread_create(&threads[k], NULL, kill_worker_main, &w[k]), 0);
	delay = rnd_between(rs, 50, lv->kill_max_delay_ms);
	clock_sleep_ms(delay);
	atomic_store(&killing, true);
	daemon_kill(&dmn);
	for (int k = 0; k < KILL_WORKERS; k++) {
		pthread_join(threads[k], NULL);
		berth_close(w[k].c);
		answered += w[k].answered;
		unknown += w[k].unknown;
	}
	snprintf(when, sizeof(when), "kill round %d (%s loop, SIGKILL after %d ms)", round,
	    kill_kind_names[kind], delay);
	if (daemon_restart(&dmn) != 0) {
		violation("%s: berthd did not start again", when);
		fail_msg("%s: berthd did not start again", when);
	}
	check_agreement(&dmn, when, 3000);
	check_promises(&p, when);
	printf("# %s: %u calls answered before, %u cut short; registry and Docker checked\n", when,
	    answered, unknown);
}

/* 3. SIGKILL at random moments of the four lifecycle loops; a restart each time. */
static void
test_sigkill_at_random_points_keeps_every_answered_call_and_the_registry_true(void **state)
{
	unsigned before = atomic_load(&report.violations), rs = seed ^ 0x5bd1e995u;
	char tpl[40];

	(void)state;
	tpl_name(tpl, sizeof(tpl), "kill");
	assert_int_equal(daemon_start(&dmn, "kill", NULL), 0);
	demo_template(&dmn, tpl, slice(2), SLICE_PORTS, 2, NULL, 0);
	for (int round = 0; round < lv->kill_rounds; round++)
		kill_round(round + 1, (enum kill_kind)((round + seed) % K_COUNT), tpl, &rs);
	/* And berthd still launches, on a port no row holds. */
	adjust_rows(tpl, 0, 0);
	if (do_launch(dmn.client, tpl, NULL, NULL, NULL) != 0)
		violation("after the kill rounds: a launch failed");
	check_agreement(&dmn, "after the kill rounds", 3000);
	expect_no_violations_since(before);
}

/* --- 2b. Docker away under load ----------------------------------------------------------- */

/*
 * 2. Docker goes away (the proxy closes everything) during a load of 8
 * clients: reads keep answering from the registry, whatever needs Docker
 * answers UNAVAILABLE, berthd follows Docker again by itself; nothing is
 * lost or left without a row.
 */
static void
test_docker_outage_under_load_answers_unavailable_and_recovers_by_itself(void **state)
{
	static struct load l;
	unsigned before = atomic_load(&report.violations);
	const char *args[] = { "--docker-host", NULL, NULL };
	char host[160], tpl[40];
	int64_t started, up_at;
	berth_status st;
	long recovered = -1;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(docker_proxy_start(&proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	args[1] = host;
	tpl_name(tpl, sizeof(tpl), "outage");
	assert_int_equal(daemon_start(&dmn, "outage", args), 0);
	demo_template(&dmn, tpl, slice(1), 20, 2, NULL, 0);
	l.d = &dmn;
	l.phase = "outage";
	l.tpl = tpl;
	l.clients = 8;
	started = clock_monotonic_ms();
	run_load(&l, lv->outage_load_seconds, &proxy);
	print_load(&l, clock_monotonic_ms() - started);
	assert_true(atomic_load(&proxy.accepted) > 0); /* berthd did talk through the proxy */

	/* One more outage with nobody else calling: how soon does a launch work again? */
	assert_true(docker_proxy_down(&proxy));
	fault(F_OUTAGE, 1);
	if (do_launch(dmn.client, tpl, NULL, NULL, &st) != BERTH__V1__CODE__UNAVAILABLE)
		violation("outage: a launch with Docker away answered %s: %s", berth_code_name(st.code),
		    st.message);
	clock_sleep_ms(1000);
	assert_true(docker_proxy_up(&proxy));
	up_at = clock_monotonic_ms();
	while (clock_monotonic_ms() - up_at < 20000) {
		if (do_launch(dmn.client, tpl, NULL, NULL, &st) == 0) {
			recovered = (long)(clock_monotonic_ms() - up_at);
			break;
		}
		if (st.code != BERTH__V1__CODE__UNAVAILABLE &&
		    st.code != BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			violation("outage: a launch after Docker came back answered %s: %s",
			    berth_code_name(st.code), st.message);
		if (st.code == BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			remove_all_services(&dmn);
		clock_sleep_ms(100);
	}
	pthread_mutex_lock(&report.lock);
	report.outage_ms += 1000;
	if (recovered > report.recovery_ms_max)
		report.recovery_ms_max = recovered;
	pthread_mutex_unlock(&report.lock);
	printf("# outage: a launch worked again %ld ms after Docker came back\n", recovered);
	if (recovered < 0)
		violation("outage: no launch worked within 20 s of Docker's return");
	quiesce(&dmn, 20000);
	check_agreement(&dmn, "after the Docker outages", 10000);
	if (kill(dmn.proc.pid, 0) != 0)
		violation("outage: berthd is gone");
	expect_no_violations_since(before);
}

/* --- 2c. the disk under the data directory full ----------------------------------------- */

/* Fills the file system of `path` with it; the bytes written. */
static long
fill_disk(const char *path)
{
	static char chunk[65536];
	long total = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	memset(chunk, 'x', sizeof(chunk));
	for (size_t size = sizeof(chunk); size >= 512; size /= 2) {
		ssize_t n;

		while ((n = write(fd, chunk, size)) > 0)
			total += n;
	}
	close(fd);
	return total;
}

/* PutTemplate of about 200 KiB: enough to need fresh pages in SQLite's WAL. */
static int
put_big_template(struct daemon *d, const char *name, berth_status *st)
{
	static char values[200][1001];
	static char *env[200];

	for (int i = 0; i < 200; i++) {
		snprintf(values[i], sizeof(values[i]), "BIG%d=", i);
		memset(values[i] + strlen(values[i]), 'v', 1000 - strlen(values[i]));
		values[i][1000] = '\0';
		env[i] = values[i];
	}
	return put_template(d, name, slice(3) + 10, 5, 2, env, 200, st);
}

static bool
says_disk_full(const char *message)
{
	return strstr(message, "disk") != NULL && strstr(message, "full") != NULL;
}

/* 4. A full disk: changes are refused clearly, nothing is corrupted, space back is service back. */
static void
test_disk_full_refuses_changes_clearly_and_resumes_when_space_returns(void **state)
{
	unsigned before = atomic_load(&report.violations);
	char fs[PATH_MAX], data[PATH_MAX + 8], filler[PATH_MAX + 16], tpl[40], name[64];
	char id[ID_LEN];
	Berth__V1__ListServicesResponse *list;
	berth_status st;
	bool refused = false, resumed = false;
	int64_t freed_at;
	long filled;
	int rc;

	(void)state;
	snprintf(fs, sizeof(fs), "%s/fullfs", chaos_root);
	assert_int_equal(mkdir(fs, 0755), 0);
	if (mount("tmpfs", fs, "tmpfs", 0, "size=2m,mode=0755") != 0) {
		printf("# SKIPPED: cannot mount a 2 MiB tmpfs on %s (%s): this test needs root with "
		       "CAP_SYS_ADMIN\n",
		    fs, strerror(errno));
		note("disk-full test skipped: mount -t tmpfs not permitted");
		skip();
	}
	snprintf(mounted, sizeof(mounted), "%s", fs);
	snprintf(data, sizeof(data), "%s/data", fs);
	snprintf(filler, sizeof(filler), "%s/filler", fs);
	tpl_name(tpl, sizeof(tpl), "full");
	assert_int_equal(daemon_start_in(&dmn, NULL, data, NULL, NULL, 10000), 0);
	demo_template(&dmn, tpl, slice(3), 10, 2, NULL, 0);
	if (do_launch(dmn.client, tpl, id, NULL, &st) != 0)
		fail_msg("launch before the disk filled: %s: %s", berth_code_name(st.code), st.message);

	filled = fill_disk(filler);
	fault(F_DISK_FULL, 1);
	printf("# disk full: %ld KiB of filler on the 2 MiB tmpfs\n", filled / 1024);
	for (int i = 0; i < 40 && !refused; i++) {
		snprintf(name, sizeof(name), "%sbig%d", tpl, i);
		rc = put_big_template(&dmn, name, &st);
		if (rc == 0)
			continue;
		refused = true;
		printf("# disk full: PutTemplate #%d answered %s: %s\n", i + 1, berth_code_name(rc),
		    st.message);
		if (rc != BERTH__V1__CODE__RESOURCE_EXHAUSTED || !says_disk_full(st.message))
			violation("disk full: PutTemplate answered %s: %s (want RESOURCE_EXHAUSTED saying "
				  "the disk is full)",
			    berth_code_name(rc), st.message);
		else
			checked(1);
	}
	if (!refused)
		violation("disk full: 40 PutTemplate calls of 200 KiB each all fit on a full disk");

	/* A launch and a stop: refused as clearly, or done when they fit. */
	rc = do_launch(dmn.client, tpl, NULL, NULL, &st);
	printf("# disk full: LaunchService answered %s: %s\n", berth_code_name(rc), st.message);
	if (rc != 0 && (rc != BERTH__V1__CODE__RESOURCE_EXHAUSTED || !says_disk_full(st.message)))
		violation("disk full: LaunchService answered %s: %s", berth_code_name(rc), st.message);
	rc = do_by_id(dmn.client, OP_STOP, id, 1, &st);
	printf("# disk full: StopService answered %s: %s\n", berth_code_name(rc), st.message);
	if (rc != 0 && (rc != BERTH__V1__CODE__RESOURCE_EXHAUSTED || !says_disk_full(st.message)))
		violation("disk full: StopService answered %s: %s", berth_code_name(rc), st.message);

	/* Reads go on. */
	if ((list = do_list(dmn.client, &st)) == NULL)
		violation("disk full: ListServices answered %s: %s", berth_code_name(st.code),
		    st.message);
	berth_reply_free((ProtobufCMessage *)list);
	if (do_stats(dmn.client, &st) != 0)
		violation("disk full: GetStats answered %s: %s", berth_code_name(st.code), st.message);
	check_integrity(&dmn, "disk full");
	/* Full for a while longer: Docker's events about the stop find no room either. */
	clock_sleep_ms(2500);

	/* Space again: changes work again, without a restart. */
	assert_int_equal(unlink(filler), 0);
	freed_at = clock_monotonic_ms();
	while (!resumed && clock_monotonic_ms() - freed_at < 10000) {
		snprintf(name, sizeof(name), "%sback", tpl);
		if (put_big_template(&dmn, name, &st) == 0)
			resumed = true;
		else
			clock_sleep_ms(200);
	}
	if (!resumed)
		violation("disk full: changes still refused 10 s after space returned: %s: %s",
		    berth_code_name(st.code), st.message);
	if (do_launch(dmn.client, tpl, NULL, NULL, &st) != 0)
		violation("disk full: a launch after space returned answered %s: %s",
		    berth_code_name(st.code), st.message);
	quiesce(&dmn, 10000);
	check_agreement(&dmn, "after the disk had space again", 8000);
	if (kill(dmn.proc.pid, 0) != 0)
		violation("disk full: berthd is gone");
	expect_no_violations_since(before);
}

/* --- 2d. containers that misbehave --------------------------------------------------------- */

/* Waits until service `id`'s row says `status`; false after timeout_ms. */
static bool
wait_status(const char *id, const char *status, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;

	do {
		Berth__V1__ListServicesResponse *list = do_list(dmn.client, NULL);
		const Berth__V1__Service *row = find_row(list, id);
		bool there = row != NULL && strcmp(row->status, status) == 0;

		berth_reply_free((ProtobufCMessage *)list);
		if (there)
			return true;
		clock_sleep_ms(100);
	} while (clock_monotonic_ms() < until);
	return false;
}

static Berth__V1__GetServiceResponse *
get_service(const char *id, berth_status *st)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	req.service_id = (char *)id;
	if (rpc(dmn.client, OP_GET, "GetService", &req.base, &reply, st) != 0)
		return NULL;
	return (Berth__V1__GetServiceResponse *)reply;
}

/*
 * 5. A container that exits at once: the launch succeeds (Docker did start
 * it), and the event follower records "exited" with its exit code soon
 * after; cleanup sees it dead; restart and remove work.
 */
static void
test_container_exiting_at_once_is_launched_then_recorded_as_exited(void **state)
{
	unsigned before = atomic_load(&report.violations);
	char *env[] = { "BERTH_DEMO_EXIT_AFTER_MS=1" };
	Berth__V1__GetCleanupStatusRequest creq = BERTH__V1__GET_CLEANUP_STATUS_REQUEST__INIT;
	Berth__V1__GetCleanupStatusResponse *cleanup = NULL;
	Berth__V1__GetServiceResponse *got;
	char tpl[40], id[ID_LEN];
	berth_status st;
	bool dead = false;
	int rc;

	(void)state;
	tpl_name(tpl, sizeof(tpl), "exits");
	assert_int_equal(daemon_start(&dmn, "exits", NULL), 0);
	demo_template(&dmn, tpl, slice(4), 4, 2, env, 1);
	fault(F_EXIT_AT_ONCE, 1);
	rc = do_launch(dmn.client, tpl, id, NULL, &st);
	printf("# exits at once: LaunchService answered %s %s\n", berth_code_name(rc), st.message);
	if (rc != 0)
		fail_msg("launch of a container that exits at once: %s: %s", berth_code_name(rc),
		    st.message);
	note("a container that exits at once: LaunchService answers OK (Docker started it), the "
	     "row turns \"exited\" from Docker's die event");
	if (!wait_status(id, "exited", 5000))
		violation("exits at once: the row of %s never said exited", id);
	if ((got = get_service(id, &st)) == NULL) {
		violation("exits at once: GetService answered %s", berth_code_name(st.code));
	} else {
		if (strcmp(got->service->container->state, "exited") != 0 ||
		    got->service->container->exit_code != 3)
			violation("exits at once: container state %s exit code %d (want exited, 3)",
			    got->service->container->state, got->service->container->exit_code);
		else
			checked(1);
		berth_reply_free(&got->base);
	}
	check_agreement(&dmn, "a container that exited at once", 3000);
	if (rpc(dmn.client, OP_OTHER, "GetCleanupStatus", &creq.base, (ProtobufCMessage **)&cleanup,
		&st) == 0) {
		for (size_t i = 0; i < cleanup->n_dead_services; i++)
			dead |= strcmp(cleanup->dead_services[i], id) == 0;
		berth_reply_free(&cleanup->base);
	}
	if (!dead)
		violation("exits at once: cleanup status does not list %s as dead", id);
	if ((rc = do_by_id(dmn.client, OP_RESTART, id, 0, &st)) != 0)
		violation("exits at once: restart answered %s: %s", berth_code_name(rc), st.message);
	if (!wait_status(id, "exited", 5000))
		violation("exits at once: after the restart the row never said exited again");
	check_agreement(&dmn, "a container that exited at once, restarted", 3000);
	if ((rc = do_by_id(dmn.client, OP_REMOVE, id, 0, &st)) != 0)
		violation("exits at once: remove answered %s: %s", berth_code_name(rc), st.message);
	check_agreement(&dmn, "a container that exited at once, removed", 3000);
	expect_no_violations_since(before);
}

/* 6. A container that ignores SIGTERM: a stop with timeout 1 s kills it after that second. */
static void
test_container_ignoring_sigterm_is_killed_when_the_stop_timeout_ends(void **state)
{
	unsigned before = atomic_load(&report.violations);
	char *env[] = { "BERTH_DEMO_IGNORE_SIGTERM=1" };
	Berth__V1__GetServiceResponse *got;
	char tpl[40], id[ID_LEN];
	berth_status st;
	int64_t started, took;
	int rc;

	(void)state;
	tpl_name(tpl, sizeof(tpl), "stubborn");
	assert_int_equal(daemon_start(&dmn, "stubborn", NULL), 0);
	demo_template(&dmn, tpl, slice(4) + 4, 4, 30, env, 1);
	if (do_launch(dmn.client, tpl, id, NULL, &st) != 0)
		fail_msg("launch: %s: %s", berth_code_name(st.code), st.message);
	fault(F_IGNORE_SIGTERM, 1);
	started = clock_monotonic_ms();
	rc = do_by_id(dmn.client, OP_STOP, id, 1, &st);
	took = clock_monotonic_ms() - started;
	printf("# ignores SIGTERM: StopService(timeout 1 s) answered %s after %lld ms\n",
	    berth_code_name(rc), (long long)took);
	if (rc != 0)
		violation("ignores SIGTERM: stop answered %s: %s", berth_code_name(rc), st.message);
	if (took > 10000)
		violation("ignores SIGTERM: stop with timeout 1 s took %lld ms", (long long)took);
	if ((got = get_service(id, &st)) == NULL) {
		violation("ignores SIGTERM: GetService answered %s", berth_code_name(st.code));
	} else {
		if (strcmp(got->service->status, "stopped") != 0 ||
		    strcmp(got->service->container->state, "running") == 0)
			violation("ignores SIGTERM: after the stop the row says %s, the container %s",
			    got->service->status, got->service->container->state);
		else
			checked(1);
		printf("# ignores SIGTERM: row %s, container %s, exit code %d\n", got->service->status,
		    got->service->container->state, got->service->container->exit_code);
		berth_reply_free(&got->base);
	}
	check_agreement(&dmn, "a container that ignores SIGTERM, stopped", 3000);
	expect_no_violations_since(before);
}

/*
 * A host port taken at the worst moment: the proxy in front of Docker sees
 * berthd's "create" (with the chosen HostPort) and, on the "start" that
 * follows, binds that port on 127.0.0.1 before forwarding it. Deterministic:
 * berthd's bind test has passed, Docker's own bind fails.
 */
struct port_thief {
	pthread_mutex_t lock;
	int armed;          /* starts still to sabotage */
	uint16_t port;      /* HostPort of the last create seen */
	int fds[4];
	int n_fds;
	int stolen;
};

static struct port_thief thief = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int
listen_port(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* On the proxy's thread, with what berthd sends to Docker. */
static enum docker_proxy_verdict
thief_hook(void *arg, const char *data, size_t len)
{
	struct port_thief *t = arg;
	const char *hp;

	pthread_mutex_lock(&t->lock);
	if ((hp = memmem(data, len, "\"HostPort\"", 10)) != NULL) {
		const char *p = hp + 10, *end = data + len;

		while (p < end && (*p == ' ' || *p == ':' || *p == '"'))
			p++;
		t->port = 0;
		while (p < end && *p >= '0' && *p <= '9')
			t->port = (uint16_t)(t->port * 10 + (*p++ - '0'));
	}
	if (t->armed > 0 && len > 5 && memcmp(data, "POST ", 5) == 0 &&
	    memmem(data, len, "/start ", 7) != NULL && t->port != 0 && t->n_fds < 4) {
		int fd = listen_port(t->port);

		if (fd >= 0) {
			t->fds[t->n_fds++] = fd;
			t->stolen++;
			t->armed--;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return DOCKER_PROXY_FORWARD;
}

static void
thief_release(struct port_thief *t)
{
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < t->n_fds; i++)
		close(t->fds[i]);
	t->n_fds = 0;
	t->armed = 0;
	pthread_mutex_unlock(&t->lock);
}

static int
count_rows(void)
{
	Berth__V1__ListServicesResponse *list = do_list(dmn.client, NULL);
	int n = list != NULL ? (int)list->n_services : -1;

	berth_reply_free((ProtobufCMessage *)list);
	return n;
}

/*
 * 7. Another program binds the chosen port between berthd's bind test and
 * Docker's start: berthd moves to the next free port (and says so in
 * skipped_ports); when none is left the launch is RESOURCE_EXHAUSTED and
 * leaves nothing behind.
 */
static void
test_port_taken_between_allocation_and_start_moves_on_or_leaves_nothing(void **state)
{
	unsigned before = atomic_load(&report.violations);
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *r = NULL;
	const char *args[] = { "--docker-host", NULL, NULL };
	char host[160], tpl[40], id[ID_LEN];
	uint16_t first = slice(4) + 8;
	berth_status st;
	bool skipped = false;
	uint32_t port;
	int rc, blocker;

	(void)state;
	assert_int_equal(docker_proxy_start(&proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	args[1] = host;
	tpl_name(tpl, sizeof(tpl), "steal");
	assert_int_equal(daemon_start(&dmn, "steal", args), 0);
	demo_template(&dmn, tpl, first, 2, 2, NULL, 0);
	docker_proxy_set_hook(&proxy, thief_hook, &thief);

	/* One port stolen: the launch moves to the second. */
	pthread_mutex_lock(&thief.lock);
	thief.armed = 1;
	thief.stolen = 0;
	pthread_mutex_unlock(&thief.lock);
	req.template_ = tpl;
	req.instance = "";
	rc = rpc(dmn.client, OP_LAUNCH, "LaunchService", &req.base, (ProtobufCMessage **)&r, &st);
	fault(F_PORT_STOLEN, (unsigned)thief.stolen);
	if (thief.stolen != 1)
		fail_msg("the proxy did not see the container's start (stolen %d)", thief.stolen);
	if (rc != 0) {
		violation("port stolen: launch answered %s: %s", berth_code_name(rc), st.message);
	} else {
		for (size_t i = 0; i < r->n_skipped_ports; i++)
			skipped |= r->skipped_ports[i]->port == first &&
			    strcmp(r->skipped_ports[i]->reason, "host") == 0;
		printf("# port stolen: launched on %u, %zu port(s) skipped\n", r->service->port,
		    r->n_skipped_ports);
		if (r->service->port != first + 1u || !skipped)
			violation("port stolen: launched on %u (want %u, with %u skipped as host)",
			    r->service->port, first + 1u, first);
		else
			checked(1);
		snprintf(id, sizeof(id), "%s", r->service->service_id);
		berth_reply_free(&r->base);
	}
	check_agreement(&dmn, "after a port was stolen before the start", 3000);
	thief_release(&thief);
	remove_all_services(&dmn);

	/* Both ports gone: RESOURCE_EXHAUSTED, no row, no container, the ports free again. */
	blocker = listen_port(first + 1);
	assert_true(blocker >= 0);
	pthread_mutex_lock(&thief.lock);
	thief.armed = 1;
	thief.stolen = 0;
	pthread_mutex_unlock(&thief.lock);
	rc = do_launch(dmn.client, tpl, NULL, NULL, &st);
	fault(F_PORT_STOLEN, (unsigned)thief.stolen);
	printf("# both ports taken: launch answered %s: %s\n", berth_code_name(rc), st.message);
	if (rc != BERTH__V1__CODE__RESOURCE_EXHAUSTED)
		violation("ports stolen: launch answered %s: %s (want RESOURCE_EXHAUSTED)",
		    berth_code_name(rc), st.message);
	if (count_rows() != 0)
		violation("ports stolen: the failed launch left a row");
	check_agreement(&dmn, "after a launch found no port", 3000);
	close(blocker);
	thief_release(&thief);
	docker_proxy_set_hook(&proxy, NULL, NULL);
	if (do_launch(dmn.client, tpl, NULL, &port, &st) != 0 || port != first)
		violation("ports stolen: the next launch answered %s on port %u (want OK on %u)",
		    berth_code_name(st.code), port, first);
	check_agreement(&dmn, "after the ports were free again", 3000);
	expect_no_violations_since(before);
}

/* --- 3. hostile input ------------------------------------------------------------------------ */

/* Bytes under construction: the protobuf wire format by hand, wrong on purpose when asked. */
struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void
b_put(struct bytes *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void
b_varint(struct bytes *b, uint64_t v)
{
	uint8_t out[10];
	size_t n = 0;

	do {
		out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	b_put(b, out, n);
}

static void
b_tag(struct bytes *b, unsigned field, unsigned wire)
{
	b_varint(b, ((uint64_t)field << 3) | wire);
}

/* A length-delimited field. */
static void
b_ld(struct bytes *b, unsigned field, const void *data, size_t n)
{
	b_tag(b, field, 2);
	b_varint(b, n);
	b_put(b, data, n);
}

static void
b_uint(struct bytes *b, unsigned field, uint64_t v)
{
	b_tag(b, field, 0);
	b_varint(b, v);
}

/* n bytes of `c`, malloc'ed (callers free). */
static char *
filled(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

#define PATH_PREFIX "/berth.v1.Berth/"
#define ALLOW(code) (1u << BERTH__V1__CODE__##code)
#define DROPPED (1u << CODE_DROPPED)

struct hostile {
	const char *name;
	void (*build)(const struct hostile *h, struct bytes *out);
	const char *method; /* short name, for the payload builders */
	const char *s;      /* a string argument (may hold NULs: s_len) */
	size_t s_len;       /* 0: strlen(s) */
	unsigned field;     /* a field number, for the builders that override one */
	uint64_t v;         /* a number argument */
	unsigned allowed;   /* codes (ALLOW) and DROPPED that are a fine answer */
};

static size_t
h_len(const struct hostile *h)
{
	return h->s_len != 0 ? h->s_len : strlen(h->s);
}

static char hostile_tpl[40]; /* a real template of the hostile berthd */

static void
envelope(struct bytes *out, const char *method, size_t method_len, const struct bytes *payload)
{
	b_ld(out, 1, method, method_len);
	if (payload != NULL && payload->len > 0)
		b_ld(out, 2, payload->p, payload->len);
}

static void
envelope_for(struct bytes *out, const char *short_name, const struct bytes *payload)
{
	char path[128];

	snprintf(path, sizeof(path), PATH_PREFIX "%s", short_name);
	envelope(out, path, strlen(path), payload);
}

/* The whole message is h->s. */
static void
build_raw(const struct hostile *h, struct bytes *out)
{
	b_put(out, h->s, h_len(h));
}

/* An envelope whose method path is h->s (or v bytes of 'A'). */
static void
build_method(const struct hostile *h, struct bytes *out)
{
	char *big = h->s == NULL ? filled(h->v, 'A') : NULL;

	envelope(out, big != NULL ? big : h->s, big != NULL ? h->v : h_len(h), NULL);
	free(big);
}

/* Health, followed by the raw bytes h->s (extra or repeated fields). */
static void
build_health_plus(const struct hostile *h, struct bytes *out)
{
	envelope_for(out, "Health", NULL);
	b_put(out, h->s, h_len(h));
}

/* Health with envelope field h->field set to the string h->s (or v bytes of 'A'). */
static void
build_health_string(const struct hostile *h, struct bytes *out)
{
	char *big = h->s == NULL ? filled(h->v, 'A') : NULL;

	envelope_for(out, "Health", NULL);
	b_ld(out, h->field, big != NULL ? big : h->s, big != NULL ? h->v : h_len(h));
	free(big);
}

/* Health with timeout_ms = v (any 64-bit varint). */
static void
build_health_timeout(const struct hostile *h, struct bytes *out)
{
	envelope_for(out, "Health", NULL);
	b_uint(out, 4, h->v);
}

/* h->method with payload h->s (raw bytes), or v bytes of zeros. */
static void
build_payload_raw(const struct hostile *h, struct bytes *out)
{
	struct bytes payload = { 0 };

	if (h->s != NULL) {
		b_put(&payload, h->s, h_len(h));
	} else {
		char *zeros = filled(h->v, '\0');
		b_put(&payload, zeros, h->v);
		free(zeros);
	}
	envelope_for(out, h->method, &payload);
	free(payload.p);
}

/* h->method with string field h->field = h->s (or v bytes of 'A'), plus uint field 2 = v when s is set. */
static void
build_payload_string(const struct hostile *h, struct bytes *out)
{
	struct bytes payload = { 0 };
	char *big = h->s == NULL ? filled(h->v, 'A') : NULL;

	b_ld(&payload, h->field, big != NULL ? big : h->s, big != NULL ? h->v : h_len(h));
	if (h->s != NULL && h->v != 0)
		b_uint(&payload, 2, h->v);
	envelope_for(out, h->method, &payload);
	free(payload.p);
	free(big);
}

/* LaunchService of the real template with instance h->s (may be NULL) and port v. */
static void
build_launch(const struct hostile *h, struct bytes *out)
{
	struct bytes payload = { 0 };

	b_ld(&payload, 1, h->field == 1 ? h->s : hostile_tpl,
	    h->field == 1 ? h_len(h) : strlen(hostile_tpl));
	if (h->field != 1 && h->s != NULL)
		b_ld(&payload, 2, h->s, h_len(h));
	if (h->v != 0)
		b_uint(&payload, 3, h->v);
	envelope_for(out, "LaunchService", &payload);
	free(payload.p);
}

/*
 * PutTemplate of a sound template, but for field h->field: the string h->s,
 * or the number v; for env (9), h->s as one entry and/or v entries of 900
 * bytes; field 0 overrides nothing.
 */
static void
build_put_template(const struct hostile *h, struct bytes *out)
{
	struct bytes t = { 0 }, payload = { 0 };
	char name[64];

	snprintf(name, sizeof(name), "%shostile", tpl_prefix);
	for (unsigned f = 1; f <= 10; f++) {
		if (f == h->field && f != 9) {
			if (h->s != NULL)
				b_ld(&t, f, h->s, h_len(h));
			else
				b_uint(&t, f, h->v);
			continue;
		}
		switch (f) {
		case 1:
			b_ld(&t, f, name, strlen(name));
			break;
		case 3:
			b_ld(&t, f, DEMO_IMAGE, strlen(DEMO_IMAGE));
			break;
		case 5:
			b_uint(&t, f, 8000);
			break;
		case 6:
			b_uint(&t, f, slice(5) + 10);
			break;
		case 7:
			b_uint(&t, f, slice(5) + 14);
			break;
		case 8:
			b_ld(&t, f, "/data", 5);
			break;
		case 9:
			if (h->field != 9)
				break;
			if (h->s != NULL)
				b_ld(&t, f, h->s, h_len(h));
			for (uint64_t i = 0; i < h->v; i++) {
				char entry[901];

				snprintf(entry, sizeof(entry), "E%llu=", (unsigned long long)i);
				memset(entry + strlen(entry), 'v', 900 - strlen(entry));
				b_ld(&t, f, entry, 900);
			}
			break;
		default:
			break;
		}
	}
	b_ld(&payload, 1, t.p, t.len);
	envelope_for(out, "PutTemplate", &payload);
	free(t.p);
	free(payload.p);
}

/* GetStats with an unknown field nested v levels deep. */
static void
build_nested(const struct hostile *h, struct bytes *out)
{
	struct bytes inner = { 0 };

	b_put(&inner, "x", 1);
	for (uint64_t i = 0; i < h->v; i++) {
		struct bytes wrap = { 0 };

		b_ld(&wrap, 15, inner.p, inner.len);
		free(inner.p);
		inner = wrap;
	}
	envelope_for(out, "GetStats", &inner);
	free(inner.p);
}

#define S(x) x, sizeof(x) - 1
#define INVALID ALLOW(INVALID_ARGUMENT)

static const struct hostile hostile_table[] = {
	/* The envelope, byte by byte. */
	{ "empty message", build_raw, NULL, S(""), 0, 0, ALLOW(UNIMPLEMENTED) | INVALID },
	{ "one byte 0xff", build_raw, NULL, S("\xff"), 0, 0, INVALID },
	{ "truncated varint tag", build_raw, NULL, S("\x80"), 0, 0, INVALID },
	{ "truncated varint value", build_raw, NULL, S("\x20\x80"), 0, 0, INVALID },
	{ "length past the end", build_raw, NULL, S("\x0a\x10/berth"), 0, 0, INVALID },
	{ "length of 2^63", build_raw, NULL, S("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), 0, 0,
	    INVALID },
	{ "method as a varint (wrong wire type)", build_raw, NULL, S("\x08\x01"), 0, 0,
	    INVALID | ALLOW(UNIMPLEMENTED) },
	{ "method as a fixed64 (wrong wire type)", build_raw, NULL, S("\x09\x01\x02\x03\x04\x05\x06\x07\x08"),
	    0, 0, INVALID | ALLOW(UNIMPLEMENTED) },
	{ "group start (wire type 3)", build_raw, NULL, S("\x0b"), 0, 0, INVALID },
	{ "group end (wire type 4)", build_raw, NULL, S("\x0c"), 0, 0, INVALID },
	{ "wire type 6", build_raw, NULL, S("\x0e"), 0, 0, INVALID },
	{ "field number 0", build_raw, NULL, S("\x02\x00"), 0, 0, INVALID },
	{ "11-byte varint", build_raw, NULL, S("\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), 0,
	    0, INVALID },
	{ "unknown envelope field", build_health_plus, NULL, S("\xfa\x07\x03" "abc"), 0, 0, ALLOW(OK) },
	{ "field number 2^29-1", build_health_plus, NULL, S("\xfa\xff\xff\xff\x0f\x01z"), 0, 0,
	    ALLOW(OK) },
	{ "timeout_ms as bytes (wrong wire type)", build_health_plus, NULL, S("\x22\x01x"), 0, 0,
	    INVALID | ALLOW(OK) },
	{ "method twice, the second unknown", build_health_plus, NULL, S("\x0a\x04nope"), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	/* Method paths. */
	{ "method with invalid UTF-8", build_method, NULL, S("/berth.v1.Berth/Health\xff"), 0, 0,
	    INVALID | ALLOW(UNIMPLEMENTED) },
	{ "method with a NUL", build_method, NULL, S("/berth.v1.Berth/Health\0Shutdown"), 0, 0,
	    INVALID },
	{ "method of 100 KiB", build_method, NULL, NULL, 0, 0, 100 * 1024, INVALID },
	{ "method: short name", build_method, NULL, S("Health"), 0, 0,
	    ALLOW(OK) | ALLOW(UNIMPLEMENTED) },
	{ "method: wrong case", build_method, NULL, S("/berth.v1.Berth/health"), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	{ "method: another package", build_method, NULL, S("/berth.v2.Berth/Health"), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	{ "method: path traversal", build_method, NULL, S("/berth.v1.Berth/../Health"), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	{ "method: trailing slash", build_method, NULL, S("/berth.v1.Berth/Health/"), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	{ "method: trailing space", build_method, NULL, S("/berth.v1.Berth/Health "), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	{ "method: service only", build_method, NULL, S("/berth.v1.Berth/"), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	{ "method: SQL", build_method, NULL, S("/berth.v1.Berth/Health'; DROP TABLE services;--"), 0,
	    0, ALLOW(UNIMPLEMENTED) },
	{ "method: printf conversions", build_method, NULL, S("%s%s%s%n%n"), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	{ "method: a grpc.health path", build_method, NULL, S("/grpc.health.v1.Health/Check"), 0, 0,
	    ALLOW(UNIMPLEMENTED) },
	/* The other envelope fields. */
	{ "request_id of 129 bytes", build_health_string, NULL, NULL, 0, 5, 129, INVALID },
	{ "request_id with control characters", build_health_string, NULL, S("\x1b[2J\r\n"), 5, 0,
	    INVALID },
	{ "request_id with invalid UTF-8", build_health_string, NULL, S("id-\xc3\x28"), 5, 0,
	    INVALID },
	{ "token of 100 KiB", build_health_string, NULL, NULL, 0, 3, 100 * 1024, INVALID },
	{ "token with a NUL", build_health_string, NULL, S("abc\0def"), 3, 0, INVALID },
	{ "timeout_ms 1", build_health_timeout, NULL, NULL, 0, 0, 1,
	    ALLOW(OK) | ALLOW(DEADLINE_EXCEEDED) },
	{ "timeout_ms 2^32-1", build_health_timeout, NULL, NULL, 0, 0, 0xffffffffu, ALLOW(OK) },
	{ "timeout_ms -1 (10-byte varint)", build_health_timeout, NULL, NULL, 0, 0, UINT64_MAX,
	    ALLOW(OK) | INVALID },
	/* Payloads. */
	{ "Health payload 0xff 0xff", build_payload_raw, "Health", S("\xff\xff"), 0, 0, INVALID },
	{ "ListTemplates with a PutTemplate payload", build_payload_raw, "ListTemplates",
	    S("\x0a\x06\x0a\x04name"), 0, 0, ALLOW(OK) | INVALID },
	{ "Health payload of 60 KiB of zeros", build_payload_raw, "Health", NULL, 0, 0, 60 * 1024,
	    INVALID },
	{ "request over --max-request-bytes (300 KiB)", build_payload_raw, "Health", NULL, 0, 0,
	    300 * 1024, ALLOW(RESOURCE_EXHAUSTED) },
	{ "request over the transport limit (1 MiB)", build_payload_raw, "Health", NULL, 0, 0,
	    1024 * 1024, DROPPED },
	{ "request of 8 MiB", build_payload_raw, "Health", NULL, 0, 0, 8 * 1024 * 1024, DROPPED },
	{ "GetService id: SQL", build_payload_string, "GetService", S("x'; DELETE FROM services; --"),
	    1, 0, INVALID },
	{ "GetService id: path traversal", build_payload_string, "GetService", S("../../etc/passwd"), 1,
	    0, INVALID },
	{ "GetService id of 60 KiB", build_payload_string, "GetService", NULL, 0, 1, 60 * 1024,
	    INVALID },
	{ "GetService id: invalid UTF-8", build_payload_string, "GetService", S("svc\xfe\xff"), 1, 0,
	    INVALID },
	{ "GetService id with a NUL", build_payload_string, "GetService", S("svc\0x"), 1, 0, INVALID },
	{ "GetService id: overlong UTF-8 '/'", build_payload_string, "GetService", S("a\xc0\xaf"), 1,
	    0, INVALID },
	{ "GetService id: UTF-16 surrogate", build_payload_string, "GetService", S("a\xed\xa0\x80"), 1,
	    0, INVALID },
	{ "GetService id: empty", build_payload_raw, "GetService", S(""), 0, 0, INVALID },
	{ "GetService id: shell", build_payload_string, "GetService", S("$(reboot)`id`"), 1, 0,
	    INVALID },
	{ "GetTemplate name: SQL", build_payload_string, "GetTemplate", S("x' OR '1'='1"), 1, 0,
	    INVALID },
	{ "ListServices status: SQL", build_payload_string, "ListServices",
	    S("running' OR 1=1 --"), 2, 0, INVALID },
	{ "ListServices template: LIKE wildcard", build_payload_string, "ListServices", S("%"), 1, 0,
	    INVALID | ALLOW(OK) },
	{ "StopService timeout_s 4000", build_payload_string, "StopService", S("nosuch_instance_1"), 1,
	    4000, INVALID },
	{ "GetServiceLogs tail 10^9", build_payload_string, "GetServiceLogs",
	    S("nosuch_instance_1"), 1, 1000000000, INVALID },
	{ "RemoveService id '*'", build_payload_string, "RemoveService", S("*"), 1, 0, INVALID },
	{ "DeleteTemplate name empty", build_payload_raw, "DeleteTemplate", S(""), 0, 0, INVALID },
	{ "LaunchService instance: path traversal", build_launch, NULL, S("../../../../tmp/pwn"), 0, 0,
	    INVALID },
	{ "LaunchService instance: absolute path", build_launch, NULL, S("/etc"), 0, 0, INVALID },
	{ "LaunchService instance: newline", build_launch, NULL, S("a\nb"), 0, 0, INVALID },
	{ "LaunchService port 65536", build_launch, NULL, NULL, 0, 0, 65536, INVALID },
	{ "LaunchService port 2^32-1", build_launch, NULL, NULL, 0, 0, 0xffffffffu, INVALID },
	{ "LaunchService unknown template", build_launch, NULL, S("nosuchtemplate"), 1, 0,
	    ALLOW(NOT_FOUND) },
	{ "LaunchService template: shell", build_launch, NULL, S("$(reboot)"), 1, 0,
	    INVALID | ALLOW(NOT_FOUND) },
	{ "PutTemplate without a template", build_payload_raw, "PutTemplate", S(""), 0, 0, INVALID },
	{ "PutTemplate name: path traversal", build_put_template, NULL, S("../../etc"), 1, 0,
	    INVALID },
	{ "PutTemplate name: SQL", build_put_template, NULL, S("a'; DROP TABLE templates;--"), 1, 0,
	    INVALID },
	{ "PutTemplate port_range_start 70000", build_put_template, NULL, NULL, 0, 6, 70000, INVALID },
	{ "PutTemplate port_range_end below start", build_put_template, NULL, NULL, 0, 7, 5, INVALID },
	{ "PutTemplate container_port 0", build_put_template, NULL, NULL, 0, 5, 0, INVALID },
	{ "PutTemplate build_context outside the build root", build_put_template, NULL, S("/etc"), 4, 0,
	    INVALID | ALLOW(PERMISSION_DENIED) | ALLOW(FAILED_PRECONDITION) },
	{ "PutTemplate build_context relative", build_put_template, NULL, S("../../.."), 4, 0,
	    INVALID },
	{ "PutTemplate mount_path relative", build_put_template, NULL, S("data"), 8, 0, INVALID },
	{ "PutTemplate mount_path with ..", build_put_template, NULL, S("/data/../../etc"), 8, 0,
	    INVALID },
	{ "PutTemplate image: shell", build_put_template, NULL, S("evil; rm -rf /"), 3, 0,
	    INVALID },
	{ "PutTemplate env without '='", build_put_template, NULL, S("NOEQUALS"), 9, 0, INVALID },
	{ "PutTemplate 257 env entries", build_put_template, NULL, NULL, 0, 9, 257, INVALID },
	{ "PutTemplate 256 env entries of 900 bytes", build_put_template, NULL, NULL, 0, 9, 256,
	    ALLOW(OK) | INVALID },
	{ "PutTemplate description: invalid UTF-8", build_put_template, NULL, S("caf\xe9"), 2, 0,
	    INVALID },
	{ "GetStats with 1000 nested unknown fields", build_nested, NULL, NULL, 0, 0, 1000,
	    ALLOW(OK) | INVALID },
};

/* One request on a fresh connection: its code, or CODE_DROPPED when no answer came. */
static int
raw_call(const char *url, const struct bytes *msg, int timeout_ms, char *message, size_t len)
{
	Berth__V1__RpcResponse *resp;
	void *buf = NULL;
	size_t n = 0;
	int code;

	message[0] = '\0';
	/*
	 * By hand, not with an nng client: berthd cuts some of these
	 * connections, and nng 1.5.2's client can then hang for good in
	 * nng_close, which stops every later close in this process.
	 */
	switch (sp_raw_exchange(url, msg->p != NULL ? msg->p : (void *)"", msg->len, timeout_ms, &buf,
	    &n)) {
	case SP_RAW_ANSWERED:
		break;
	case SP_RAW_CLOSED:
		snprintf(message, len, "connection closed");
		return CODE_DROPPED;
	case SP_RAW_TIMEOUT:
		snprintf(message, len, "no answer in %d ms", timeout_ms);
		return CODE_DROPPED;
	default:
		snprintf(message, len, "cannot connect");
		return -1;
	}
	resp = berth__v1__rpc_response__unpack(NULL, n, buf);
	if (resp != NULL) {
		code = resp->code >= 0 && resp->code < CODE_COUNT ? (int)resp->code : BERTH__V1__CODE__UNKNOWN;
		snprintf(message, len, "%s", resp->message);
		berth__v1__rpc_response__free_unpacked(resp, NULL);
	} else {
		code = -1;
		snprintf(message, len, "an answer that is not an RpcResponse (%zu bytes)", n);
	}
	free(buf);
	return code;
}

/* Health from separate, ordinary clients on every listener: berthd serves everyone else. */
static void
others_are_served(berth_client *const *clients, int n, const char *after)
{
	for (int i = 0; i < n; i++) {
		berth_status st;
		int64_t started = clock_monotonic_ms();
		Berth__V1__HealthResponse *h = do_health(clients[i], &st);

		if (h == NULL)
			violation("after %s: Health (client %d) answered %s after %lld ms: %s", after, i,
			    berth_code_name(st.code), (long long)(clock_monotonic_ms() - started), st.message);
		else
			checked(1);
		berth_reply_free((ProtobufCMessage *)h);
	}
}

static const char *
code_label(int code)
{
	return code == CODE_DROPPED ? "dropped" : code < 0 ? "no answer at all" : berth_code_name(code);
}

/* --- raw SP over TCP: what a misbehaving peer sends -------------------------------------- */

static int
tcp_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool
send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* The SP header of a peer speaking `proto` (req0 = 0x30). */
static bool
sp_hello(int fd, uint16_t proto, bool read_answer)
{
	uint8_t hello[8] = { 0, 'S', 'P', 0, (uint8_t)(proto >> 8), (uint8_t)proto, 0, 0 }, peer[8];
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t got = 0;

	if (!send_all(fd, hello, sizeof(hello)))
		return false;
	while (read_answer && got < sizeof(peer)) {
		ssize_t n;

		if (poll(&pfd, 1, 3000) != 1 || (n = read(fd, peer + got, sizeof(peer) - got)) <= 0)
			return false;
		got += (size_t)n;
	}
	return !read_answer || memcmp(peer, "\0SP\0", 4) == 0;
}

/* One SP/TCP frame: 64-bit big-endian length, then a req0 request id, then body. */
static bool
sp_send_request(int fd, uint32_t request_id, const struct bytes *body)
{
	uint64_t len = (uint64_t)body->len + 4;
	uint8_t head[12];

	for (int i = 0; i < 8; i++)
		head[i] = (uint8_t)(len >> (56 - 8 * i));
	request_id |= 0x80000000u;
	for (int i = 0; i < 4; i++)
		head[8 + i] = (uint8_t)(request_id >> (24 - 8 * i));
	return send_all(fd, head, sizeof(head)) && send_all(fd, body->p, body->len);
}

/* True when the peer closed the connection within timeout_ms (whatever it sent first). */
static bool
closed_by_peer(int fd, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;
	char buf[4096];

	while (clock_monotonic_ms() < until) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, (int)(until - clock_monotonic_ms())) != 1)
			return false;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return true;
	}
	return false;
}

struct hostile_env {
	char tcp_url[64];
	char token[128]; /* an admin token for tcp:// */
	uint16_t tcp_port;
	berth_client *clients[2]; /* Health over ipc and over tcp */
};

/* The table, row by row, over ipc; after each, the others are served. */
static void
run_hostile_table(struct hostile_env *env)
{
	for (size_t i = 0; i < sizeof(hostile_table) / sizeof(hostile_table[0]); i++) {
		const struct hostile *h = &hostile_table[i];
		struct bytes msg = { 0 };
		char message[256], after[160];
		int code;

		h->build(h, &msg);
		code = raw_call(dmn.proc.url, &msg, 1500, message, sizeof(message));
		count_call(OP_RAW, code < 0 ? BERTH__V1__CODE__UNKNOWN : code);
		fault(F_HOSTILE, 1);
		printf("# hostile %2zu %-48s %zu bytes -> %s%s%.100s\n", i + 1, h->name, msg.len,
		    code_label(code), message[0] ? ": " : "", message);
		if (code < 0 || !(h->allowed & (1u << code)))
			violation("hostile \"%s\": answered %s: %s", h->name, code_label(code), message);
		else
			checked(1);
		free(msg.p);
		snprintf(after, sizeof(after), "hostile \"%s\"", h->name);
		others_are_served(env->clients, 2, after);
	}
}

/* Valid read-only requests, mutated: any clear code but INTERNAL, UNKNOWN or DATA_LOSS. */
static void
run_mutations(struct hostile_env *env, unsigned *rs)
{
	static const char *const methods[] = { "Health", "ListTemplates", "GetTemplate",
		"ListServices", "GetService", "GetStats", "GetStatus", "GetServiceLogs",
		"GetCleanupStatus" };
	const unsigned bad = ALLOW(INTERNAL) | ALLOW(UNKNOWN) | ALLOW(DATA_LOSS) | DROPPED;
	unsigned by_code[CODE_COUNT + 1] = { 0 };
	nng_socket sock;

	assert_int_equal(nng_req0_open(&sock), 0);
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 10000);
	assert_int_equal(nng_dial(sock, dmn.proc.url, NULL, 0), 0);
	for (int i = 0; i < lv->mutations; i++) {
		const char *m = methods[rnd(rs) % (sizeof(methods) / sizeof(methods[0]))];
		struct bytes payload = { 0 }, msg = { 0 };
		Berth__V1__RpcResponse *resp;
		void *buf = NULL;
		size_t n = 0;
		int code = -1, rv;

		/* A plausible payload: strings and numbers where these methods have them. */
		b_ld(&payload, 1, hostile_tpl, strlen(hostile_tpl));
		b_uint(&payload, 2, rnd(rs) % 200);
		b_ld(&payload, 2, "running", 7);
		for (int k = rnd_between(rs, 1, 4); k > 0; k--) {
			switch (rnd(rs) % 3) {
			case 0: /* a byte changed */
				payload.p[rnd(rs) % payload.len] = (uint8_t)rnd(rs);
				break;
			case 1: /* cut short */
				payload.len = rnd(rs) % (payload.len + 1);
				break;
			default: /* a piece of itself appended */
				if (payload.len > 0) {
					size_t from = rnd(rs) % payload.len;
					uint8_t piece[64];
					size_t take = payload.len - from < sizeof(piece) ? payload.len - from
											: sizeof(piece);
					memcpy(piece, payload.p + from, take);
					b_put(&payload, piece, take);
				}
				break;
			}
			if (payload.len == 0)
				break;
		}
		envelope_for(&msg, m, &payload);
		if (rnd(rs) % 5 == 0) /* and sometimes the envelope itself cut short */
			msg.len = rnd(rs) % (msg.len + 1);
		rv = nng_send(sock, msg.p, msg.len, 0);
		if (rv == 0 && (rv = nng_recv(sock, &buf, &n, NNG_FLAG_ALLOC)) == 0) {
			if ((resp = berth__v1__rpc_response__unpack(NULL, n, buf)) != NULL) {
				code = resp->code >= 0 && resp->code < CODE_COUNT ? (int)resp->code
										    : BERTH__V1__CODE__UNKNOWN;
				berth__v1__rpc_response__free_unpacked(resp, NULL);
			}
			nng_free(buf, n);
		} else if (rv == NNG_ETIMEDOUT) {
			code = CODE_DROPPED;
		}
		count_call(OP_RAW, code < 0 ? BERTH__V1__CODE__UNKNOWN : code);
		fault(F_MUTATED, 1);
		if (code < 0 || (bad & (1u << code)))
			violation("mutated %s request #%d (%zu bytes) answered %s", m, i, msg.len,
			    code_label(code));
		else
			by_code[code]++;
		free(payload.p);
		free(msg.p);
		if (i % 100 == 99)
			others_are_served(env->clients, 2, "mutated requests");
	}
	nng_close(sock);
	printf("# mutated requests: %d, answered OK %u, INVALID_ARGUMENT %u, NOT_FOUND %u, "
	       "UNIMPLEMENTED %u\n",
	    lv->mutations, by_code[0], by_code[BERTH__V1__CODE__INVALID_ARGUMENT],
	    by_code[BERTH__V1__CODE__NOT_FOUND], by_code[BERTH__V1__CODE__UNIMPLEMENTED]);
	others_are_served(env->clients, 2, "mutated requests");
}

/* Connects to berthd's ipc:// socket and hangs up before the SP handshake. */
static void
ipc_connect_and_hang_up(const char *url)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.107s", url + strlen("ipc://"));
	(void)connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
}

/*
 * Peers that misbehave below the RPC layer, mostly over tcp://. nng 1.5.2
 * breaks an ipc:// listener for everyone when a peer hangs up during the
 * SP handshake (nanomsg/nng#1518, fixed in 1.6.0); berthd's ipc watchdog
 * (server/ipc_watchdog.c) listens again when that happens, so the ipc
 * rows check that everyone is served again soon after, and how soon.
 */
static void
run_bad_connections(struct hostile_env *env)
{
	int idle[50], n_idle = 0, fd;
	nng_socket idle_dialer;
	bool closed;

	/* A client that connects and never sends: an nng dialer, and raw sockets with no handshake. */
	assert_int_equal(nng_req0_open(&idle_dialer), 0);
	assert_int_equal(nng_dial(idle_dialer, dmn.proc.url, NULL, 0), 0);
	for (int i = 0; i < 50; i++)
		if ((fd = tcp_connect(env->tcp_port)) >= 0)
			idle[n_idle++] = fd;
	fault(F_CONNECTION, 2);
	printf("# connections: an idle req0 dialer and %d raw TCP peers that never speak\n", n_idle);
	others_are_served(env->clients, 2, "51 connections that never send");

	/* 100 peers that close before the handshake, 20 that close in the middle of it. */
	for (int i = 0; i < 100; i++)
		if ((fd = tcp_connect(env->tcp_port)) >= 0)
			close(fd);
	for (int i = 0; i < 20; i++) {
		if ((fd = tcp_connect(env->tcp_port)) >= 0) {
			send_all(fd, "\0SP\0", 4);
			close(fd);
		}
	}
	fault(F_CONNECTION, 2);
	others_are_served(env->clients, 2, "120 connections closed before or during the handshake");

	/* The same on the ipc:// socket, where nng 1.5.2 needs berthd's watchdog. */
	{
		int64_t started = clock_monotonic_ms();
		berth_status st;
		Berth__V1__HealthResponse *h;

		for (int i = 0; i < 50; i++)
			ipc_connect_and_hang_up(dmn.proc.url);
		h = do_health(env->clients[0], &st);
		fault(F_CONNECTION, 1);
		printf("# connections: 50 ipc peers hung up before the handshake; Health over ipc "
		       "answered %s after %lld ms\n",
		    berth_code_name(st.code), (long long)(clock_monotonic_ms() - started));
		if (h == NULL)
			violation("connections: Health over ipc answered %s after 50 peers hung up "
				  "before the handshake: %s",
			    berth_code_name(st.code), st.message);
		else
			checked(1);
		berth_reply_free((ProtobufCMessage *)h);
		pthread_mutex_lock(&report.lock);
		report.ipc_recovery_ms = (long)(clock_monotonic_ms() - started);
		pthread_mutex_unlock(&report.lock);
		others_are_served(env->clients, 2, "50 ipc peers that hung up before the handshake");
	}

	/* HTTP to the RPC port, a pub0 peer, a frame over the limit, a frame too short: all dropped. */
	struct {
		const char *name;
		int what;
	} drops[] = { { "HTTP request", 0 }, { "SP handshake as pub0", 1 },
		{ "frame of 2^62 bytes", 2 }, { "frame shorter than a request id", 3 } };
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		static const char http[] = "GET / HTTP/1.1\r\nHost: berthd\r\n\r\n";
		static const uint8_t huge[8] = { 0x40, 0, 0, 0, 0, 0, 0, 0 };
		static const uint8_t tiny[10] = { 0, 0, 0, 0, 0, 0, 0, 2, 0x80, 0 };
		bool sent;

		fd = tcp_connect(env->tcp_port);
		assert_true(fd >= 0);
		switch (drops[i].what) {
		case 0:
			sent = send_all(fd, http, sizeof(http) - 1);
			break;
		case 1:
			sent = sp_hello(fd, 0x20, false);
			break;
		case 2:
			sent = sp_hello(fd, 0x30, true) && send_all(fd, huge, sizeof(huge));
			break;
		default:
			sent = sp_hello(fd, 0x30, true) && send_all(fd, tiny, sizeof(tiny));
			break;
		}
		closed = closed_by_peer(fd, 5000);
		close(fd);
		fault(F_CONNECTION, 1);
		count_call(OP_RAW, CODE_DROPPED);
		printf("# connections: %s: %s\n", drops[i].name,
		    closed ? "dropped by berthd" : sent ? "NOT dropped within 5 s" : "could not send");
		if (!closed)
			violation("connections: %s was not dropped", drops[i].name);
		else
			checked(1);
		others_are_served(env->clients, 2, drops[i].name);
	}
	for (int i = 0; i < n_idle; i++)
		close(idle[i]);
	nng_close(idle_dialer);
	others_are_served(env->clients, 2, "the idle connections went away");
}

/*
 * A client that sends and never reads: 64 requests whose answers are about
 * 800 KiB each (four templates of 200 KiB), never read, so its connection's
 * buffers fill up and berthd's replies to it cannot leave. Health from
 * other clients must still be answered, promptly.
 */
static void
run_never_reading_client(struct hostile_env *env)
{
	struct bytes list = { 0 };
	int64_t until, worst = 0;
	berth_status st;
	int fd, sent = 0;

	for (int i = 0; i < 4; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%sflood%d", tpl_prefix, i);
		if (put_big_template(&dmn, name, &st) != 0)
			fail_msg("PutTemplate %s: %s: %s", name, berth_code_name(st.code), st.message);
	}
	envelope_for(&list, "ListTemplates", NULL);
	b_ld(&list, 3, env->token, strlen(env->token));
	fd = tcp_connect(env->tcp_port);
	assert_true(fd >= 0);
	assert_true(sp_hello(fd, 0x30, true));
	for (int i = 0; i < 64; i++)
		sent += sp_send_request(fd, (uint32_t)i + 1, &list);
	fault(F_CONNECTION, 1);
	printf("# never reads: %d ListTemplates requests sent, no answer read\n", sent);
	until = clock_monotonic_ms() + lv->flood_ms;
	while (clock_monotonic_ms() < until) {
		for (int i = 0; i < 2; i++) {
			int64_t started = clock_monotonic_ms(), took;
			Berth__V1__HealthResponse *h = do_health(env->clients[i], &st);

			took = clock_monotonic_ms() - started;
			if (took > worst)
				worst = took;
			if (h == NULL)
				violation("never reads: Health (client %d) answered %s after %lld ms: %s", i,
				    berth_code_name(st.code), (long long)took, st.message);
			else
				checked(1);
			berth_reply_free((ProtobufCMessage *)h);
		}
		clock_sleep_ms(250);
	}
	printf("# never reads: the slowest Health beside it took %lld ms\n", (long long)worst);
	pthread_mutex_lock(&report.lock);
	report.flood_health_ms = (long)worst;
	pthread_mutex_unlock(&report.lock);
	if (worst > 8000)
		violation("never reads: Health took %lld ms beside a client that never reads",
		    (long long)worst);
	close(fd);
	free(list.p);
	others_are_served(env->clients, 2, "the client that never read went away");
}

/* 8. Malformed and malicious requests, mutated ones, bad connections: berthd serves on. */
static void
test_hostile_requests_get_clear_codes_and_berthd_serves_everyone_else(void **state)
{
	unsigned before = atomic_load(&report.violations), rs = seed ^ 0x1b873593u;
	static struct hostile_env env;
	/* tcp:// needs tokens (one for the admin, made offline); ipc callers are admin. */
	const char *args[] = { "--listen", NULL, "--ipc-admin", "on", "--max-request-bytes", "262144",
		NULL };
	char data_dir[PATH_MAX], cmd[PATH_MAX * 2];
	const char *b = getenv("BUILD");
	berth_status st;
	FILE *p;

	(void)state;
	memset(&env, 0, sizeof(env));
	env.tcp_port = slice(5);
	snprintf(env.tcp_url, sizeof(env.tcp_url), "tcp://127.0.0.1:%u", env.tcp_port);
	args[1] = env.tcp_url;
	snprintf(data_dir, sizeof(data_dir), "%s/hostile", chaos_root);
	assert_int_equal(mkdir(data_dir, 0750), 0);
	snprintf(cmd, sizeof(cmd), "%s/berthd token create --name chaos --role admin --data-dir %s",
	    b != NULL && b[0] ? b : "build", data_dir);
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(env.token, sizeof(env.token), p));
	pclose(p);
	env.token[strcspn(env.token, "\n")] = '\0';
	tpl_name(hostile_tpl, sizeof(hostile_tpl), "hostile");
	assert_int_equal(daemon_start(&dmn, "hostile", args), 0);
	demo_template(&dmn, hostile_tpl, slice(5) + 2, 4, 2, NULL, 0);
	assert_int_equal(berth_open(&env.clients[0], dmn.proc.url, &(berth_options){ NULL, 30000 },
			     &st),
	    0);
	assert_int_equal(berth_open(&env.clients[1], env.tcp_url,
			     &(berth_options){ env.token, 30000 }, &st),
	    0);
	others_are_served(env.clients, 2, "start-up");

	run_hostile_table(&env);
	run_mutations(&env, &rs);
	run_bad_connections(&env);
	run_never_reading_client(&env);

	check_agreement(&dmn, "after the hostile requests", 3000);
	if (kill(dmn.proc.pid, 0) != 0)
		violation("hostile: berthd is gone");
	berth_close(env.clients[0]);
	berth_close(env.clients[1]);
	expect_no_violations_since(before);
}

/* --- valgrind ----------------------------------------------------------------------------------- */

/* "definitely lost: 1,234 bytes in 5 blocks" -> 1234; 0 when absent. */
static long
valgrind_number(const char *log, const char *key)
{
	const char *p = strstr(log, key);
	long n = 0;

	if (p == NULL)
		return 0;
	for (p += strlen(key); *p == ' '; p++)
		;
	for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
		if (*p != ',')
			n = n * 10 + (*p - '0');
	return n;
}

/* 9. (full) berthd under valgrind through a shorter load: no memory definitely lost. */
static void
test_valgrind_finds_no_leak_in_berthd_under_load(void **state)
{
	unsigned before = atomic_load(&report.violations);
	static struct load l;
	char vlog[PATH_MAX], opt[PATH_MAX + 16], tpl[40];
	const char *wrapper[] = { "valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
		"--num-callers=30", opt, NULL };
	const char *args[] = { "--on-exit", "remove", NULL };
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int status;

	(void)state;
	if (lv->valgrind_seconds == 0) {
		printf("# SKIPPED at level %s: make chaos runs berthd under valgrind\n", lv->name);
		skip();
	}
	if (system("valgrind --version >/dev/null 2>&1") != 0) {
		printf("# SKIPPED: valgrind is not installed\n");
		note("valgrind run skipped: valgrind not installed");
		skip();
	}
	snprintf(vlog, sizeof(vlog), "%.4000s/valgrind.log", log_dir);
	snprintf(opt, sizeof(opt), "--log-file=%s", vlog);
	tpl_name(tpl, sizeof(tpl), "vg");
	assert_int_equal(daemon_start_in(&dmn, "valgrind", NULL, args, wrapper, 120000), 0);
	demo_template(&dmn, tpl, slice(6), 20, 2, NULL, 0);
	memset(&l, 0, sizeof(l));
	l.d = &dmn;
	l.phase = "valgrind";
	l.not_peak = true;
	l.tpl = tpl;
	l.clients = 8;
	run_load(&l, lv->valgrind_seconds, NULL);
	print_load(&l, (int64_t)lv->valgrind_seconds * 1000);
	quiesce(&dmn, 30000);
	check_agreement(&dmn, "under valgrind", 10000);
	berth_close(dmn.client);
	dmn.client = NULL;
	status = berthd_proc_stop(&dmn.proc, 180);
	printf("# valgrind: berthd exited with %d\n", status);
	if ((f = fopen(vlog, "r")) != NULL) {
		char chunk[4096];
		size_t n;

		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
			text = realloc(text, len + n + 1);
			memcpy(text + len, chunk, n);
			len += n;
		}
		fclose(f);
	}
	if (text == NULL)
		fail_msg("no valgrind log at %s", vlog);
	text[len] = '\0';
	pthread_mutex_lock(&report.lock);
	report.valgrind_ran = true;
	report.valgrind_lost = valgrind_number(text, "definitely lost:");
	report.valgrind_errors = valgrind_number(text, "ERROR SUMMARY:");
	pthread_mutex_unlock(&report.lock);
	printf("# valgrind: definitely lost %ld bytes, %ld errors (log %s)\n", report.valgrind_lost,
	    report.valgrind_errors, vlog);
	if (status != 0)
		violation("valgrind: berthd exited with %d", status);
	if (report.valgrind_lost != 0)
		violation("valgrind: %ld bytes definitely lost (see %s)", report.valgrind_lost, vlog);
	else
		checked(1);
	if (report.valgrind_errors != 0)
		violation("valgrind: %ld memcheck errors (see %s)", report.valgrind_errors, vlog);
	else
		checked(1);
	if (strstr(text, "ERROR SUMMARY:") == NULL)
		violation("valgrind: no summary in %s", vlog);
	free(text);
	expect_no_violations_since(before);
}

/* --- the report ----------------------------------------------------------------------- */

static void
machine(char *out, size_t len)
{
	struct utsname u;
	char model[128] = "unknown CPU", line[256], engine[64] = "", distro[64] = "Linux";
	FILE *f = fopen("/proc/cpuinfo", "r");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long mem_kb = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (has_prefix(line, "model name") && colon != NULL) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f != NULL)
		fclose(f);
	if ((f = fopen("/proc/meminfo", "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL && has_prefix(line, "MemTotal:"))
			mem_kb = strtol(line + 9, NULL, 10);
		fclose(f);
	}
	/* Docker's own version: the CLI asks the engine (the API version is a poor stand-in). */
	if ((f = popen("docker version --format '{{.Server.Version}}' 2>/dev/null", "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			snprintf(engine, sizeof(engine), "%.40s", line);
		engine[strcspn(engine, "\n")] = '\0';
		pclose(f);
	}
	if (engine[0] == '\0')
		snprintf(engine, sizeof(engine), "API %s", docker_api_version(docker));
	if ((f = fopen("/etc/debian_version", "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			snprintf(distro, sizeof(distro), "Debian %.40s", line);
		distro[strcspn(distro, "\n")] = '\0';
		fclose(f);
	}
	uname(&u);
	snprintf(out, len, "%ld cores (%.60s), %ld GiB RAM, %.40s, Linux %.40s, Docker %.40s", cpus,
	    model, mem_kb / 1048576, distro, u.release, engine);
}

/* One line per figure; Markdown table rows when md. */
static void
report_line(FILE *f, bool md, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report_line(FILE *f, bool md, const char *what, const char *fmt, ...)
{
	char value[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (md)
		fprintf(f, "| %s | %s |\n", what, value);
	else
		fprintf(f, "  %-34s %s\n", what, value);
}

static void
print_report(FILE *f, bool md)
{
	unsigned long total = 0, by_code[CODE_COUNT + 1] = { 0 };
	char buf[1024], host[256], date[32];
	time_t t = time(NULL);
	size_t len;

	strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&t));
	machine(host, sizeof(host));
	if (md) {
		fprintf(f, "| figure | value |\n| --- | --- |\n");
	} else {
		fprintf(f, "\n=== berth chaos report ===\n");
	}
	report_line(f, md, "run", "level %s, seed %u, %s, %lld s", lv->name, seed, date,
	    (long long)((clock_monotonic_ms() - report.started_ms) / 1000));
	report_line(f, md, "machine", "%s", host);
	for (int op = 0; op < OP_COUNT; op++)
		for (int c = 0; c <= CODE_COUNT; c++) {
			total += atomic_load(&report.calls[op][c]);
			by_code[c] += atomic_load(&report.calls[op][c]);
		}
	len = 0;
	buf[0] = '\0';
	for (int op = 0; op < OP_COUNT; op++) {
		unsigned long n = 0;

		for (int c = 0; c <= CODE_COUNT; c++)
			n += atomic_load(&report.calls[op][c]);
		if (n > 0 && len < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s %lu",
			    len ? ", " : "", op_names[op], n);
	}
	report_line(f, md, "operations", "%lu (%s)", total, buf);
	len = 0;
	buf[0] = '\0';
	for (int c = 1; c <= CODE_COUNT; c++)
		if (by_code[c] > 0 && len < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s %lu",
			    len ? ", " : "", c == CODE_DROPPED ? "dropped" : berth_code_name(c),
			    by_code[c]);
	report_line(f, md, "errors by code", "%s", len ? buf : "none");
	for (int op = 0; op < OP_COUNT && !md; op++) {
		char codes[512] = "";
		size_t l2 = 0;

		for (int c = 1; c <= CODE_COUNT; c++)
			if (atomic_load(&report.calls[op][c]) > 0 && l2 < sizeof(codes))
				l2 += (size_t)snprintf(codes + l2, sizeof(codes) - l2, "%s%s %u",
				    l2 ? ", " : "", c == CODE_DROPPED ? "dropped" : berth_code_name(c),
				    atomic_load(&report.calls[op][c]));
		if (atomic_load(&report.calls[op][0]) + l2 > 0)
			fprintf(f, "    %-32s OK %u%s%s\n", op_names[op], atomic_load(&report.calls[op][0]),
			    l2 ? ", " : "", codes);
	}
	len = 0;
	buf[0] = '\0';
	for (int i = 0; i < F_COUNT; i++)
		if (len < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s %u", len ? ", " : "",
			    fault_names[i], atomic_load(&report.faults[i]));
	report_line(f, md, "faults injected", "%s", buf);
	report_line(f, md, "Docker away in total", "%ld ms; back to launching within %ld ms",
	    report.outage_ms, report.recovery_ms_max);
	report_line(f, md, "invariants checked", "%lu", atomic_load(&report.invariants));
	report_line(f, md, "violations found", "%u", atomic_load(&report.violations));
	report_line(f, md, "berthd peak RSS", "%.1f MiB (load: max %.1f MiB in the first half, "
					       "%.1f MiB in the second, %d samples)",
	    report.peak_rss_kb / 1024.0, report.load_rss_first_kb / 1024.0,
	    report.load_rss_second_kb / 1024.0, report.load_rss_samples);
	if (report.flood_health_ms > 0)
		report_line(f, md, "Health beside a client that never reads", "answered in %ld ms at worst",
		    report.flood_health_ms);
	if (report.ipc_recovery_ms > 0)
		report_line(f, md, "Health after 50 ipc peers hung up in the handshake",
		    "answered after %ld ms (nng 1.5.2 bug, berthd's ipc watchdog)", report.ipc_recovery_ms);
	if (report.valgrind_ran)
		report_line(f, md, "valgrind (berthd under load)",
		    "definitely lost %ld bytes, %ld errors (memcheck)", report.valgrind_lost,
		    report.valgrind_errors);
	else
		report_line(f, md, "valgrind (berthd under load)",
		    "not run at level %s (make chaos runs it)", lv->name);
	for (unsigned i = 0; i < report.n_notes; i++)
		report_line(f, md, "note", "%s", report.notes[i]);
	for (unsigned i = 0; i < report.n_listed; i++)
		report_line(f, md, "violation", "%s", report.listed[i]);
	if (!md)
		fprintf(f, "===\n");
	fflush(f);
}

/* --- fixtures --------------------------------------------------------------------------- */

/* Unmounts and deletes what crashed earlier runs left in /tmp. */
static void
sweep_dead_runs(void)
{
	unsigned removed = remove_suite_containers(CHAOS_ROOT_PREFIX, true);

	if (removed > 0)
		printf("# removed %u containers of earlier chaos runs that did not finish\n", removed);
	run_quiet("for d in " CHAOS_ROOT_PREFIX "*; do [ -d \"$d\" ] || continue; "
		  "p=${d#" CHAOS_ROOT_PREFIX "}; kill -0 \"$p\" 2>/dev/null && continue; "
		  "umount -l \"$d\"/*/ 2>/dev/null; rm -rf \"$d\"; done; true");
}

static void
unmount_tmpfs(void)
{
	if (mounted[0] == '\0')
		return;
	if (umount2(mounted, MNT_DETACH) != 0)
		fprintf(stderr, "# cannot unmount %s: %s\n", mounted, strerror(errno));
	mounted[0] = '\0';
}

static int
setup_group(void **state)
{
	const char *level = getenv("BERTH_CHAOS_LEVEL"), *s = getenv("BERTH_CHAOS_SEED");
	const char *b = getenv("BUILD");
	char build[PATH_MAX], err[256];

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* raw sockets write to peers that hung up */
	report.started_ms = clock_monotonic_ms();
	lv = &levels[level != NULL && strcmp(level, "full") == 0 ? 1 : 0];
	if (level != NULL && strcmp(level, "full") != 0 && strcmp(level, "quick") != 0) {
		fprintf(stderr, "BERTH_CHAOS_LEVEL must be quick or full, not %s\n", level);
		return -1;
	}
	seed = s != NULL ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	snprintf(build, sizeof(build), "%s/demo", b != NULL && b[0] ? b : "build");
	if (realpath(build, demo_context) == NULL) {
		fprintf(stderr, "no demo build context at %s: run make demo\n", build);
		return -1;
	}
	if (docker_open(&docker, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "docker_open: %s\n", err);
		return -1;
	}
	sweep_dead_runs();
	snprintf(chaos_root, sizeof(chaos_root), CHAOS_ROOT_PREFIX "%d", (int)getpid());
	if (mkdir(chaos_root, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "cannot create %s: %s\n", chaos_root, strerror(errno));
		return -1;
	}
	snprintf(tpl_prefix, sizeof(tpl_prefix), "ch%d", (int)getpid());
	snprintf(log_dir, sizeof(log_dir), "%s/chaos-logs", b != NULL && b[0] ? b : "build");
	run_quiet("rm -rf '%s' && mkdir -p '%s'", log_dir, log_dir);
	port_base = (uint16_t)(10000 + (getpid() % 9) * 200);
	printf("# chaos level=%s seed=%u (BERTH_CHAOS_SEED repeats it) ports=%u-%u root=%s\n",
	    lv->name, seed, port_base, port_base + 199, chaos_root);
	return 0;
}

static int
teardown_test(void **state)
{
	(void)state;
	daemon_destroy(&dmn);
	docker_proxy_stop(&proxy);
	unmount_tmpfs();
	return 0;
}

static int
teardown_group(void **state)
{
	const char *path = getenv("BERTH_CHAOS_REPORT");
	char prefix[sizeof(chaos_root) + 1];
	unsigned left;

	(void)state;
	teardown_test(NULL);
	snprintf(prefix, sizeof(prefix), "%s/", chaos_root);
	if ((left = remove_suite_containers(prefix, false)) > 0)
		printf("# removed %u leftover containers\n", left);
	run_quiet("rm -rf '%s'", chaos_root);
	print_report(stdout, false);
	if (path != NULL && path[0] != '\0') {
		FILE *f = fopen(path, "w");

		if (f != NULL) {
			print_report(f, true);
			fclose(f);
		} else {
			fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		}
	}
	docker_close(docker);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_load_sixteen_clients_keep_ports_names_and_memory_in_line,
		    teardown_test),
		cmocka_unit_test_teardown(
		    test_docker_outage_under_load_answers_unavailable_and_recovers_by_itself,
		    teardown_test),
		cmocka_unit_test_teardown(
		    test_sigkill_at_random_points_keeps_every_answered_call_and_the_registry_true,
		    teardown_test),
		cmocka_unit_test_teardown(
		    test_disk_full_refuses_changes_clearly_and_resumes_when_space_returns, teardown_test),
		cmocka_unit_test_teardown(
		    test_container_exiting_at_once_is_launched_then_recorded_as_exited, teardown_test),
		cmocka_unit_test_teardown(
		    test_container_ignoring_sigterm_is_killed_when_the_stop_timeout_ends, teardown_test),
		cmocka_unit_test_teardown(
		    test_port_taken_between_allocation_and_start_moves_on_or_leaves_nothing,
		    teardown_test),
		cmocka_unit_test_teardown(
		    test_hostile_requests_get_clear_codes_and_berthd_serves_everyone_else, teardown_test),
		cmocka_unit_test_teardown(test_valgrind_finds_no_leak_in_berthd_under_load,
		    teardown_test),
	};

	/* BERTH_CHAOS_ONLY='*outage*' runs the matching tests only. */
	if (getenv("BERTH_CHAOS_ONLY") != NULL)
		cmocka_set_test_filter(getenv("BERTH_CHAOS_ONLY"));
	return cmocka_run_group_tests_name("chaos", tests, setup_group, teardown_group);
}
