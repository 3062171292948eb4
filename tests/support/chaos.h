/*
 * chaos.h - the chaos suites' framework: berth under load, faults and
 * hostile input, with figures (tests/e2e/test_chaos_*.c).
 *
 * berth promises that nothing is lost: every container it started is in its
 * registry, every row tells the truth about its container, no port is held
 * twice. The chaos suites try hard to break that promise against a real
 * berthd, the real Docker engine and the demo image, and count what they
 * did. This is what they share: the level (quick or full), the counted
 * RPCs, the report (operations, errors by code, faults injected, invariants
 * checked, violations, peak RSS), the invariant checks (the registry and
 * Docker agree exactly; the database is intact), the load (clients, a
 * checker, an RSS sampler), and each suite's group setup and teardown.
 *
 * Environment:
 *   BERTH_CHAOS_LEVEL   quick (default: part of `make test`) or full
 *                       (`make chaos`: longer load, 30 kill rounds, 4000
 *                       mutated requests, berthd under valgrind)
 *   BERTH_CHAOS_SEED    repeat the random choices of an earlier run
 *   BERTH_CHAOS_REPORT  also append each suite's summary there, as Markdown
 *   BERTH_CHAOS_ONLY    run only the tests matching this pattern ('*outage*')
 * Each berthd's log is kept in $BUILD/chaos-logs/<suite>/.
 *
 * Every berthd of a suite gets a data directory under
 * /tmp/berth-chaos-<pid>/, so every container it makes carries that path in
 * its berth.data_dir label; the group teardown force-removes all of them
 * (and anything labelled berth.test=chaos), also after a failure, and the
 * group setup removes what a crashed earlier run left behind.
 *
 * Threads: the counting functions (chaos_checked, chaos_violation,
 * chaos_note, chaos_fault, chaos_count_call, chaos_note_rss) and the RPC
 * helpers may be called from any thread; the rest from the test's thread.
 */
#ifndef BERTH_TEST_CHAOS_H
#define BERTH_TEST_CHAOS_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "berth.h"
#include "docker_proxy.h"
#include "e2e.h"

#define DEMO_IMAGE E2E_DEMO_IMAGE
#define CHAOS_ROOT_PREFIX "/tmp/berth-chaos-"
#define TEST_LABEL "berth.test=chaos"
#define CALL_TIMEOUT_MS 60000
#define SLICE_PORTS 25
#define MAX_IDS 64
#define ID_LEN 128

/* --- how hard: quick (make test) or full (make chaos) ------------------------ */

struct chaos_level {
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
	int pressure_ms;      /* how long each pre-authentication flood of the hostile suite lasts */
};

extern const struct chaos_level *chaos_lv; /* set by chaos_setup_group */
extern unsigned chaos_seed;

/* --- the report -------------------------------------------------------------- */

enum chaos_op {
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

extern const char *const chaos_op_names[OP_COUNT];

#define CODE_COUNT 17
#define CODE_DROPPED CODE_COUNT /* raw requests: no answer, the connection was dropped */

enum chaos_fault {
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

#define MAX_LISTED 16

/* What a suite did and found; printed (and written) by chaos_teardown_group. */
struct chaos_report {
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
};

extern struct chaos_report chaos_report;

/* An invariant held (n times): counted for the report. */
void chaos_checked(unsigned long n);

/* An invariant broke: counted, printed, the first few kept for the report. */
void chaos_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line for the report's notes (at most 8). */
void chaos_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* n faults of kind f injected. */
void chaos_fault(enum chaos_fault f, unsigned n);

/* A call of `op` answered `code` (CODE_DROPPED: no answer). */
void chaos_count_call(enum chaos_op op, int code);

/* Fails the running test when it found violations; the message names the first. */
void chaos_expect_no_violations_since(unsigned before);

/* A sample of berthd's RSS for the peak. */
void chaos_note_rss(long kb);

/* --- per-thread randomness ------------------------------------------------------- */

/* xorshift32 on the caller's state. */
unsigned chaos_rnd(unsigned *state);
int chaos_rnd_between(unsigned *state, int lo, int hi);

/* --- the suite's directory, containers, ports ----------------------------------- */

extern struct docker *chaos_docker;
extern char chaos_root[64];        /* /tmp/berth-chaos-<pid> */
extern char chaos_tpl_prefix[24];  /* "ch<pid>": template names, so container names never collide */
extern char chaos_log_dir[PATH_MAX]; /* $BUILD/chaos-logs/<suite>: each berthd's log, kept */

/* Slice `slot` (0-7) of the suite's 200 ports, SLICE_PORTS each. */
uint16_t chaos_slice(int slot);

/* --- berthd --------------------------------------------------------------------- */

/* One berthd of the suite: the e2e fixture's, on a data directory under chaos_root. */
struct chaos_daemon {
	struct e2e_daemon e;         /* e.label: "berth.data_dir=<data_dir>" */
	char data_dir[PATH_MAX];     /* absolute, under chaos_root */
	const char *args[24];        /* --data-dir DIR, then the test's own, for restarts */
};

extern struct chaos_daemon chaos_dmn;   /* the running test's berthd */
extern struct docker_proxy chaos_proxy; /* Docker that can go away, stopped after each test */
extern char chaos_mounted[PATH_MAX];    /* a tmpfs of the disk-full test, to unmount */

/* (Re)opens d's client with CALL_TIMEOUT_MS. */
int chaos_daemon_connect(struct chaos_daemon *d);

/*
 * Starts berthd on <chaos_root>/<name> (or on data_dir when not NULL) with
 * the NULL-terminated extra arguments, under `wrapper` when not NULL,
 * waiting wait_ms for Health.
 */
int chaos_daemon_start_in(struct chaos_daemon *d, const char *name, const char *data_dir,
    const char *const *extra, const char *const *wrapper, int wait_ms);
int chaos_daemon_start(struct chaos_daemon *d, const char *name, const char *const *extra);

/* berthd again on the same directory and arguments. */
int chaos_daemon_restart(struct chaos_daemon *d);

/* SIGKILL, counted as a fault. */
void chaos_daemon_kill(struct chaos_daemon *d);

/* Kills berthd, keeps its log in chaos_log_dir, removes its containers and directories. */
void chaos_daemon_destroy(struct chaos_daemon *d);

/* A line of /proc/<pid>/status ("VmRSS:") in KiB; -1 when unknown. */
long chaos_proc_status_kb(pid_t pid, const char *key);

/* --- RPCs, counted ------------------------------------------------------------------ */

/* berth_call, counted under `op`; st may be NULL. *reply is the caller's to free. */
int chaos_rpc(berth_client *c, enum chaos_op op, const char *method, const ProtobufCMessage *req,
    ProtobufCMessage **reply, berth_status *st);

/* The demo template `name`, `count` ports from `first`; 0 or the code. */
int chaos_put_template(struct chaos_daemon *d, const char *name, uint16_t first, uint16_t count,
    uint32_t stop_timeout_s, char **env, size_t n_env, berth_status *st);

/* The same; fails the test when refused. */
void chaos_demo_template(struct chaos_daemon *d, const char *name, uint16_t first, uint16_t count,
    uint32_t stop_timeout_s, char **env, size_t n_env);

/* chaos_tpl_prefix + what. */
void chaos_tpl_name(char *out, size_t len, const char *what);

/* LaunchService; on success copies id (ID_LEN) and port out (either may be NULL). */
int chaos_launch(berth_client *c, const char *tpl, char *id, uint32_t *port, berth_status *st);

/* Stop (arg: timeout), Restart, Remove (purge) or Get (arg: registry_only) of `id`. */
int chaos_by_id(berth_client *c, enum chaos_op op, const char *id, uint32_t arg, berth_status *st);

/* ListServices / GetStats / Health, counted; replies are the caller's to free. */
Berth__V1__ListServicesResponse *chaos_list(berth_client *c, berth_status *st);
int chaos_stats(berth_client *c, berth_status *st);
Berth__V1__HealthResponse *chaos_health(berth_client *c, berth_status *st);

/* The row of `id` in a listing (r may be NULL); NULL when absent. */
const Berth__V1__Service *chaos_find_row(const Berth__V1__ListServicesResponse *r, const char *id);

/*
 * PutTemplate `name` of about 200 KiB (200 environment entries of 1000
 * bytes, ports in slice 3): enough to need fresh pages in SQLite's WAL.
 */
int chaos_put_big_template(struct chaos_daemon *d, const char *name, berth_status *st);

/* Removes every service through berthd (best effort, for clean slates). */
void chaos_remove_all_services(struct chaos_daemon *d);

/* --- the invariants ----------------------------------------------------------------- */

/* PRAGMA integrity_check on d's registry; a violation unless "ok". */
void chaos_check_integrity(struct chaos_daemon *d, const char *when);

/*
 * The registry and Docker agree exactly, allowing `settle_ms` for what is
 * still arriving (Docker's events, a reconnecting follower); then the
 * registry's integrity. Disagreement that outlasts settle_ms is a violation.
 */
void chaos_check_agreement(struct chaos_daemon *d, const char *when, int settle_ms);

/* --- load: clients, a checker, an RSS sampler ------------------------------------------ */

#define MAX_CLIENTS 32
#define MAX_RSS_SAMPLES 4096

struct chaos_load {
	struct chaos_daemon *d;
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

/*
 * Runs l->clients clients, the checker and the sampler for `seconds`; with
 * a proxy, Docker goes away chaos_lv->outages times for outage_ms meanwhile.
 * Returns after every thread ended; each client closed its connection.
 */
void chaos_run_load(struct chaos_load *l, int seconds, struct docker_proxy *px);

/* Max RSS of the first and the second half of the samples. */
void chaos_rss_halves(const struct chaos_load *l, long *first, long *second);

/* Waits until no service is "creating" or "removing" and Docker answers berthd again. */
void chaos_quiesce(struct chaos_daemon *d, int timeout_ms);

/* One line of figures about a load. */
void chaos_print_load(const struct chaos_load *l, int64_t took_ms);

/* --- fixtures --------------------------------------------------------------------------- */

/*
 * Each suite's group setup (level, seed, sweep of dead runs, its root and
 * log directory; `suite` names it in the report) and teardown (everything
 * removed, the report printed and appended to $BERTH_CHAOS_REPORT).
 */
int chaos_setup_group(const char *suite);
int chaos_teardown_group(void **state);

/* After each test: its berthd, the proxy and any tmpfs go. */
int chaos_teardown_test(void **state);

#endif
