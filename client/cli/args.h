/*
 * args.h - the option parser of the CLI's commands.
 *
 * Each command describes its options in a small table and gets back its
 * positional arguments. Options and positionals may be mixed; "--" ends
 * the options; "--name=value" and "--name value" are both accepted;
 * "--help"/"-h" prints the command's usage; "--json" is accepted anywhere
 * as a convenience for the global option of the same name.
 */
#ifndef BERTH_CLI_ARGS_H
#define BERTH_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"

enum cli_opt_kind {
	CLI_OPT_FLAG,   /* value: bool * */
	CLI_OPT_STRING, /* value: const char ** (points into argv; last one wins) */
	CLI_OPT_UINT,   /* value: uint32_t *, decimal */
	CLI_OPT_LIST,   /* value: struct cli_strv *, one entry per use */
	CLI_OPT_OPTIONAL_UINT, /* value: uint32_t *; "--watch", "--watch N" or "--watch=N":
				* N is taken only when the next word is a number */
};

/* A growable list of strings that point into argv. */
struct cli_strv {
	char **v;
	size_t n;
};

struct cli_opt {
	const char *name;       /* "--port", or "-q"; NULL ends a table */
	enum cli_opt_kind kind;
	void *value;
	int seen;               /* set by the parser: how often it was given */
};

/*
 * Parses argv[0..argc) against `opts` (ended by a NULL name; may be NULL)
 * and stores positional words in pos[0..max_pos). Returns 0, CLI_HELP
 * after printing the usage, or CLI_USAGE after printing the error (unknown
 * option, missing value, not a number, too few or too many arguments).
 * The caller frees CLI_OPT_LIST values with cli_strv_free, also on error.
 */
int cli_args_parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
    struct cli_opt *opts, char **pos, int min_pos, int max_pos);

/*
 * If argv[*i] is the option `name` ("--url" or "--url=..."), stores its
 * value in *value, advances *i past it and returns 1. Returns 0 when it is
 * another word, CLI_USAGE (printed) when the value is missing.
 */
int cli_args_value(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
    int *i, const char *name, const char **value);

/* Strict decimal: digits only, at most UINT32_MAX. Returns 0 or -1. */
int cli_parse_uint32(const char *s, uint32_t *out);

/*
 * A duration in whole seconds: "90", "90s", "10m" or "2h" (one number, at
 * most one unit). Returns 0, or -1 for anything else or more than
 * UINT32_MAX seconds.
 */
int cli_parse_duration(const char *s, uint32_t *seconds);

/* Frees the list (not the strings, which belong to argv). */
void cli_strv_free(struct cli_strv *v);

#endif
