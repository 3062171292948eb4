/*
 * cmd_logs.c - `berth logs` (GetServiceLogs) on one or several services,
 * once or following, and `berth exec` (ExecService).
 *
 * Several services are printed like `docker compose logs`: each line with
 * a "name | " prefix (coloured on a terminal). Read once, their lines are
 * merged in the order of Docker's timestamps (asked for, and cut off again
 * unless --timestamps); followed, each service has a thread that long-polls
 * with its cursor and prints what comes as it comes, under one lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "commands.h"
#include "each.h"
#include "timestamp.h"

/* How long one follow poll waits at berthd, and the call's margin beyond it. */
#define FOLLOW_WAIT_MS 25000
#define FOLLOW_MARGIN_MS 10000
/* An empty answer sooner than this means berthd did not hold the call: pause before the next. */
#define FOLLOW_QUICK_MS 200
#define FOLLOW_PAUSE_MS 250
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 5000

static const char *const colours[] = { "36", "33", "32", "35", "34", "31" };

/*
 * Followers per connection: berthd holds at most a quarter of its workers'
 * worth of calls in flight per connection (4 by default), parked long polls
 * included, so several services are followed over a few connections.
 */
#define FOLLOWERS_PER_CONNECTION 3

/* One service's logs, as one of several. */
struct service_log {
	struct cli *cli;
	berth_client *client; /* the connection its follower polls on */
	const char *id;
	char prefix[256]; /* "name | ", padded, maybe coloured; "" when alone */
	Berth__V1__GetServiceLogsRequest req;
	bool strip_stamps; /* timestamps were asked for only to merge */
	int outcome;
	berth_status status;
	Berth__V1__GetServiceLogsResponse *reply; /* read once: kept for the merge */
};

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void
make_prefixes(struct service_log *logs, size_t n, bool colour)
{
	size_t width = 0;

	for (size_t i = 0; i < n; i++)
		if (strlen(logs[i].id) > width)
			width = strlen(logs[i].id);
	if (width > 120)
		width = 120;
	for (size_t i = 0; i < n; i++) {
		if (colour)
			snprintf(logs[i].prefix, sizeof(logs[i].prefix), "\033[%sm%-*s |\033[0m ",
			    colours[i % (sizeof(colours) / sizeof(colours[0]))], (int)width,
			    logs[i].id);
		else
			snprintf(logs[i].prefix, sizeof(logs[i].prefix), "%-*s | ", (int)width,
			    logs[i].id);
	}
}

/* One line (without its newline) with the prefix; the stamp cut off when only asked for. */
static void
print_line(FILE *out, const struct service_log *l, const char *line, size_t len)
{
	if (l->strip_stamps) {
		const char *space = memchr(line, ' ', len);
		if (space != NULL) {
			len -= (size_t)(space + 1 - line);
			line = space + 1;
		}
	}
	fprintf(out, "%s%.*s\n", l->prefix, (int)len, line);
}

/* Every line of text, each prefixed (a last line without newline gets one). */
static void
print_text(FILE *out, const struct service_log *l, const char *text)
{
	if (l->prefix[0] == '\0' && !l->strip_stamps) {
		fputs(text, out);
		return;
	}
	while (*text != '\0') {
		const char *nl = strchr(text, '\n');
		size_t len = nl != NULL ? (size_t)(nl - text) : strlen(text);

		print_line(out, l, text, len);
		text += len + (nl != NULL);
	}
}

/* A failure worth waiting out: berthd or the network may come back. */
static bool
transient(int code)
{
	return code == BERTH__V1__CODE__UNAVAILABLE || code == BERTH__V1__CODE__DEADLINE_EXCEEDED;
}

/*
 * Follows one service until its container has ended or a lasting failure:
 * long polls with the cursor of the answer before. Its own thread (or the
 * caller's when alone); prints under print_lock.
 */
static void *
follow_main(void *arg)
{
	struct service_log *l = arg;
	struct cli *cli = l->cli;
	char *cursor = NULL;
	int64_t retry_ms = RETRY_FIRST_MS;

	for (;;) {
		Berth__V1__GetServiceLogsResponse *r = NULL;
		int64_t started = clock_monotonic_ms();
		int rc;

		l->req.cursor = cursor != NULL ? cursor : "";
		rc = berth_call(l->client, "GetServiceLogs", &l->req.base, (ProtobufCMessage **)&r,
		    &l->status);
		if (rc != 0) {
			if (!transient(rc)) {
				l->outcome = rc;
				break;
			}
			clock_sleep_ms(retry_ms);
			retry_ms = retry_ms * 2 < RETRY_MAX_MS ? retry_ms * 2 : RETRY_MAX_MS;
			continue;
		}
		retry_ms = RETRY_FIRST_MS;
		pthread_mutex_lock(&print_lock);
		if (cli->json && (r->logs[0] != '\0' || r->ended))
			cli_print_json_line(cli, &r->base);
		else if (!cli->json)
			print_text(cli->out, l, r->logs);
		fflush(cli->out);
		pthread_mutex_unlock(&print_lock);
		free(cursor);
		cursor = strdup(r->cursor);
		if (r->ended || cursor == NULL) {
			if (cursor == NULL)
				l->outcome = BERTH__V1__CODE__RESOURCE_EXHAUSTED;
			berth_reply_free(&r->base);
			break;
		}
		if (r->logs[0] == '\0' && clock_monotonic_ms() - started < FOLLOW_QUICK_MS)
			clock_sleep_ms(FOLLOW_PAUSE_MS);
		berth_reply_free(&r->base);
	}
	free(cursor);
	return NULL;
}

/* The first failure among the services, as the command's outcome (named by the service). */
static int
first_failure(struct cli *cli, struct service_log *logs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (logs[i].outcome == 0)
			continue;
		cli->status = logs[i].status;
		if (n > 1)
			snprintf(cli->status.message, sizeof(cli->status.message), "%.120s: %.380s",
			    logs[i].id, logs[i].status.message);
		return logs[i].outcome;
	}
	return 0;
}

static int
follow_all(struct cli *cli, struct service_log *logs, size_t n, uint32_t timeout_ms)
{
	size_t n_clients = (n + FOLLOWERS_PER_CONNECTION - 1) / FOLLOWERS_PER_CONNECTION;
	pthread_t *threads = calloc(n, sizeof(*threads));
	bool *started = calloc(n, sizeof(*started));
	berth_client **clients = calloc(n_clients, sizeof(*clients));
	int rc = 0;

	if (threads == NULL || started == NULL || clients == NULL) {
		free(threads);
		free(started);
		free(clients);
		return cli_out_of_memory(cli);
	}
	clients[0] = cli->client;
	for (size_t i = 1; i < n_clients && rc == 0; i++)
		rc = berth_open(&clients[i], cli->url, &cli->opts, &cli->status);
	for (size_t i = 0; i < n_clients && rc == 0; i++)
		berth_set_timeout(clients[i], timeout_ms);
	for (size_t i = 0; i < n; i++)
		logs[i].client = clients[i / FOLLOWERS_PER_CONNECTION];
	if (rc != 0) {
		/* nothing started */
	} else if (n == 1) {
		follow_main(&logs[0]);
	} else {
		for (size_t i = 0; i < n; i++)
			started[i] = pthread_create(&threads[i], NULL, follow_main, &logs[i]) == 0;
		for (size_t i = 0; i < n; i++) {
			if (started[i])
				pthread_join(threads[i], NULL);
			else
				follow_main(&logs[i]);
		}
	}
	for (size_t i = 1; i < n_clients; i++)
		berth_close(clients[i]);
	free(threads);
	free(started);
	free(clients);
	return rc != 0 ? rc : first_failure(cli, logs, n);
}

/* A line of one service, for the merge. */
struct merged_line {
	const struct service_log *from;
	const char *text;
	size_t len;
	struct timestamp at;
	size_t order; /* keeps a service's own order among equal stamps */
};

static int
by_time(const void *a, const void *b)
{
	const struct merged_line *x = a, *y = b;
	int c = timestamp_compare(&x->at, &y->at);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Reads each service once and prints their lines merged by time. */
static int
read_all(struct cli *cli, struct service_log *logs, size_t n)
{
	struct merged_line *lines = NULL;
	size_t count = 0, cap = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		logs[i].outcome = berth_call(cli->client, "GetServiceLogs", &logs[i].req.base,
		    (ProtobufCMessage **)&logs[i].reply, &logs[i].status);
		if (logs[i].outcome != 0)
			continue;
		for (const char *p = logs[i].reply->logs; *p != '\0';) {
			const char *nl = strchr(p, '\n'), *space;
			size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

			if (count == cap) {
				struct merged_line *more;
				cap = cap != 0 ? cap * 2 : 256;
				if ((more = realloc(lines, cap * sizeof(*lines))) == NULL) {
					rc = cli_out_of_memory(cli);
					goto out;
				}
				lines = more;
			}
			lines[count] = (struct merged_line){ &logs[i], p, len, { 0, 0 }, count };
			space = memchr(p, ' ', len);
			if (space != NULL)
				timestamp_parse_rfc3339(p, (size_t)(space - p), &lines[count].at);
			count++;
			p += len + (nl != NULL);
		}
	}
	if (count > 0)
		qsort(lines, count, sizeof(*lines), by_time);
	for (size_t i = 0; i < count; i++)
		print_line(cli->out, lines[i].from, lines[i].text, lines[i].len);
	rc = first_failure(cli, logs, n);
out:
	for (size_t i = 0; i < n; i++)
		berth_reply_free(logs[i].reply ? &logs[i].reply->base : NULL);
	free(lines);
	return rc;
}

/*
 * --since as berthd takes it: RFC 3339 and Unix seconds pass as they are;
 * "10m" (s, m, h) means that long ago, in Unix seconds. 0, or -1.
 */
static int
since_value(const char *given, char *buf, size_t len, char **out)
{
	struct timestamp t;
	uint32_t ago;
	size_t n = strlen(given);

	if (n > 1 && strchr("smh", given[n - 1]) != NULL && cli_parse_duration(given, &ago) == 0) {
		snprintf(buf, len, "%lld", (long long)time(NULL) - ago);
		*out = buf;
		return 0;
	}
	if (!timestamp_parse(given, &t))
		return -1;
	*out = (char *)given;
	return 0;
}

int
cli_cmd_logs(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	bool follow = false, timestamps = false, only_out = false, only_err = false;
	const char *since = NULL, *template_name = NULL;
	struct cli_opt opts[] = {
		{ "--follow", CLI_OPT_FLAG, &follow },
		{ "-f", CLI_OPT_FLAG, &follow },
		{ "--since", CLI_OPT_STRING, &since },
		{ "--timestamps", CLI_OPT_FLAG, &timestamps },
		{ "-t", CLI_OPT_FLAG, &timestamps },
		{ "--stdout", CLI_OPT_FLAG, &only_out },
		{ "--stderr", CLI_OPT_FLAG, &only_err },
		{ "--tail", CLI_OPT_UINT, &req.tail },
		{ "--template", CLI_OPT_STRING, &template_name },
		{ NULL },
	};
	ProtobufCMessage *listed = NULL;
	struct service_log *logs = NULL;
	char since_buf[32], **ids;
	size_t n = 0;
	int rc;

	if ((ids = calloc((size_t)argc + 1, sizeof(*ids))) == NULL)
		return cli_out_of_memory(cli);
	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, ids, 0, argc)) != 0)
		goto out;
	while (n < (size_t)argc && ids[n] != NULL)
		n++;
	if (n == 0 && template_name == NULL) {
		rc = cli_usage_error(cli, cmd, "a service id (or --template T) is required");
		goto out;
	}
	if (since != NULL && since_value(since, since_buf, sizeof(since_buf), &req.since) != 0) {
		rc = cli_usage_error(cli, cmd,
		    "--since takes RFC 3339 (2026-12-05T10:00:00Z), Unix seconds, or 30s, 10m, 2h");
		goto out;
	}
	req.stream = only_out && !only_err ? BERTH__V1__LOG_STREAM__LOG_STREAM_STDOUT
	    : only_err && !only_out        ? BERTH__V1__LOG_STREAM__LOG_STREAM_STDERR
					   : BERTH__V1__LOG_STREAM__LOG_STREAM_BOTH;
	req.timestamps = timestamps;
	if ((rc = cli_connect(cli)) != 0)
		goto out;
	if (template_name != NULL &&
	    ((rc = cli_each_template_ids(cli, template_name, &ids, &n, &listed)) != 0 || n == 0))
		goto out;
	if (n == 1 && template_name == NULL && !follow) {
		/* One service read once: the text as berthd sent it. */
		req.service_id = ids[0];
		rc = cli_call_and_print(cli, "GetServiceLogs", &req.base, cli_print_logs, NULL);
		goto out;
	}
	if ((logs = calloc(n, sizeof(*logs))) == NULL) {
		rc = cli_out_of_memory(cli);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		logs[i].cli = cli;
		logs[i].id = ids[i];
		logs[i].req = req;
		logs[i].req.service_id = ids[i];
	}
	if (n > 1 || template_name != NULL)
		make_prefixes(logs, n,
		    !cli->json && isatty(fileno(cli->out)) && getenv("NO_COLOR") == NULL);
	if (follow) {
		uint32_t timeout = FOLLOW_WAIT_MS + FOLLOW_MARGIN_MS;
		if (cli->opts.timeout_ms > timeout)
			timeout = cli->opts.timeout_ms;
		for (size_t i = 0; i < n; i++) {
			logs[i].req.follow = true;
			logs[i].req.wait_ms = FOLLOW_WAIT_MS;
		}
		rc = follow_all(cli, logs, n, timeout); /* calls wait longer than the long poll */
	} else if (cli->json) {
		rc = cli_each_call(cli, "GetServiceLogs", &req.base, ids, n, cli_print_logs);
	} else {
		for (size_t i = 0; i < n; i++) {
			logs[i].req.timestamps = true; /* to merge by; cut off unless asked for */
			logs[i].strip_stamps = !timestamps;
		}
		rc = read_all(cli, logs, n);
	}
out:
	free(logs);
	berth_reply_free(listed);
	free(ids);
	return rc;
}

int
cli_print_logs(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	(void)arg;
	fputs(((const Berth__V1__GetServiceLogsResponse *)reply)->logs, cli->out);
	return 0;
}

/* --- berth exec ------------------------------------------------------------------ */

int
cli_cmd_exec(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ExecServiceRequest req = BERTH__V1__EXEC_SERVICE_REQUEST__INIT;
	Berth__V1__ExecServiceResponse *r = NULL;
	uint32_t timeout_s = 0;
	struct cli_opt opts[] = { { "--timeout", CLI_OPT_UINT, &timeout_s }, { NULL } };
	char *pos[1];
	int dash = -1, rc;

	for (int i = 0; i < argc && dash < 0; i++)
		if (strcmp(argv[i], "--") == 0)
			dash = i;
	if (dash < 0 || dash + 1 >= argc)
		return cli_usage_error(cli, cmd,
		    "the command goes after --: berth exec ID -- CMD ARGS...");
	if ((rc = cli_args_parse(cli, cmd, dash, argv, opts, pos, 1, 1)) != 0)
		return rc;
	if (timeout_s > 300)
		return cli_usage_error(cli, cmd, "--timeout is at most 300 seconds");
	req.service_id = pos[0];
	req.command = argv + dash + 1;
	req.n_command = (size_t)(argc - dash - 1);
	req.timeout_ms = timeout_s * 1000;
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	{
		/* The call waits as long as the command may run, and a little more. */
		uint32_t timeout = (timeout_s != 0 ? timeout_s * 1000 : 30000) + FOLLOW_MARGIN_MS;
		if (cli->opts.timeout_ms > timeout)
			timeout = cli->opts.timeout_ms;
		berth_set_timeout(cli->client, timeout);
	}
	if ((rc = cli_call(cli, "ExecService", &req.base, (ProtobufCMessage **)&r)) != 0)
		return rc;
	if (cli->json) {
		rc = cli_print_json(cli, &r->base);
	} else {
		fputs(r->stdout, cli->out);
		fflush(cli->out);
		fputs(r->stderr, cli->err);
		if (r->truncated)
			fprintf(cli->err, "berth: the output was cut short (1 MiB per stream)\n");
	}
	if (rc == 0 && r->exit_code != 0)
		rc = r->exit_code > 0 && r->exit_code < 256 ? CLI_EXIT_WITH(r->exit_code)
							    : CLI_EXIT_WITH(255);
	berth_reply_free(&r->base);
	return rc;
}
