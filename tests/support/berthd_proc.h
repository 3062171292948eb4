/*
 * berthd_proc.h - end-to-end test support: a real berthd process on a
 * temporary data directory, and the real `berth` CLI run against it.
 *
 * Binaries are taken from $BUILD (default "build") relative to the current
 * directory, which `make test` sets to the repository root.
 */
#ifndef BERTH_TEST_BERTHD_PROC_H
#define BERTH_TEST_BERTHD_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include <stdint.h>

struct berthd_proc {
	pid_t pid;
	char dir[256];      /* its directory: temporary, removed by berthd_proc_cleanup */
	char data_dir[300]; /* <dir>/data */
	char url[320];      /* ipc://<dir>/berthd.sock */
	char log_path[300]; /* <dir>/berthd.log: berthd's stderr */
	bool given_dir;     /* dir is the caller's (berthd_proc_start_in): not removed */
	int64_t spawned_us; /* monotonic: when the last start forked berthd */
	int64_t ready_us;   /* monotonic: when Health first answered after it */
};

/*
 * Creates a fresh temporary directory and starts berthd on it with
 * --listen <url> --data-dir <data_dir> --publish-address 127.0.0.1
 * --build-root <$BUILD, absolute> plus the NULL-terminated extra_args (may
 * be NULL; a later option overrides these). Waits until Health answers
 * (up to 10 s). Returns 0, or -1 (berthd's log is printed to stderr).
 */
int berthd_proc_start(struct berthd_proc *p, const char *const *extra_args);

/*
 * As berthd_proc_start, with berthd run under `wrapper`, a NULL-terminated
 * command prefix looked up in $PATH (e.g. valgrind and its options), and
 * waiting up to wait_ms for Health.
 */
int berthd_proc_start_wrapped(struct berthd_proc *p, const char *const *wrapper, int wait_ms,
    const char *const *extra_args);

/*
 * As berthd_proc_start, in the existing directory `dir` (the caller's: it
 * stays), waiting up to wait_ms for Health, polled every 10 ms so that
 * ready_us - spawned_us is berthd's start-up time (benchmarks read it).
 */
int berthd_proc_start_in(struct berthd_proc *p, const char *dir, int wait_ms,
    const char *const *extra_args);

/* Starts berthd again on the same directory (after a stop or kill). */
int berthd_proc_restart(struct berthd_proc *p, const char *const *extra_args);

/* SIGTERM and wait (up to timeout_s); returns berthd's exit status, -1 if it hung (then SIGKILLed). */
int berthd_proc_stop(struct berthd_proc *p, int timeout_s);

/* SIGKILL and reap. */
void berthd_proc_kill(struct berthd_proc *p);

/* Stops berthd if it runs and removes the temporary directory (not a given one). */
void berthd_proc_cleanup(struct berthd_proc *p);

/* True when berthd's log contains `needle`. */
bool berthd_proc_log_contains(const struct berthd_proc *p, const char *needle);

/*
 * Runs `$BUILD/berth --url <p->url> ARGS...` (NULL-terminated strings) and
 * returns its exit status (128+signal when killed). *out and *err receive its
 * stdout and stderr (malloc'ed, NUL-terminated; caller frees; may be NULL).
 */
int berth_cli(const struct berthd_proc *p, char **out, char **err, ...);

/* The same with an argv array (NULL-terminated), without the --url. */
int berth_cli_argv(const char *const *argv, char **out, char **err);

/*
 * Runs argv (argv[0] looked up in $PATH, e.g. "curl") the same way: its
 * exit status, stdout and stderr. The program must end by itself (curl:
 * bound it with --max-time).
 */
int run_program(const char *const *argv, char **out, char **err);

#endif
