/*
 * progress.c - the elapsed-time indicator of long calls (progress.h).
 *
 * Threads: the indicator has one thread of its own, which alone writes to
 * cli->err while it runs (the main thread is blocked in the call
 * meanwhile) and is joined before the main thread prints again.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define ANSI_ERASE_LINE "\r\033[K"

struct cli_progress {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool done;    /* under lock */
	bool printed; /* written by the thread; read after the join */
	FILE *err;
	struct timespec started; /* CLOCK_MONOTONIC */
	char label[160];
};

static void *
progress_main(void *arg)
{
	struct cli_progress *p = arg;

	pthread_mutex_lock(&p->lock);
	for (long seconds = 1;; seconds++) {
		struct timespec until = p->started;

		until.tv_sec += seconds;
		while (!p->done && pthread_cond_timedwait(&p->wake, &p->lock, &until) == 0)
			;
		if (p->done)
			break;
		fprintf(p->err, ANSI_ERASE_LINE "%s... %lds", p->label, seconds);
		fflush(p->err);
		p->printed = true;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct cli_progress *
cli_progress_start(struct cli *cli, const char *label)
{
	struct cli_progress *p;
	pthread_condattr_t attr;

	if (isatty(fileno(cli->err)) != 1 || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->err = cli->err;
	snprintf(p->label, sizeof(p->label), "%s", label);
	clock_gettime(CLOCK_MONOTONIC, &p->started);
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&p->thread, NULL, progress_main, p) != 0) {
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	return p;
}

void
cli_progress_stop(struct cli_progress *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->done = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	if (p->printed) {
		fputs(ANSI_ERASE_LINE, p->err);
		fflush(p->err);
	}
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
