/*
 * chaos.c - the chaos suites' framework (see chaos.h): the level, the
 * counted RPCs and the report, the invariants, the load, the fixtures.
 *
 * What the suites found is counted in chaos_report from any thread;
 * chaos_teardown_group prints it (and appends it, as Markdown, to
 * $BERTH_CHAOS_REPORT) once the suite's tests have run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "chaos.h"
#include "clock.h"
#include "engine/docker.h"

/* --- how hard: quick (make test) or full (make chaos) ------------------------ */

static const struct chaos_level chaos_levels[] = {
	{ "quick", 16, 8, 3, 900, 6, 1, 2000, 300, 7000, 0, 3000 },
	{ "full", 16, 150, 30, 2500, 30, 2, 5000, 4000, 12000, 40, 20000 },
};
const struct chaos_level *chaos_lv;
unsigned chaos_seed;

/* --- the report -------------------------------------------------------------- */

const char *const chaos_op_names[OP_COUNT] = { "LaunchService", "ListServices", "GetService",
	"StopService", "RestartService", "RemoveService", "GetStats", "Health",
	"Put/DeleteTemplate", "other RPCs", "raw (hostile)" };

static const char *const fault_names[F_COUNT] = { "berthd killed (SIGKILL)",
	"Docker outages (proxy down)", "disk full (2 MiB tmpfs)", "containers exiting at once",
	"containers ignoring SIGTERM", "host ports taken before start", "hostile requests (table)",
	"mutated requests", "misbehaving connections" };

struct chaos_report chaos_report = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* An invariant held: counted for the report. */
void
chaos_checked(unsigned long n)
{
	atomic_fetch_add(&chaos_report.invariants, n);
}

/* An invariant broke: counted, printed, the first few kept for the report. Any thread. */
void __attribute__((format(printf, 1, 2)))
chaos_violation(const char *fmt, ...)
{
	char text[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	atomic_fetch_add(&chaos_report.violations, 1);
	chaos_checked(1);
	printf("# VIOLATION: %s\n", text);
	fflush(stdout);
	pthread_mutex_lock(&chaos_report.lock);
	if (chaos_report.n_listed < MAX_LISTED)
		snprintf(chaos_report.listed[chaos_report.n_listed++], sizeof(chaos_report.listed[0]), "%s", text);
	pthread_mutex_unlock(&chaos_report.lock);
}

void __attribute__((format(printf, 1, 2)))
chaos_note(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&chaos_report.lock);
	if (chaos_report.n_notes < sizeof(chaos_report.notes) / sizeof(chaos_report.notes[0])) {
		va_start(ap, fmt);
		vsnprintf(chaos_report.notes[chaos_report.n_notes++], sizeof(chaos_report.notes[0]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&chaos_report.lock);
}

void
chaos_fault(enum chaos_fault f, unsigned n)
{
	atomic_fetch_add(&chaos_report.faults[f], n);
}

void
chaos_count_call(enum chaos_op op, int code)
{
	if (code < 0 || code > CODE_COUNT)
		code = BERTH__V1__CODE__UNKNOWN;
	atomic_fetch_add(&chaos_report.calls[op][code], 1);
}

/* Fails the running test when it found violations; the message names the first. */
void
chaos_expect_no_violations_since(unsigned before)
{
	unsigned now = atomic_load(&chaos_report.violations);

	if (now != before)
		fail_msg("%u violation(s); the first of the run: %s", now - before,
		    chaos_report.n_listed > 0 ? chaos_report.listed[0] : "(none listed)");
}

void
chaos_note_rss(long kb)
{
	pthread_mutex_lock(&chaos_report.lock);
	if (kb > chaos_report.peak_rss_kb)
		chaos_report.peak_rss_kb = kb;
	pthread_mutex_unlock(&chaos_report.lock);
}

/* --- per-thread randomness ------------------------------------------------------- */

unsigned
chaos_rnd(unsigned *state)
{
	/* xorshift32: small, good enough, and its state is the caller's. */
	unsigned x = *state != 0 ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

int
chaos_rnd_between(unsigned *state, int lo, int hi)
{
	return lo + (int)(chaos_rnd(state) % (unsigned)(hi - lo + 1));
}

/* --- the suite's directory, containers, ports ----------------------------------- */

struct docker *chaos_docker;
char chaos_root[64];
static uint16_t port_base;
char chaos_tpl_prefix[24]; /* "ch<pid>": template names, so container names never collide */
char chaos_log_dir[PATH_MAX]; /* $BUILD/chaos-logs: each berthd's log, kept */

/* Slice `slot` of the suite's 200 ports: 10000-11999, away from every other suite. */
uint16_t
chaos_slice(int slot)
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

		if (docker_container_list(chaos_docker, labels[l], &list, &n, 30000, &err) != 0)
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
			if (docker_container_remove(chaos_docker, list[i].id, true, 30000, &err) == 0)
				removed++;
		}
		free(list);
	}
	return removed;
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

struct chaos_daemon chaos_dmn;             /* the running test's berthd */
struct docker_proxy chaos_proxy = { .listen_fd = -1 };
char chaos_mounted[PATH_MAX];       /* a tmpfs of the disk-full test, to unmount */

int
chaos_daemon_connect(struct chaos_daemon *d)
{
	return e2e_daemon_connect(&d->e, CALL_TIMEOUT_MS);
}

/*
 * Starts berthd on <chaos_root>/<name> (or on data_dir when not NULL) with
 * the NULL-terminated extra arguments, under `wrapper` when not NULL.
 */
int
chaos_daemon_start_in(struct chaos_daemon *d, const char *name, const char *data_dir,
    const char *const *extra, const char *const *wrapper, int wait_ms)
{
	int n = 0;

	berth_close(d->e.client);
	memset(d, 0, sizeof(*d));
	if (data_dir != NULL)
		snprintf(d->data_dir, sizeof(d->data_dir), "%s", data_dir);
	else
		snprintf(d->data_dir, sizeof(d->data_dir), "%s/%s", chaos_root, name);
	snprintf(d->e.label, sizeof(d->e.label), "%s=%s", DOCKER_LABEL_DATA_DIR, d->data_dir);
	d->args[n++] = "--data-dir";
	d->args[n++] = d->data_dir;
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 22; i++)
		d->args[n++] = extra[i];
	d->args[n] = NULL;
	if (berthd_proc_start_wrapped(&d->e.proc, wrapper, wait_ms, d->args) != 0)
		return -1;
	return chaos_daemon_connect(d);
}

int
chaos_daemon_start(struct chaos_daemon *d, const char *name, const char *const *extra)
{
	return chaos_daemon_start_in(d, name, NULL, extra, NULL, 10000);
}

int
chaos_daemon_restart(struct chaos_daemon *d)
{
	if (berthd_proc_restart(&d->e.proc, d->args) != 0)
		return -1;
	return chaos_daemon_connect(d);
}

void
chaos_daemon_kill(struct chaos_daemon *d)
{
	berthd_proc_kill(&d->e.proc);
	chaos_fault(F_SIGKILL, 1);
}

/* Kills berthd (no shutdown work), removes its containers and its directories. */
void
chaos_daemon_destroy(struct chaos_daemon *d)
{
	berthd_proc_kill(&d->e.proc);
	/* berthd's log outlives it, for whoever reads a failure. */
	if (d->e.proc.dir[0] != '\0' && chaos_log_dir[0] != '\0')
		run_quiet("cp '%s' '%s/%s.log' 2>/dev/null", d->e.proc.log_path, chaos_log_dir,
		    strrchr(d->data_dir, '/') + 1);
	e2e_daemon_destroy(&d->e, false); /* with its containers, by label */
	memset(d, 0, sizeof(*d));
}

long
chaos_proc_status_kb(pid_t pid, const char *key)
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

int
chaos_rpc(berth_client *c, enum chaos_op op, const char *method, const ProtobufCMessage *req,
    ProtobufCMessage **reply, berth_status *st)
{
	berth_status local;
	int rc;

	if (st == NULL)
		st = &local;
	*reply = NULL;
	rc = berth_call(c, method, req, reply, st);
	chaos_count_call(op, rc);
	return rc;
}

int
chaos_put_template(struct chaos_daemon *d, const char *name, uint16_t first, uint16_t count,
    uint32_t stop_timeout_s, char **env, size_t n_env, berth_status *st)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status local;
	int rc;

	t.name = (char *)name;
	t.description = "berth's demo HTTP service, for the chaos suite";
	e2e_demo_template(&t, name, first, (uint16_t)(first + count - 1));
	t.env = env;
	t.n_env = n_env;
	t.stop_timeout_s = stop_timeout_s;
	put.template_ = &t;
	rc = chaos_rpc(d->e.client, OP_TEMPLATE, "PutTemplate", &put.base, &reply, st != NULL ? st : &local);
	berth_reply_free(reply);
	return rc;
}

/* The demo template `name` with `count` ports from `first`; fails the test when refused. */
void
chaos_demo_template(struct chaos_daemon *d, const char *name, uint16_t first, uint16_t count,
    uint32_t stop_timeout_s, char **env, size_t n_env)
{
	berth_status st;

	if (chaos_put_template(d, name, first, count, stop_timeout_s, env, n_env, &st) != 0)
		fail_msg("PutTemplate %s: %s: %s", name, berth_code_name(st.code), st.message);
}

void
chaos_tpl_name(char *out, size_t len, const char *what)
{
	snprintf(out, len, "%s%s", chaos_tpl_prefix, what);
}

/* LaunchService; on success copies id and port out. */
int
chaos_launch(berth_client *c, const char *tpl, char *id, uint32_t *port, berth_status *st)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *r = NULL;
	int rc;

	req.template_ = (char *)tpl;
	req.instance = "";
	rc = chaos_rpc(c, OP_LAUNCH, "LaunchService", &req.base, (ProtobufCMessage **)&r, st);
	if (rc == 0) {
		if (id != NULL)
			snprintf(id, ID_LEN, "%s", r->service->service_id);
		if (port != NULL)
			*port = r->service->port;
	}
	berth_reply_free((ProtobufCMessage *)r);
	return rc;
}

int
chaos_by_id(berth_client *c, enum chaos_op op, const char *id, uint32_t arg, berth_status *st)
{
	ProtobufCMessage *reply = NULL;
	int rc;

	switch (op) {
	case OP_STOP: {
		Berth__V1__StopServiceRequest req = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
		req.service_id = (char *)id;
		req.timeout_s = arg;
		rc = chaos_rpc(c, op, "StopService", &req.base, &reply, st);
		break;
	}
	case OP_RESTART: {
		Berth__V1__RestartServiceRequest req = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
		req.service_id = (char *)id;
		rc = chaos_rpc(c, op, "RestartService", &req.base, &reply, st);
		break;
	}
	case OP_REMOVE: {
		Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
		req.service_id = (char *)id;
		req.purge = true;
		rc = chaos_rpc(c, op, "RemoveService", &req.base, &reply, st);
		break;
	}
	case OP_GET: {
		Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
		req.service_id = (char *)id;
		req.registry_only = arg != 0;
		rc = chaos_rpc(c, op, "GetService", &req.base, &reply, st);
		break;
	}
	default:
		return -1;
	}
	berth_reply_free(reply);
	return rc;
}

Berth__V1__ListServicesResponse *
chaos_list(berth_client *c, berth_status *st)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	if (chaos_rpc(c, OP_LIST, "ListServices", &req.base, &reply, st) != 0)
		return NULL;
	return (Berth__V1__ListServicesResponse *)reply;
}

int
chaos_stats(berth_client *c, berth_status *st)
{
	Berth__V1__GetStatsRequest req = BERTH__V1__GET_STATS_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	int rc = chaos_rpc(c, OP_STATS, "GetStats", &req.base, &reply, st);

	berth_reply_free(reply);
	return rc;
}

Berth__V1__HealthResponse *
chaos_health(berth_client *c, berth_status *st)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	if (chaos_rpc(c, OP_HEALTH, "Health", &req.base, &reply, st) != 0)
		return NULL;
	return (Berth__V1__HealthResponse *)reply;
}

const Berth__V1__Service *
chaos_find_row(const Berth__V1__ListServicesResponse *r, const char *id)
{
	for (size_t i = 0; r != NULL && i < r->n_services; i++)
		if (strcmp(r->services[i]->service_id, id) == 0)
			return r->services[i];
	return NULL;
}

/* PutTemplate of about 200 KiB: enough to need fresh pages in SQLite's WAL. */
int
chaos_put_big_template(struct chaos_daemon *d, const char *name, berth_status *st)
{
	static char values[200][1001];
	static char *env[200];

	for (int i = 0; i < 200; i++) {
		snprintf(values[i], sizeof(values[i]), "BIG%d=", i);
		memset(values[i] + strlen(values[i]), 'v', 1000 - strlen(values[i]));
		values[i][1000] = '\0';
		env[i] = values[i];
	}
	return chaos_put_template(d, name, chaos_slice(3) + 10, 5, 2, env, 200, st);
}

/* Removes every service through berthd (best effort, for clean slates). */
void
chaos_remove_all_services(struct chaos_daemon *d)
{
	Berth__V1__ListServicesResponse *list = chaos_list(d->e.client, NULL);

	for (size_t i = 0; list != NULL && i < list->n_services; i++)
		chaos_by_id(d->e.client, OP_REMOVE, list->services[i]->service_id, 0, NULL);
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
agreement_pass(struct chaos_daemon *d, char *why, size_t len, unsigned long *checks)
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
	if (docker_container_list(chaos_docker, d->e.label, &list, &n, 30000, &err) != 0) {
		snprintf(why, len, "cannot list containers: %.200s", err.message);
		return -1;
	}
	if ((rows = chaos_list(d->e.client, &st)) == NULL) {
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
void
chaos_check_integrity(struct chaos_daemon *d, const char *when)
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
		chaos_violation("%s: integrity_check of %s: %s", when, path, result);
	else
		chaos_checked(1);
}

/*
 * The registry and Docker agree exactly, allowing `settle_ms` for what is
 * still arriving (Docker's events, a reconnecting follower); then the
 * registry's integrity. Disagreement that outlasts settle_ms is a violation.
 */
void
chaos_check_agreement(struct chaos_daemon *d, const char *when, int settle_ms)
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
		clock_sleep_ms(250); /* each pass is two listings: a poll's pace, with a deadline */
	}
	if (problems != 0)
		chaos_violation("%s: registry and Docker disagree (%d problem%s): %s", when, problems,
		    problems == 1 ? "" : "s", why);
	else
		chaos_checked(checks);
	chaos_check_integrity(d, when);
}

/* --- load: clients, a checker, an RSS sampler ------------------------------------------ */

struct load_client {
	struct chaos_load *l;
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
expected_under_load(enum chaos_op op, int code, bool docker_away)
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
	struct chaos_load *l = lc->l;

	while (!atomic_load(&l->stop)) {
		unsigned gen_before = atomic_load(&l->outage_gen), gen_after;
		int r = chaos_rnd_between(&lc->seed, 0, 99), pick = -1, rc;
		const char *target = "";
		enum chaos_op op;
		berth_status st = { 0 };

		if (lc->n_ids > 0) {
			pick = chaos_rnd_between(&lc->seed, 0, lc->n_ids - 1);
			target = lc->ids[pick];
		}
		if (lc->n_ids == 0 || r < 16) {
			char id[ID_LEN];

			op = OP_LAUNCH;
			if ((rc = chaos_launch(lc->c, l->tpl, id, NULL, &st)) == 0)
				remember_id(lc, id);
		} else if (r < 32) {
			Berth__V1__ListServicesResponse *list;

			op = OP_LIST;
			if ((list = chaos_list(lc->c, &st)) != NULL) {
				lc->n_ids = 0;
				for (size_t i = 0; i < list->n_services; i++)
					remember_id(lc, list->services[i]->service_id);
				berth_reply_free(&list->base);
			}
			rc = st.code;
		} else if (r < 46) {
			op = OP_GET;
			rc = chaos_by_id(lc->c, op, target, (uint32_t)(r & 1), &st);
		} else if (r < 58) {
			op = OP_STOP;
			rc = chaos_by_id(lc->c, op, target, 2, &st);
		} else if (r < 70) {
			op = OP_RESTART;
			rc = chaos_by_id(lc->c, op, target, 0, &st);
		} else if (r < 86) {
			op = OP_REMOVE;
			if ((rc = chaos_by_id(lc->c, op, target, 0, &st)) == 0 ||
			    rc == BERTH__V1__CODE__NOT_FOUND)
				forget_id(lc, pick);
		} else {
			op = OP_STATS;
			rc = chaos_stats(lc->c, &st);
		}
		atomic_fetch_add(&l->ops, 1);
		gen_after = atomic_load(&l->outage_gen);
		if (!expected_under_load(op, rc, (gen_before & 1) != 0 || gen_after != gen_before))
			chaos_violation("%s: %s %s answered %s: %s", l->phase, chaos_op_names[op], target,
			    berth_code_name(rc), st.message);
		else
			chaos_checked(1);
		/* As a client would: no busy loop while Docker is away or the range is full. */
		if (rc == BERTH__V1__CODE__UNAVAILABLE || rc == BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			clock_sleep_ms(100); /* pacing: a client's backoff */
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
snapshot_check(struct chaos_load *l)
{
	struct docker_container *before = NULL, *after = NULL;
	struct error err = { 0 };
	Berth__V1__ListServicesResponse *rows;
	size_t n_before = 0, n_after = 0;
	unsigned long checks = 0;
	berth_status st;

	if (docker_container_list(chaos_docker, l->d->e.label, &before, &n_before, 10000, &err) != 0)
		return;
	rows = chaos_list(l->d->e.client, &st);
	if (rows == NULL || docker_container_list(chaos_docker, l->d->e.label, &after, &n_after, 10000,
				&err) != 0) {
		if (rows == NULL && st.code != BERTH__V1__CODE__OK)
			chaos_violation("%s: checker's ListServices answered %s: %s", l->phase,
			    berth_code_name(st.code), st.message);
		goto out;
	}
	for (size_t i = 0; i < rows->n_services; i++) {
		for (size_t j = 0; j < i; j++) {
			checks += 2;
			if (rows->services[i]->port == rows->services[j]->port)
				chaos_violation("%s: port %u held by rows %s and %s", l->phase,
				    rows->services[i]->port, rows->services[i]->service_id,
				    rows->services[j]->service_id);
			if (strcmp(rows->services[i]->service_id, rows->services[j]->service_id) == 0)
				chaos_violation("%s: two rows named %s", l->phase, rows->services[i]->service_id);
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
					chaos_violation("%s: containers %s and %s both publish %u", l->phase,
					    after[j].name, c->name, c->ports[p]);
			}
		for (size_t b = 0; b < n_before && !throughout; b++)
			throughout = same_container_running(&before[b], c);
		if (!throughout)
			continue;
		own = chaos_find_row(rows, c->label_service);
		checks++;
		if (own == NULL) {
			chaos_violation("%s: container %s ran all along without a row", l->phase, c->name);
			continue;
		}
		for (size_t p = 0; p < c->n_ports; p++) {
			for (size_t i = 0; i < rows->n_services; i++) {
				checks++;
				if (rows->services[i] != own && rows->services[i]->port == c->ports[p])
					chaos_violation("%s: row %s holds port %u, published by %s's container",
					    l->phase, rows->services[i]->service_id, c->ports[p], c->name);
			}
		}
		checks++;
		if (c->n_ports > 0 && !publishes(c, own->port))
			chaos_violation("%s: row %s holds port %u, its running container publishes %u",
			    l->phase, own->service_id, own->port, c->ports[0]);
	}
	l->snapshot_checks += checks;
	chaos_checked(checks);
out:
	free(before);
	free(after);
	berth_reply_free((ProtobufCMessage *)rows);
}

static void *
checker_main(void *arg)
{
	struct chaos_load *l = arg;

	while (!atomic_load(&l->stop)) {
		if ((atomic_load(&l->outage_gen) & 1) == 0)
			snapshot_check(l);
		clock_sleep_ms(200); /* pacing: a check five times a second */
	}
	return NULL;
}

static void *
rss_sampler_main(void *arg)
{
	struct chaos_load *l = arg;

	while (!atomic_load(&l->stop) && l->n_rss < MAX_RSS_SAMPLES) {
		long kb = chaos_proc_status_kb(l->d->e.proc.pid, "VmRSS:");

		if (kb > 0) {
			l->rss_at[l->n_rss] = clock_monotonic_ms() - l->started_ms;
			l->rss_kb[l->n_rss++] = kb;
			if (!l->not_peak)
				chaos_note_rss(kb);
		}
		clock_sleep_ms(250); /* pacing: four samples a second */
	}
	return NULL;
}

/*
 * Runs l->clients clients, the checker and the sampler for `seconds`; with
 * a proxy, Docker goes away lv->outages times for lv->outage_ms meanwhile.
 * Returns after every thread ended; each client closed its connection.
 */
void
chaos_run_load(struct chaos_load *l, int seconds, struct docker_proxy *px)
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
		clients[i].seed = chaos_seed * 31u + (unsigned)i * 7919u + 1u;
		if (berth_open(&clients[i].c, l->d->e.proc.url, &(berth_options){ NULL, CALL_TIMEOUT_MS },
			&st) != 0)
			fail_msg("client %d: berth_open: %s", i, st.message);
	}
	for (int i = 0; i < l->clients; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, load_client_main, &clients[i]), 0);
	assert_int_equal(pthread_create(&checker, NULL, checker_main, l), 0);
	assert_int_equal(pthread_create(&sampler, NULL, rss_sampler_main, l), 0);

	end = l->started_ms + (int64_t)seconds * 1000;
	for (int k = 0; px != NULL && k < chaos_lv->outages; k++) {
		/* Outages evenly spread: at 1/(n+1), 2/(n+1), ... of the time. */
		int64_t at = l->started_ms + (int64_t)seconds * 1000 * (k + 1) / (chaos_lv->outages + 1);

		clock_sleep_ms((int)(at - clock_monotonic_ms())); /* pacing: the outage's moment */
		atomic_fetch_add(&l->outage_gen, 1);
		if (!docker_proxy_down(px))
			chaos_violation("%s: the Docker proxy did not go down", l->phase);
		chaos_fault(F_OUTAGE, 1);
		clock_sleep_ms(chaos_lv->outage_ms); /* the fault lasts this long */
		if (!docker_proxy_up(px))
			chaos_violation("%s: the Docker proxy did not come back", l->phase);
		atomic_fetch_add(&l->outage_gen, 1);
		pthread_mutex_lock(&chaos_report.lock);
		chaos_report.outage_ms += chaos_lv->outage_ms;
		pthread_mutex_unlock(&chaos_report.lock);
		printf("# %s: Docker away for %d ms at %lld ms\n", l->phase, chaos_lv->outage_ms,
		    (long long)(at - l->started_ms));
	}
	clock_sleep_ms((int)(end - clock_monotonic_ms())); /* the load lasts this long */
	atomic_store(&l->stop, true);
	for (int i = 0; i < l->clients; i++) {
		pthread_join(threads[i], NULL);
		berth_close(clients[i].c);
	}
	pthread_join(checker, NULL);
	pthread_join(sampler, NULL);
}

/* Max RSS of the first and the second half of the samples. */
void
chaos_rss_halves(const struct chaos_load *l, long *first, long *second)
{
	int64_t half = l->n_rss > 0 ? l->rss_at[l->n_rss - 1] / 2 : 0;

	*first = *second = 0;
	for (int i = 0; i < l->n_rss; i++) {
		long *m = l->rss_at[i] <= half ? first : second;
		if (l->rss_kb[i] > *m)
			*m = l->rss_kb[i];
	}
}

/* --- load: waiting and printing ----------------------------------------------------------- */

/* Waits until no service is "creating" or "removing" and Docker answers berthd again. */
/* True when no service is "creating" or "removing" and Docker answers berthd. */
static bool
settled(void *arg)
{
	struct chaos_daemon *d = arg;
	Berth__V1__HealthResponse *h = chaos_health(d->e.client, NULL);
	Berth__V1__ListServicesResponse *list = chaos_list(d->e.client, NULL);
	bool busy = h == NULL || !h->docker_available || list == NULL;

	for (size_t i = 0; list != NULL && i < list->n_services; i++)
		busy |= strcmp(list->services[i]->status, "creating") == 0 ||
		    strcmp(list->services[i]->status, "removing") == 0;
	berth_reply_free((ProtobufCMessage *)h);
	berth_reply_free((ProtobufCMessage *)list);
	return !busy;
}

void
chaos_quiesce(struct chaos_daemon *d, int timeout_ms)
{
	/* Not asserted: the invariant checks that follow say what is wrong. */
	(void)e2e_wait_until(settled, d, timeout_ms);
}

void
chaos_print_load(const struct chaos_load *l, int64_t took_ms)
{
	long first, second;

	chaos_rss_halves(l, &first, &second);
	printf("# %s: %u calls by %d clients in %lld ms (%.0f/s); %lu snapshot checks; "
	       "berthd RSS max %ld KiB in the first half, %ld KiB in the second (%d samples)\n",
	    l->phase, atomic_load(&l->ops), l->clients, (long long)took_ms,
	    took_ms > 0 ? atomic_load(&l->ops) * 1000.0 / (double)took_ms : 0.0, l->snapshot_checks,
	    first, second, l->n_rss);
}

/* --- the report ----------------------------------------------------------------------- */

static void
machine(char *out, size_t len)
{
	struct utsname u;
	char model[128] = "unknown CPU", line[256], engine[64] = "", distro[64] = "Linux";
	struct error err = { 0 };
	char *body = NULL;
	const char *v;
	size_t body_len = 0;
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
	/* Docker's own version, as `docker version` shows it (the API version is a poor stand-in). */
	if (docker_api_request(chaos_docker, "GET", "/version", NULL, 0, &body, &body_len, 10000,
		&err) == 0 &&
	    body != NULL && (v = strstr(body, "\"Version\":\"")) != NULL) {
		v += strlen("\"Version\":\"");
		snprintf(engine, sizeof(engine), "%.*s", (int)strcspn(v, "\""), v);
	}
	free(body);
	if (engine[0] == '\0')
		snprintf(engine, sizeof(engine), "API %s", docker_api_version(chaos_docker));
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
	report_line(f, md, "run", "level %s, seed %u, %s, %lld s", chaos_lv->name, chaos_seed, date,
	    (long long)((clock_monotonic_ms() - chaos_report.started_ms) / 1000));
	report_line(f, md, "machine", "%s", host);
	for (int op = 0; op < OP_COUNT; op++)
		for (int c = 0; c <= CODE_COUNT; c++) {
			total += atomic_load(&chaos_report.calls[op][c]);
			by_code[c] += atomic_load(&chaos_report.calls[op][c]);
		}
	len = 0;
	buf[0] = '\0';
	for (int op = 0; op < OP_COUNT; op++) {
		unsigned long n = 0;

		for (int c = 0; c <= CODE_COUNT; c++)
			n += atomic_load(&chaos_report.calls[op][c]);
		if (n > 0 && len < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s %lu",
			    len ? ", " : "", chaos_op_names[op], n);
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
			if (atomic_load(&chaos_report.calls[op][c]) > 0 && l2 < sizeof(codes))
				l2 += (size_t)snprintf(codes + l2, sizeof(codes) - l2, "%s%s %u",
				    l2 ? ", " : "", c == CODE_DROPPED ? "dropped" : berth_code_name(c),
				    atomic_load(&chaos_report.calls[op][c]));
		if (atomic_load(&chaos_report.calls[op][0]) + l2 > 0)
			fprintf(f, "    %-32s OK %u%s%s\n", chaos_op_names[op], atomic_load(&chaos_report.calls[op][0]),
			    l2 ? ", " : "", codes);
	}
	len = 0;
	buf[0] = '\0';
	for (int i = 0; i < F_COUNT; i++)
		if (len < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s %u", len ? ", " : "",
			    fault_names[i], atomic_load(&chaos_report.faults[i]));
	report_line(f, md, "faults injected", "%s", buf);
	report_line(f, md, "Docker away in total", "%ld ms; back to launching within %ld ms",
	    chaos_report.outage_ms, chaos_report.recovery_ms_max);
	report_line(f, md, "invariants checked", "%lu", atomic_load(&chaos_report.invariants));
	report_line(f, md, "violations found", "%u", atomic_load(&chaos_report.violations));
	report_line(f, md, "berthd peak RSS", "%.1f MiB (load: max %.1f MiB in the first half, "
					       "%.1f MiB in the second, %d samples)",
	    chaos_report.peak_rss_kb / 1024.0, chaos_report.load_rss_first_kb / 1024.0,
	    chaos_report.load_rss_second_kb / 1024.0, chaos_report.load_rss_samples);
	if (chaos_report.flood_health_ms > 0)
		report_line(f, md, "Health beside a client that never reads", "answered in %ld ms at worst",
		    chaos_report.flood_health_ms);
	if (chaos_report.ipc_recovery_ms > 0)
		report_line(f, md, "Health after 50 ipc peers hung up in the handshake",
		    "answered after %ld ms (nng 1.5.2 bug, berthd's ipc watchdog)", chaos_report.ipc_recovery_ms);
	if (chaos_report.valgrind_ran)
		report_line(f, md, "valgrind (berthd under load)",
		    "definitely lost %ld bytes, %ld errors (memcheck)", chaos_report.valgrind_lost,
		    chaos_report.valgrind_errors);
	else
		report_line(f, md, "valgrind (berthd under load)",
		    "not run at level %s (make chaos runs it)", chaos_lv->name);
	for (unsigned i = 0; i < chaos_report.n_notes; i++)
		report_line(f, md, "note", "%s", chaos_report.notes[i]);
	for (unsigned i = 0; i < chaos_report.n_listed; i++)
		report_line(f, md, "violation", "%s", chaos_report.listed[i]);
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
	if (chaos_mounted[0] == '\0')
		return;
	if (umount2(chaos_mounted, MNT_DETACH) != 0)
		fprintf(stderr, "# cannot unmount %s: %s\n", chaos_mounted, strerror(errno));
	chaos_mounted[0] = '\0';
}

static char suite_name[32];

int
chaos_setup_group(const char *suite)
{
	const char *level = getenv("BERTH_CHAOS_LEVEL"), *s = getenv("BERTH_CHAOS_SEED");
	const char *b = getenv("BUILD");

	signal(SIGPIPE, SIG_IGN); /* raw sockets write to peers that hung up */
	chaos_report.started_ms = clock_monotonic_ms();
	chaos_lv = &chaos_levels[level != NULL && strcmp(level, "full") == 0 ? 1 : 0];
	if (level != NULL && strcmp(level, "full") != 0 && strcmp(level, "quick") != 0) {
		fprintf(stderr, "BERTH_CHAOS_LEVEL must be quick or full, not %s\n", level);
		return -1;
	}
	chaos_seed = s != NULL ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	snprintf(suite_name, sizeof(suite_name), "%s", suite);
	if (e2e_demo_context() == NULL || (chaos_docker = e2e_docker()) == NULL)
		return -1;
	sweep_dead_runs();
	snprintf(chaos_root, sizeof(chaos_root), CHAOS_ROOT_PREFIX "%d", (int)getpid());
	if (mkdir(chaos_root, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "cannot create %s: %s\n", chaos_root, strerror(errno));
		return -1;
	}
	snprintf(chaos_tpl_prefix, sizeof(chaos_tpl_prefix), "ch%d", (int)getpid());
	snprintf(chaos_log_dir, sizeof(chaos_log_dir), "%s/chaos-logs/%s", b != NULL && b[0] ? b : "build",
	    suite);
	run_quiet("rm -rf '%s' && mkdir -p '%s'", chaos_log_dir, chaos_log_dir);
	port_base = (uint16_t)(10000 + (getpid() % 9) * 200);
	printf("# chaos %s: level=%s seed=%u (BERTH_CHAOS_SEED repeats it) ports=%u-%u root=%s\n",
	    suite, chaos_lv->name, chaos_seed, port_base, port_base + 199, chaos_root);
	return 0;
}

int
chaos_teardown_test(void **state)
{
	(void)state;
	chaos_daemon_destroy(&chaos_dmn);
	docker_proxy_stop(&chaos_proxy);
	unmount_tmpfs();
	return 0;
}

int
chaos_teardown_group(void **state)
{
	const char *path = getenv("BERTH_CHAOS_REPORT");
	char prefix[sizeof(chaos_root) + 1];
	unsigned left;

	(void)state;
	chaos_teardown_test(NULL);
	snprintf(prefix, sizeof(prefix), "%s/", chaos_root);
	if ((left = remove_suite_containers(prefix, false)) > 0)
		printf("# removed %u leftover containers\n", left);
	run_quiet("rm -rf '%s'", chaos_root);
	printf("\n(chaos suite: %s)", suite_name);
	print_report(stdout, false);
	if (path != NULL && path[0] != '\0') {
		FILE *f = fopen(path, "a"); /* each suite appends its own section */

		if (f != NULL) {
			fprintf(f, "\n### %s\n\n", suite_name);
			print_report(f, true);
			fclose(f);
		} else {
			fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		}
	}
	return 0;
}

