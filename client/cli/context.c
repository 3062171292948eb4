/*
 * context.c - the usage texts and the helpers every command uses: usage
 * errors, failures, calling berthd and printing the reply (context.h).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "json_codec.h"

static const char global_synopsis[] =
    "berth [--url URL] [--token-file FILE] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]\n"
    "             [--timeout SEC] [--json] COMMAND [ARGS...]";

static const char global_help[] =
    "The admin CLI of berthd, the service manager for Docker hosts.\n"
    "\n"
    "Global options (before the command):\n"
    "  --url URL      berthd's address (default: $BERTH_URL, else " BERTH_DEFAULT_URL ")\n"
    "  --token-file FILE\n"
    "                 read the bearer token sent with every call from FILE (its first\n"
    "                 line; default: $BERTH_TOKEN_FILE, else $BERTH_TOKEN)\n"
    "  --token TOKEN  the token itself; every local user sees it in the process\n"
    "                 list while berth runs: prefer --token-file or $BERTH_TOKEN\n"
    "  --tls-ca FILE  CA certificate(s) that berthd's certificate must chain to, for\n"
    "                 tls+tcp:// URLs (default: $BERTH_TLS_CA, else\n"
    "                 " BERTH_DEFAULT_TLS_CA ")\n"
    "  --tls-cert FILE, --tls-key FILE\n"
    "                 this client's certificate and key (PEM), for a berthd that\n"
    "                 requires mutual TLS (default: $BERTH_TLS_CERT, $BERTH_TLS_KEY)\n"
    "  --tls-server-name NAME\n"
    "                 the name berthd's certificate must carry (default: the URL's host)\n"
    "  --timeout SEC  how long to wait for each answer (default: 60)\n"
    "  --json         print the reply as one JSON object with the proto's field\n"
    "                 names; every field is present, enums by name\n"
    "  -h, --help     this text; `berth COMMAND --help` for one command\n"
    "  --version      print the version\n";

/* The table of exit statuses is cli_exit_status() in cli.c. */
static const char exit_help[] =
    "Errors go to stderr as \"berth: CODE: message\", with \" (field: NAME)\" when\n"
    "the server names the field at fault.\n"
    "\n"
    "Exit status:\n"
    "  0  OK\n"
    "  1  usage error (unknown command or option, missing argument)\n"
    "  2  INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE (also local checks)\n"
    "  3  NOT_FOUND\n"
    "  4  ALREADY_EXISTS, ABORTED\n"
    "  5  RESOURCE_EXHAUSTED\n"
    "  6  UNAUTHENTICATED, PERMISSION_DENIED\n"
    "  7  UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED (retry later)\n"
    "  8  UNIMPLEMENTED\n"
    "  9  INTERNAL, UNKNOWN, DATA_LOSS\n";

/* Synopses longer than this get their summary on the next line. */
#define SYNOPSIS_COLUMN 36

void
cli_print_usage(FILE *f, bool full)
{
	fprintf(f, "Usage: %s\n\n", global_synopsis);
	if (full)
		fprintf(f, "%s\n", global_help);
	fprintf(f, "Commands:\n");
	for (size_t i = 0; i < cli_commands_count; i++) {
		const struct cli_command *c = &cli_commands[i];

		if (strlen(c->synopsis) > SYNOPSIS_COLUMN)
			fprintf(f, "  %s\n  %-*s  %s\n", c->synopsis, SYNOPSIS_COLUMN, "", c->summary);
		else
			fprintf(f, "  %-*s  %s\n", SYNOPSIS_COLUMN, c->synopsis, c->summary);
	}
	if (full)
		fprintf(f, "\n%s", exit_help);
	else
		fprintf(f, "\nRun 'berth --help' for the global options and exit statuses.\n");
}

void
cli_command_usage(const struct cli_command *cmd, FILE *f)
{
	if (cmd == NULL) {
		cli_print_usage(f, true);
		return;
	}
	fprintf(f, "Usage: berth %s\n\n%s\n", cmd->synopsis, cmd->summary);
	if (cmd->details != NULL)
		fprintf(f, "\n%s", cmd->details);
}

int
cli_usage_error(struct cli *cli, const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("berth: ", cli->err);
	va_start(ap, fmt);
	vfprintf(cli->err, fmt, ap);
	va_end(ap);
	fputc('\n', cli->err);
	if (cmd != NULL)
		fprintf(cli->err, "Usage: berth %s\nRun 'berth %s%s%s --help' for details.\n",
		    cmd->synopsis, cmd->name, cmd->sub != NULL ? " " : "",
		    cmd->sub != NULL ? cmd->sub : "");
	else
		fprintf(cli->err, "Usage: %s\nRun 'berth --help' for details.\n", global_synopsis);
	return CLI_USAGE;
}

int
cli_fail(struct cli *cli, int code, const char *field, const char *fmt, ...)
{
	va_list ap;

	memset(&cli->status, 0, sizeof(cli->status));
	cli->status.code = code;
	snprintf(cli->status.field, sizeof(cli->status.field), "%s", field != NULL ? field : "");
	va_start(ap, fmt);
	vsnprintf(cli->status.message, sizeof(cli->status.message), fmt, ap);
	va_end(ap);
	return code;
}

int
cli_fail_error(struct cli *cli, const struct error *e)
{
	cli_fail(cli, e->code, e->field, "%s", e->message);
	snprintf(cli->status.reason, sizeof(cli->status.reason), "%s", e->reason);
	return e->code;
}

int
cli_out_of_memory(struct cli *cli)
{
	return cli_fail(cli, BERTH__V1__CODE__RESOURCE_EXHAUSTED, NULL, "out of memory");
}

int
cli_check_name(struct cli *cli, const char *field, const char *name)
{
	struct error err;

	int rc = strcmp(field, "instance") == 0 ? validate_instance_name(field, name, &err)
						   : validate_name(field, name, &err);

	return rc != 0 ? cli_fail_error(cli, &err) : 0;
}

int
cli_call(struct cli *cli, const char *method, const ProtobufCMessage *request,
    ProtobufCMessage **reply)
{
	*reply = NULL;
	if (cli->client == NULL &&
	    berth_open(&cli->client, cli->url, &cli->opts, &cli->status) != 0)
		return cli->status.code;
	return berth_call(cli->client, method, request, reply, &cli->status);
}

int
cli_print_json(struct cli *cli, const ProtobufCMessage *msg)
{
	struct error err;
	char *text;
	int rc;

	if (json_codec_print(msg, &text, &err) != 0)
		return cli_fail_error(cli, &err);
	rc = fputs(text, cli->out);
	free(text);
	fputc('\n', cli->out);
	if (rc == EOF)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "cannot write the JSON output");
	return 0;
}

int
cli_print_json_line(struct cli *cli, const ProtobufCMessage *msg)
{
	json_t *j = json_codec_from_message(msg);
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int rc;

	json_decref(j);
	if (text == NULL)
		return cli_out_of_memory(cli);
	rc = fprintf(cli->out, "%s\n", text);
	free(text);
	if (rc < 0 || fflush(cli->out) != 0)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "cannot write the JSON output");
	return 0;
}

int
cli_connect(struct cli *cli)
{
	if (cli->client == NULL &&
	    berth_open(&cli->client, cli->url, &cli->opts, &cli->status) != 0)
		return cli->status.code;
	return 0;
}

int
cli_call_and_print(struct cli *cli, const char *method, const ProtobufCMessage *request,
    cli_print_fn print, const void *arg)
{
	ProtobufCMessage *reply;
	int rc;

	if ((rc = cli_call(cli, method, request, &reply)) != 0)
		return rc;
	rc = cli->json ? cli_print_json(cli, reply) : print(cli, reply, arg);
	berth_reply_free(reply);
	return rc;
}
