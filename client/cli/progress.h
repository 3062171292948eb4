/*
 * term.h - what `berth` does over time on a terminal: refresh a command's
 * output (--watch) and show that a long call is still running.
 *
 * Both look at whether the stream is a terminal: ANSI escape codes and
 * in-place updates go to terminals only, so pipes and files get plain,
 * parseable text.
 */
#ifndef BERTH_CLI_TERM_H
#define BERTH_CLI_TERM_H

#include <stdint.h>

#include "cli.h"

/* One snapshot: calls an RPC and prints its reply; returns an outcome. */
typedef int (*cli_snapshot_fn)(struct cli *cli, void *arg);

/*
 * Runs `snapshot` every interval_s seconds until SIGINT (then returns 0),
 * until `count` snapshots were taken (0: no limit), or until one fails
 * (then returns its outcome). On a terminal each snapshot replaces the
 * previous one (screen cleared, a header line with `title` and the time);
 * otherwise the snapshots follow each other, separated by a blank line.
 * SIGINT's disposition is restored before returning. Main thread only.
 */
int cli_watch(struct cli *cli, const char *title, uint32_t interval_s, uint32_t count,
    cli_snapshot_fn snapshot, void *arg);

struct cli_progress;

/*
 * When cli->err is a terminal, starts a thread that shows "<label>... Ns"
 * on it once the call has taken a second, updated every second. Returns
 * NULL when there is nothing to show (not a terminal, or no thread).
 */
struct cli_progress *cli_progress_start(struct cli *cli, const char *label);

/* Stops the indicator and erases its line. NULL-safe. */
void cli_progress_stop(struct cli_progress *p);

#endif
