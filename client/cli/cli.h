/*
 * cli.h - the `berth` command line: shared state of one run, the command
 * table and the helpers every command uses.
 *
 * A command returns an outcome: 0, a berth.v1.Code with cli->status filled
 * (printed once, by cli_main, as "berth: CODE: message"), or one of the
 * negative CLI_* values below. Only cli_main turns an outcome into an exit
 * status; nothing in the CLI calls exit().
 */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "berth.h"

#define CLI_USAGE (-1) /* bad command line; the message is already printed */
#define CLI_HELP (-2)  /* help was printed as asked; exit 0 */

struct cli {
	const char *url;
	berth_options opts;
	bool json;            /* --json: print replies as JSON */
	FILE *out;            /* replies */
	FILE *err;            /* errors and usage errors */
	berth_client *client; /* opened by the first call, closed by cli_main */
	berth_status status;  /* why the outcome is not OK */
};

struct cli_command;

/* One command: argv holds the words after the command (and sub) name. */
typedef int (*cli_command_fn)(struct cli *cli, const struct cli_command *cmd, int argc,
    char **argv);

struct cli_command {
	const char *name;     /* "template" */
	const char *sub;      /* "add", or NULL */
	const char *synopsis; /* "template add NAME --image IMAGE [OPTIONS]" */
	const char *summary;  /* one line for `berth --help` */
	const char *details;  /* options and notes for `berth CMD --help`, or NULL */
	cli_command_fn fn;
};

/* The command table, in the order `berth --help` lists it (commands.c). */
extern const struct cli_command cli_commands[];
extern const size_t cli_commands_count;

/*
 * Runs the CLI on argv (argv[0] is the program name) writing to out and
 * err, and returns the process exit status. Does not close out or err.
 */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

/* The exit status for an outcome: see the table in cli.c. */
int cli_exit_status(int outcome);

/* Prints the usage of one command (for `--help`). */
void cli_command_usage(const struct cli_command *cmd, FILE *f);

/*
 * Reports a bad command line: "berth: <message>", the command's synopsis
 * (or the global one when cmd is NULL) and where to find help, on
 * cli->err. Returns CLI_USAGE.
 */
int cli_usage_error(struct cli *cli, const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills cli->status and returns code: for local checks that fail like the server would. */
int cli_fail(struct cli *cli, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Calls `method` on berthd, connecting first if this is the run's first
 * call. Returns 0 with *reply owned by the caller (berth_reply_free), or
 * a status code with cli->status filled and *reply NULL.
 */
int cli_call(struct cli *cli, const char *method, const ProtobufCMessage *request,
    ProtobufCMessage **reply);

/* Prints `msg` as one JSON object on cli->out. Returns 0 or a status code. */
int cli_print_json(struct cli *cli, const ProtobufCMessage *msg);

#endif
