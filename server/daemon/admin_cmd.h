/*
 * admin_cmd.h - berthd's offline commands, run on the server host against
 * its data directory (SQLite in WAL mode: they work while berthd runs):
 *
 *   berthd token create --name NAME --role viewer|operator|admin [--data-dir DIR]
 *   berthd token list [--json] [--data-dir DIR]
 *   berthd token revoke NAME [--data-dir DIR]
 *   berthd audit [--tail N] [--json] [--data-dir DIR]
 *
 * The data directory defaults to the data-dir of berthd's configuration
 * file (--config FILE, else /etc/berth/berthd.conf when it exists), else
 * /var/lib/berth. Exit status: 0 done, 1 failed, 2 bad command line.
 */
#ifndef BERTH_ADMIN_CMD_H
#define BERTH_ADMIN_CMD_H

#include <stdbool.h>

/* True when `word` (argv[1] of berthd) names one of these commands. */
bool admin_cmd_is(const char *word);

/* Runs the command in argv[0..argc) ("token", "create", ...). Main thread. */
int admin_cmd_main(int argc, char **argv);

#endif
