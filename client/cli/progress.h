/*
 * progress.h - shows on a terminal that a long call (a launch that builds
 * or pulls an image) is still running: "<label>... Ns" on stderr, updated
 * every second. Pipes and files get nothing.
 */
#ifndef BERTH_CLI_PROGRESS_H
#define BERTH_CLI_PROGRESS_H

#include "context.h"

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
