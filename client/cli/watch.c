/*
 * watch.c - --watch (watch.h). Main thread only: the SIGINT handler sets a
 * flag that the loop reads between snapshots.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

#define ANSI_HOME_CLEAR "\033[H\033[2J"

static volatile sig_atomic_t interrupted;

static void
on_sigint(int signo)
{
	(void)signo;
	interrupted = 1;
}

/* Sleeps `seconds`, returning early when SIGINT arrives. */
static void
sleep_unless_interrupted(uint32_t seconds)
{
	struct timespec left = { (time_t)seconds, 0 };

	while (!interrupted && nanosleep(&left, &left) != 0 && errno == EINTR)
		;
}

int
cli_watch(struct cli *cli, const char *title, uint32_t interval_s, uint32_t count,
    cli_snapshot_fn snapshot, void *arg)
{
	struct sigaction sa, old;
	bool tty = isatty(fileno(cli->out)) == 1;
	int rc = 0;

	/* No SA_RESTART: the sleep between snapshots ends at once on SIGINT. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old);

	for (uint32_t n = 0; count == 0 || n < count; n++) {
		if (tty) {
			char now[32];
			time_t t = time(NULL);
			struct tm tm;

			strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
			fprintf(cli->out, ANSI_HOME_CLEAR "Every %us: %s    %s\n\n", interval_s, title,
			    now);
		} else if (n > 0) {
			fputc('\n', cli->out);
		}
		rc = snapshot(cli, arg);
		fflush(cli->out);
		if (rc != 0 || interrupted || (count != 0 && n + 1 >= count))
			break;
		sleep_unless_interrupted(interval_s);
		if (interrupted)
			break;
	}
	sigaction(SIGINT, &old, NULL);
	return interrupted ? 0 : rc;
}

/* What one snapshot of a watched command calls and prints. */
struct snapshot {
	const char *method;
	const ProtobufCMessage *request;
	cli_print_fn print;
	const void *arg;
};

static int
take_snapshot(struct cli *cli, void *arg)
{
	const struct snapshot *s = arg;

	return cli_call_and_print(cli, s->method, s->request, s->print, s->arg);
}

/* True when the parsed `opts` had --watch or --watch-count. */
static bool
watch_requested(const struct cli_opt *opts)
{
	for (const struct cli_opt *o = opts; o->name != NULL; o++)
		if (o->seen && strncmp(o->name, "--watch", 7) == 0)
			return true;
	return false;
}

int
cli_call_and_print_watched(struct cli *cli, const struct cli_command *cmd,
    const struct cli_opt *opts, const struct cli_watch_opts *w, const char *method,
    const ProtobufCMessage *request, cli_print_fn print, const void *arg)
{
	struct snapshot s = { method, request, print, arg };
	char title[64];

	if (!watch_requested(opts))
		return cli_call_and_print(cli, method, request, print, arg);
	if (w->interval_s == 0)
		return cli_usage_error(cli, cmd, "--watch takes a number of seconds of at least 1");
	snprintf(title, sizeof(title), "berth %s", cmd->name);
	return cli_watch(cli, title, w->interval_s, w->count, take_snapshot, &s);
}
