/*
 * watch.h - --watch: a command's output again every few seconds until
 * Ctrl-C, in place on a terminal (screen cleared, a header line with the
 * time), as snapshots separated by a blank line elsewhere, so that pipes
 * and files get plain, parseable text.
 *
 * A command that takes --watch adds CLI_WATCH_OPTIONS to its option table
 * and calls cli_call_and_print_watched instead of cli_call_and_print.
 */
#ifndef BERTH_CLI_WATCH_H
#define BERTH_CLI_WATCH_H

#include <stdint.h>

#include "args.h"
#include "context.h"

#define CLI_WATCH_DEFAULT_S 2

/* The values of --watch [SEC] and the hidden --watch-count N. */
struct cli_watch_opts {
	uint32_t interval_s; /* start at CLI_WATCH_DEFAULT_S */
	uint32_t count;      /* stop after this many snapshots; 0: until Ctrl-C */
};

/*
 * --watch [SEC] and the hidden --watch-count N (for tests and scripts: stop
 * after N snapshots; implies --watch), as entries of a struct cli_opt table.
 */
#define CLI_WATCH_OPTIONS(w)                                       \
	{ "--watch", CLI_OPT_OPTIONAL_UINT, &(w)->interval_s },    \
	    { "--watch-count", CLI_OPT_UINT, &(w)->count }

/*
 * cli_call_and_print once or, when the parsed `opts` had --watch or
 * --watch-count, every w->interval_s seconds as cli_watch does. A --watch
 * of 0 seconds is a usage error. Returns an outcome.
 */
int cli_call_and_print_watched(struct cli *cli, const struct cli_command *cmd,
    const struct cli_opt *opts, const struct cli_watch_opts *w, const char *method,
    const ProtobufCMessage *request, cli_print_fn print, const void *arg);

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

#endif
