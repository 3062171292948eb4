/*
 * cli.c - the driver of `berth`: global options, command lookup, the help
 * command and exit statuses. The commands are in cmd_*.c, their table in
 * commands.c, what they share in context.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"

/*
 * Exit statuses, one per class of outcome, so that scripts can tell "fix
 * your input" from "try again later". Failed local checks (a bad name, an
 * unreadable --from-json document) count as the server's INVALID_ARGUMENT
 * would, because that is what berthd would answer.
 *
 *   0  OK
 *   1  usage error: unknown command or option, missing argument
 *   2  INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
 *   3  NOT_FOUND
 *   4  ALREADY_EXISTS, ABORTED
 *   5  RESOURCE_EXHAUSTED
 *   6  UNAUTHENTICATED, PERMISSION_DENIED
 *   7  UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED (retry later)
 *   8  UNIMPLEMENTED
 *   9  INTERNAL, UNKNOWN, DATA_LOSS, anything else
 */
int
cli_exit_status(int outcome)
{
	if (outcome < CLI_EXIT_BASE && outcome >= CLI_EXIT_WITH(255))
		return CLI_EXIT_BASE - outcome; /* berth exec: the command's own status */
	switch (outcome) {
	case BERTH__V1__CODE__OK:
	case CLI_HELP:
		return 0;
	case CLI_USAGE:
		return 1;
	case BERTH__V1__CODE__INVALID_ARGUMENT:
	case BERTH__V1__CODE__FAILED_PRECONDITION:
	case BERTH__V1__CODE__OUT_OF_RANGE:
		return 2;
	case BERTH__V1__CODE__NOT_FOUND:
		return 3;
	case BERTH__V1__CODE__ALREADY_EXISTS:
	case BERTH__V1__CODE__ABORTED:
		return 4;
	case BERTH__V1__CODE__RESOURCE_EXHAUSTED:
		return 5;
	case BERTH__V1__CODE__UNAUTHENTICATED:
	case BERTH__V1__CODE__PERMISSION_DENIED:
		return 6;
	case BERTH__V1__CODE__UNAVAILABLE:
	case BERTH__V1__CODE__DEADLINE_EXCEEDED:
	case BERTH__V1__CODE__CANCELLED:
		return 7;
	case BERTH__V1__CODE__UNIMPLEMENTED:
		return 8;
	default:
		return 9;
	}
}

/* --timeout SEC: seconds, fractions allowed, as milliseconds. */
static int
parse_timeout(const char *s, uint32_t *ms)
{
	char *end;
	double sec = strtod(s, &end);

	if (end == s || *end != '\0' || !(sec > 0) || sec * 1000.0 > (double)UINT32_MAX)
		return -1;
	*ms = sec * 1000.0 < 1.0 ? 1 : (uint32_t)(sec * 1000.0);
	return 0;
}

/*
 * The token from the first line of `path` (--token-file, $BERTH_TOKEN_FILE),
 * so that it never appears on a command line. 0, or -1 after saying why.
 */
static int
read_token_file(struct cli *cli, const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		fprintf(cli->err, "berth: --token-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fgets(cli->token, sizeof(cli->token), f) == NULL)
		cli->token[0] = '\0';
	fclose(f);
	n = strcspn(cli->token, "\r\n");
	cli->token[n] = '\0';
	if (n == 0) {
		fprintf(cli->err, "berth: --token-file %s: no token on its first line\n", path);
		return -1;
	}
	cli->opts.token = cli->token;
	return 0;
}

/* Parses the options before the command; *i ends at the command word. */
static int
parse_global_options(struct cli *cli, int argc, char **argv, int *i)
{
	const char *value;
	int rc;

	while (*i < argc && argv[*i][0] == '-') {
		const char *arg = argv[*i];

		if (strcmp(arg, "--") == 0) {
			*i += 1;
			break;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			cli_print_usage(cli->out, true);
			return CLI_HELP;
		}
		if (strcmp(arg, "--version") == 0) {
			fprintf(cli->out, "berth %s (libberth %s)\n", BERTH_VERSION, berth_version());
			return CLI_HELP;
		}
		if (strcmp(arg, "--json") == 0) {
			cli->json = true;
			*i += 1;
			continue;
		}
		if ((rc = cli_args_value(cli, NULL, argc, argv, i, "--url", &cli->url)) != 0) {
			if (rc < 0)
				return rc;
			continue;
		}
		if ((rc = cli_args_value(cli, NULL, argc, argv, i, "--token-file", &value)) != 0) {
			if (rc < 0)
				return rc;
			if (read_token_file(cli, value) != 0)
				return CLI_USAGE;
			continue;
		}
		if ((rc = cli_args_value(cli, NULL, argc, argv, i, "--token", &cli->opts.token)) != 0) {
			if (rc < 0)
				return rc;
			/* The token stays in /proc/PID/cmdline while berth runs. */
			if (isatty(fileno(cli->err)) == 1)
				fprintf(cli->err, "berth: warning: --token shows the token to every local "
						  "user (ps); use --token-file FILE or $BERTH_TOKEN\n");
			continue;
		}
		if (
		    (rc = cli_args_value(cli, NULL, argc, argv, i, "--tls-ca", &cli->opts.tls_ca_file)) !=
			0 ||
		    (rc = cli_args_value(cli, NULL, argc, argv, i, "--tls-cert",
			 &cli->opts.tls_cert_file)) != 0 ||
		    (rc = cli_args_value(cli, NULL, argc, argv, i, "--tls-key", &cli->opts.tls_key_file)) !=
			0 ||
		    (rc = cli_args_value(cli, NULL, argc, argv, i, "--tls-server-name",
			 &cli->opts.tls_server_name)) != 0) {
			if (rc < 0)
				return rc;
			continue;
		}
		if ((rc = cli_args_value(cli, NULL, argc, argv, i, "--timeout", &value)) != 0) {
			if (rc < 0)
				return rc;
			if (parse_timeout(value, &cli->opts.timeout_ms) != 0)
				return cli_usage_error(cli, NULL,
				    "--timeout takes a positive number of seconds, not '%s'", value);
			continue;
		}
		return cli_usage_error(cli, NULL, "unknown option '%s'", arg);
	}
	return 0;
}

static bool
has_subcommands(const char *name)
{
	for (size_t i = 0; i < cli_commands_count; i++) {
		if (strcmp(cli_commands[i].name, name) == 0 && cli_commands[i].sub != NULL)
			return true;
	}
	return false;
}

static const struct cli_command *
find_command(const char *name, const char *sub)
{
	for (size_t i = 0; i < cli_commands_count; i++) {
		const struct cli_command *c = &cli_commands[i];

		if (strcmp(c->name, name) != 0)
			continue;
		if (c->sub == NULL || (sub != NULL && strcmp(c->sub, sub) == 0))
			return c;
	}
	return NULL;
}

/* "berth template" alone, or with --help: the usage of every subcommand. */
static void
print_group_usage(const char *name, FILE *f)
{
	fprintf(f, "Usage:\n");
	for (size_t i = 0; i < cli_commands_count; i++) {
		if (strcmp(cli_commands[i].name, name) == 0)
			fprintf(f, "  berth %s\n", cli_commands[i].synopsis);
	}
	fprintf(f, "\nRun 'berth %s SUBCOMMAND --help' for details.\n", name);
}

/* `berth help [COMMAND [SUBCOMMAND]]` */
static int
run_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc == 0) {
		cli_print_usage(cli->out, true);
		return CLI_HELP;
	}
	if (has_subcommands(argv[0]) && argc == 1) {
		print_group_usage(argv[0], cli->out);
		return CLI_HELP;
	}
	if ((cmd = find_command(argv[0], argc > 1 ? argv[1] : NULL)) == NULL) {
		cli_usage_error(cli, NULL, "no such command '%s%s%s'", argv[0], argc > 1 ? " " : "",
		    argc > 1 ? argv[1] : "");
		return CLI_USAGE;
	}
	cli_command_usage(cmd, cli->out);
	return CLI_HELP;
}

/* Looks the command up and runs it; returns its outcome. */
static int
dispatch(struct cli *cli, int argc, char **argv)
{
	const struct cli_command *cmd;
	const char *name = argv[0];
	int skip = 1;

	if (strcmp(name, "help") == 0)
		return run_help(cli, argc - 1, argv + 1);
	if (has_subcommands(name)) {
		if (argc < 2) {
			fprintf(cli->err, "berth: '%s' needs a subcommand\n", name);
			print_group_usage(name, cli->err);
			return CLI_USAGE;
		}
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			print_group_usage(name, cli->out);
			return CLI_HELP;
		}
		if ((cmd = find_command(name, argv[1])) == NULL) {
			fprintf(cli->err, "berth: unknown command '%s %s'\n", name, argv[1]);
			print_group_usage(name, cli->err);
			return CLI_USAGE;
		}
		skip = 2;
	} else if ((cmd = find_command(name, NULL)) == NULL) {
		fprintf(cli->err, "berth: unknown command '%s'\n", name);
		cli_print_usage(cli->err, false);
		return CLI_USAGE;
	}
	return cmd->fn(cli, cmd, argc - skip, argv + skip);
}

int
cli_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli cli = { 0 };
	const char *env;
	int i = 1, outcome;

	cli.out = out;
	cli.err = err;
	cli.url = (env = getenv("BERTH_URL")) != NULL && env[0] != '\0' ? env : berth_default_url();
	cli.opts.token = getenv("BERTH_TOKEN");
	if ((env = getenv("BERTH_TOKEN_FILE")) != NULL && env[0] != '\0' &&
	    read_token_file(&cli, env) != 0) {
		fflush(err);
		return cli_exit_status(CLI_USAGE);
	}
	cli.opts.tls_ca_file = getenv("BERTH_TLS_CA");
	cli.opts.tls_cert_file = getenv("BERTH_TLS_CERT");
	cli.opts.tls_key_file = getenv("BERTH_TLS_KEY");

	outcome = parse_global_options(&cli, argc, argv, &i);
	if (outcome == 0 && i >= argc) {
		fprintf(err, "berth: no command given\n");
		cli_print_usage(err, false);
		outcome = CLI_USAGE;
	}
	if (outcome == 0)
		outcome = dispatch(&cli, argc - i, argv + i);
	berth_close(cli.client);

	/* A reply that could not be written is a failure, not a success. */
	if (fflush(out) != 0 || ferror(out)) {
		if (outcome == 0 || outcome == CLI_HELP)
			outcome = cli_fail(&cli, BERTH__V1__CODE__INTERNAL, NULL,
			    "cannot write the output");
	}
	if (outcome > 0) {
		fprintf(err, "berth: %s", berth_code_name(outcome));
		if (cli.status.message[0] != '\0')
			fprintf(err, ": %s", cli.status.message);
		if (cli.status.field[0] != '\0')
			fprintf(err, " (field: %s)", cli.status.field);
		fputc('\n', err);
	}
	fflush(err);
	return cli_exit_status(outcome);
}
