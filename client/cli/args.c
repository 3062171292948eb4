/*
 * args.c - option parsing for the CLI's commands (no getopt: each command
 * parses its own words, so nothing leaks between global options and a
 * subcommand's).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

int
cli_parse_uint32(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int
cli_parse_duration(const char *s, uint32_t *seconds)
{
	unsigned long long v, unit = 1;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0')
			return -1;
		switch (*end) {
		case 's':
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		default:
			return -1;
		}
	}
	if (v > UINT32_MAX / unit)
		return -1;
	*seconds = (uint32_t)(v * unit);
	return 0;
}

void
cli_strv_free(struct cli_strv *v)
{
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

static int
strv_push(struct cli_strv *v, char *s)
{
	char **grown = realloc(v->v, (v->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return -1;
	grown[v->n++] = s;
	v->v = grown;
	return 0;
}

int
cli_args_value(struct cli *cli, const struct cli_command *cmd, int argc, char **argv, int *i,
    const char *name, const char **value)
{
	const char *arg = argv[*i];
	size_t len = strlen(name);

	if (strncmp(arg, name, len) != 0)
		return 0;
	if (arg[len] == '=') {
		*value = arg + len + 1;
		*i += 1;
		return 1;
	}
	if (arg[len] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return cli_usage_error(cli, cmd, "option %s needs a value", name);
	*value = argv[*i + 1];
	*i += 2;
	return 1;
}

/* Handles the option word at argv[*i]. Returns 0, CLI_HELP or CLI_USAGE. */
static int
parse_option(struct cli *cli, const struct cli_command *cmd, int argc, char **argv, int *i,
    struct cli_opt *opts)
{
	const char *arg = argv[*i], *value;
	int rc;

	if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
		cli_command_usage(cmd, cli->out);
		return CLI_HELP;
	}
	for (struct cli_opt *o = opts; o != NULL && o->name != NULL; o++) {
		if (o->kind == CLI_OPT_OPTIONAL_UINT && strcmp(arg, o->name) == 0) {
			o->seen++;
			*i += 1;
			/* The next word is the value only when it is a number. */
			if (*i < argc && cli_parse_uint32(argv[*i], o->value) == 0)
				*i += 1;
			return 0;
		}
		if (o->kind == CLI_OPT_FLAG) {
			if (strcmp(arg, o->name) != 0)
				continue;
			*(bool *)o->value = true;
			o->seen++;
			*i += 1;
			return 0;
		}
		if ((rc = cli_args_value(cli, cmd, argc, argv, i, o->name, &value)) == 0)
			continue;
		if (rc < 0)
			return rc;
		o->seen++;
		switch (o->kind) {
		case CLI_OPT_STRING:
			*(const char **)o->value = value;
			return 0;
		case CLI_OPT_UINT:
		case CLI_OPT_OPTIONAL_UINT:
			if (cli_parse_uint32(value, o->value) != 0)
				return cli_usage_error(cli, cmd, "option %s takes a number, not '%s'",
				    o->name, value);
			return 0;
		case CLI_OPT_LIST:
			if (strv_push(o->value, (char *)value) != 0)
				return cli_usage_error(cli, cmd, "out of memory");
			return 0;
		case CLI_OPT_FLAG:
			break;
		}
	}
	if (strcmp(arg, "--json") == 0) {
		cli->json = true;
		*i += 1;
		return 0;
	}
	/* The usual slip: a global option after the command. */
	if (strncmp(arg, "--url", 5) == 0 || strncmp(arg, "--token", 7) == 0 ||
	    strncmp(arg, "--timeout", 9) == 0)
		return cli_usage_error(cli, cmd,
		    "unknown option '%s' (global options go before the command)", arg);
	return cli_usage_error(cli, cmd, "unknown option '%s'", arg);
}

int
cli_args_parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
    struct cli_opt *opts, char **pos, int min_pos, int max_pos)
{
	bool options_done = false;
	int npos = 0, rc;

	for (int i = 0; i < argc;) {
		const char *arg = argv[i];

		if (!options_done && strcmp(arg, "--") == 0) {
			options_done = true;
			i++;
			continue;
		}
		/* A lone "-" is a positional word (stdin), not an option. */
		if (!options_done && arg[0] == '-' && arg[1] != '\0') {
			if ((rc = parse_option(cli, cmd, argc, argv, &i, opts)) != 0)
				return rc;
			continue;
		}
		if (npos >= max_pos)
			return cli_usage_error(cli, cmd, "unexpected argument '%s'", arg);
		pos[npos++] = argv[i++];
	}
	if (npos < min_pos)
		return cli_usage_error(cli, cmd, "missing argument");
	for (int k = npos; k < max_pos; k++)
		pos[k] = NULL;
	return 0;
}
