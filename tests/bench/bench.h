/*
 * bench.h - what the benchmarks in tests/bench share: clocks, samples and
 * their percentiles, the rows of the one table `make bench` prints, a real
 * berthd process, and the Docker side (the demo image, labelled containers).
 *
 * Every benchmark is a ratio of two things measured in the same run, as
 * alternating as the thing allows, so that a noisy shared machine moves
 * both sides alike. Rows go to the file named by $BENCH_ROWS (tests/bench/
 * run.sh collects and prints them); without it they go to stdout.
 *
 * Containers the benchmarks make carry BENCH_LABEL (foreign and bare Docker
 * ones) or berthd's data-dir label under $BENCH_DIR: run.sh removes both
 * kinds at the end, also after a failure.
 */
#ifndef BERTH_BENCH_H
#define BERTH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "berth.h"
#include "engine/docker.h"

#define BENCH_LABEL_KEY "berth.test"
#define BENCH_LABEL_VALUE "bench"
#define BENCH_IMAGE "berth-demo:bench"
#define BENCH_DEMO_PORT 8000

/*
 * Host ports. The e2e tests use 9000-9100, 12000-19479 and 21000-31999;
 * the kernel's ephemeral ports start at 32768. Ports the benchmarks really
 * publish stay in 61000-64999, above both.
 */
#define BENCH_PORT_FOREIGN 61000 /* foreign containers: 61000-61199 */
#define BENCH_PORT_LAUNCH 62000  /* bench_launch: berth 62000-62049 */
#define BENCH_PORT_BARE 62100    /* bench_launch: bare Docker, docker run */
#define BENCH_PORT_SHUTDOWN 62300
#define BENCH_PORT_CONCURRENT 62400
#define BENCH_PORT_TCP 63000     /* bench_rpc: berthd tcp (+1 events) */
#define BENCH_PORT_ECHO 63010    /* bench_rpc: the raw echo server */
#define BENCH_PORT_GATEWAY 63020 /* bench_gateway: berthd tcp (+1 events, +2 HTTP) */

/* --- clocks and samples -------------------------------------------------- */

int64_t bench_now_ns(void);
void bench_sleep_ms(int ms);

/* A growing list of measurements (any unit). */
struct samples {
	double *v;
	size_t n, cap;
};

void samples_add(struct samples *s, double v);
/* The q-quantile (0.5 = median, 0.99 = p99), nearest rank; NAN when empty. */
double samples_quantile(struct samples *s, double q);
double samples_sum(const struct samples *s);
void samples_free(struct samples *s);

/* --- the table ------------------------------------------------------------ */

enum bench_verdict { BENCH_NA = -1, BENCH_MISS = 0, BENCH_HOLDS = 1 };

/*
 * One line of the table. NAN leaves a number out. `floor` names what the
 * figure is compared with; `ratio` is normally value / floor_value.
 */
struct bench_row {
	const char *section;  /* "1 RPC", "2 launch", ... */
	const char *figure;   /* "GetService p50, ipc, 1 client" */
	double value;
	const char *unit;     /* "us", "ms", "/s", "MB", "x" */
	double p99;           /* same unit; NAN = none */
	const char *floor;    /* "raw echo p50"; NULL = none */
	double floor_value;   /* in `unit` */
	double ratio;
	const char *target;   /* "ratio <= 1.20", "<= 50 us"; NULL = none */
	enum bench_verdict verdict;
};

void bench_row(const struct bench_row *r);

/* Appends "key=value" to $BENCH_NOTES (or stderr): facts printed under the table. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a progress line on stderr. */
void bench_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- berthd --------------------------------------------------------------- */

struct bench_berthd {
	pid_t pid;
	char data_dir[512];
	char url[600];        /* ipc://<data_dir>/../<name>.sock */
	char log_path[600];
	int64_t started_ns;   /* when it was spawned */
	int64_t ready_ns;     /* when Health first answered */
};

/* $BUILD, default "build". */
const char *bench_build_dir(void);

/*
 * A fresh directory under $BENCH_DIR (else /tmp) for one berthd or one
 * database: <root>/<name>. Returns 0 and the path in `out`.
 */
int bench_make_dir(const char *name, char *out, size_t len);

/*
 * Starts $BUILD/berthd with --listen <url> (ipc://<dir>/berthd.sock)
 * --data-dir <dir>/data --publish-address 127.0.0.1 --build-root <$BUILD>
 * and the NULL-terminated extra arguments; waits until Health answers
 * (timeout_s). Returns 0, or -1 with berthd's log on stderr.
 */
int bench_berthd_start(struct bench_berthd *b, const char *dir, const char *const *extra,
    int timeout_s);

/* SIGTERM and wait; returns the nanoseconds until it exited (-1: killed after timeout_s). */
int64_t bench_berthd_stop(struct bench_berthd *b, int timeout_s);

/* Resident memory of a process (VmRSS), in KiB; -1 when unknown. */
long bench_rss_kib(pid_t pid);

/*
 * The last line of the log containing `needle`, and from it the integer
 * after "key=". Returns 0, or -1 when there is none.
 */
int bench_log_value(const char *log_path, const char *needle, const char *key, long long *out);

/* Counts the log lines containing `needle`. */
int bench_log_count(const char *log_path, const char *needle);

/* Opens libberth on the berthd with a generous timeout; exits on failure. */
berth_client *bench_client(const struct bench_berthd *b);

/*
 * PutTemplate "bench": BENCH_IMAGE built from $BUILD/demo, container port
 * 8000, ports from `port_start` (open range), /data mounted, the given
 * extra environment entries, stop timeout stop_timeout_s. Returns 0.
 */
int bench_put_template(berth_client *c, const char *name, uint16_t port_start,
    const char *const *env, size_t n_env, unsigned stop_timeout_s);

/* LaunchService (retried while ABORTED); returns 0 and the service id / port, or the code. */
int bench_launch(berth_client *c, const char *template_name, char *service_id, size_t len,
    uint32_t *port);

/* RemoveService with purge; returns 0 or the code. */
int bench_remove(berth_client *c, const char *service_id);

/* --- Docker ---------------------------------------------------------------- */

/* The shared Docker client (opened on first use); exits when there is none. */
struct docker *bench_docker(void);

/* Makes sure BENCH_IMAGE exists: built from $BUILD/demo when missing. */
int bench_demo_image(void);

/*
 * Creates and starts a BENCH_LABEL'ed container of BENCH_IMAGE publishing
 * 127.0.0.1:host_port -> 8000. `name` may be NULL. Writes its id. Returns 0.
 */
int bench_foreign_start(const char *name, uint16_t host_port, char id[DOCKER_ID_LEN + 1]);

/* Removes (forcefully) every container with BENCH_LABEL; returns how many. */
int bench_remove_labelled(void);

/* Removes one container (forcefully); errors are ignored. */
void bench_remove_container(const char *id);

/* Runs a command (argv, NULL-terminated) with stdout/stderr to /dev/null; its exit status. */
int bench_run(const char *const *argv);

/* As bench_run, with stdout captured into out (NUL-terminated, trailing newline cut). */
int bench_run_capture(const char *const *argv, char *out, size_t len);

#endif
