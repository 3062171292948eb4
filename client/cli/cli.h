/*
 * cli.h - the `berth` command line: the driver that parses the global
 * options, finds the command in the table and turns its outcome into an
 * exit status.
 *
 * The top of the CLI: what the commands share is in context.h (included
 * here for the driver's callers), the option parser in args.h, the
 * commands in cmd_*.c and their table in commands.c.
 */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <stdio.h>

#include "context.h"

/*
 * Runs the CLI on argv (argv[0] is the program name) writing to out and
 * err, and returns the process exit status. Does not close out or err.
 */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

/* The exit status for an outcome: see the table in cli.c. */
int cli_exit_status(int outcome);

#endif
