/*
 * context.h - what every part of the `berth` CLI shares: the state of one
 * run (struct cli), the command table's entries, and the few things every
 * command does with them: report a usage error or a failure, call berthd,
 * print the reply.
 *
 * The lowest header of the CLI: args, format, watch and the commands
 * include it; it includes none of them. The driver (cli.h) sits on top.
 *
 * A command returns an outcome: 0, a berth.v1.Code with cli->status filled
 * (printed once, by cli_main, as "berth: CODE: message"), or one of the
 * negative CLI_* values below. Only cli_main turns an outcome into an exit
 * status; nothing in the CLI calls exit().
 */
#ifndef BERTH_CLI_CONTEXT_H
#define BERTH_CLI_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "berth.h"
#include "error.h"
#include "validate.h"

#define CLI_USAGE (-1) /* bad command line; the message is already printed */
#define CLI_HELP (-2)  /* help was printed as asked; exit 0 */
/*
 * `berth exec` passes its command's exit status on: CLI_EXIT_WITH(n) for
 * n in 1..255 is the outcome that exits with n (nothing more printed).
 */
#define CLI_EXIT_BASE (-1000)
#define CLI_EXIT_WITH(n) (CLI_EXIT_BASE - (n))

struct cli {
	const char *url;
	berth_options opts;
	bool json;            /* --json: print replies as JSON */
	FILE *out;            /* replies */
	FILE *err;            /* errors and usage errors */
	berth_client *client; /* opened by the first call, closed by cli_main */
	berth_status status;  /* why the outcome is not OK */
	char token[512];      /* read from --token-file or $BERTH_TOKEN_FILE */
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

/* ---------------------------------------------------------------------------
 * Usage
 */

/*
 * The global usage: with `full`, as `berth --help` prints it (global
 * options, commands, exit statuses); otherwise the synopsis and commands,
 * as after an unknown command.
 */
void cli_print_usage(FILE *f, bool full);

/* Prints the usage of one command (for `--help`); NULL: the full global usage. */
void cli_command_usage(const struct cli_command *cmd, FILE *f);

/*
 * Reports a bad command line: "berth: <message>", the command's synopsis
 * (or the global one when cmd is NULL) and where to find help, on
 * cli->err. Returns CLI_USAGE.
 */
int cli_usage_error(struct cli *cli, const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------------------
 * Failures: each fills cli->status and returns its code
 */

/* For local checks that fail like the server would. */
int cli_fail(struct cli *cli, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * A struct error from common/ code (code, message, field, reason) as the
 * outcome: a failed local check (validate.h) is then reported exactly as
 * berthd would report it.
 */
int cli_fail_error(struct cli *cli, const struct error *e);

/* RESOURCE_EXHAUSTED, "out of memory". */
int cli_out_of_memory(struct cli *cli);

/* validate_name(field, name) as an outcome: 0 or INVALID_ARGUMENT. */
int cli_check_name(struct cli *cli, const char *field, const char *name);

/* ---------------------------------------------------------------------------
 * Calls and replies
 */

/*
 * Calls `method` on berthd, connecting first if this is the run's first
 * call. Returns 0 with *reply owned by the caller (berth_reply_free), or
 * a status code with cli->status filled and *reply NULL.
 */
int cli_call(struct cli *cli, const char *method, const ProtobufCMessage *request,
    ProtobufCMessage **reply);

/* Prints `msg` as one JSON object on cli->out. Returns 0 or a status code. */
int cli_print_json(struct cli *cli, const ProtobufCMessage *msg);

/* The same on one line (NDJSON: a stream of replies or events), flushed. */
int cli_print_json_line(struct cli *cli, const ProtobufCMessage *msg);

/* Opens cli->client if it is not yet open. Returns 0 or a status code. */
int cli_connect(struct cli *cli);

/* Prints a reply for humans; `arg` is the command's. Returns an outcome. */
typedef int (*cli_print_fn)(struct cli *cli, const ProtobufCMessage *reply, const void *arg);

/*
 * Calls the RPC and prints its reply: as JSON with --json, otherwise with
 * `print(cli, reply, arg)`. Frees the reply. Returns an outcome.
 */
int cli_call_and_print(struct cli *cli, const char *method, const ProtobufCMessage *request,
    cli_print_fn print, const void *arg);

#endif
