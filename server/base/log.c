/*
 * log.c - structured lines on stderr. Every write(2) holds whole lines, so
 * lines from concurrent workers never interleave.
 *
 * Deferred lines (log_defer) collect in `queue`, guarded by queue_lock;
 * the flusher thread writes them out LOG_DEFER_MS after the first one
 * arrived. A line written directly first writes the queue, under the same
 * lock, so the file keeps the order in which lines were logged.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

enum log_level log_threshold = LL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

int
log_level_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

/*
 * "ts=2026-11-26T10:02:13.090Z level=info " into line; returns its length.
 * The part up to the seconds changes once a second: each thread keeps it,
 * so a line costs no gmtime_r and no strftime (every RPC writes one).
 */
static size_t
line_prefix(char *line, size_t len, enum log_level level)
{
	static __thread time_t cached_second = -1;
	static __thread char cached[32];
	static __thread size_t cached_len;
	const char *name = level_names[level];
	size_t name_len = strlen(name), n;
	struct timeval tv;
	long ms;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != cached_second) {
		struct tm tm;

		gmtime_r(&tv.tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached), "ts=%Y-%m-%dT%H:%M:%S", &tm);
		cached_second = tv.tv_sec;
	}
	if (cached_len + sizeof(".000Z level=") + name_len + 1 > len)
		return 0;
	memcpy(line, cached, cached_len);
	n = cached_len;
	ms = (long)(tv.tv_usec / 1000);
	line[n++] = '.';
	line[n++] = (char)('0' + ms / 100);
	line[n++] = (char)('0' + ms / 10 % 10);
	line[n++] = (char)('0' + ms % 10);
	memcpy(line + n, "Z level=", 8);
	n += 8;
	memcpy(line + n, name, name_len);
	n += name_len;
	line[n++] = ' ';
	return n;
}

/* Formats one record into line[LOG_LINE_MAX]; returns its length with the newline. */
#define LOG_LINE_MAX 2048

static size_t
format_line(char *line, enum log_level level, const char *fmt, va_list ap)
{
	size_t n = line_prefix(line, LOG_LINE_MAX, level);

	vsnprintf(line + n, LOG_LINE_MAX - n, fmt, ap);
	n += strlen(line + n);
	if (n >= LOG_LINE_MAX - 1)
		n = LOG_LINE_MAX - 2;
	/* One record, one line: a newline inside a value (Docker's messages) would split it. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	return n;
}

#define QUEUE_BYTES 65536

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_filled = PTHREAD_COND_INITIALIZER;
static char queue[QUEUE_BYTES];
static size_t queued;
static bool flusher_running, flusher_stopping;
static pthread_t flusher;

static void
write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w <= 0)
			return; /* stderr gone or full: nothing better to do with a log line */
		p += w;
		n -= (size_t)w;
	}
}

/* Writes and empties the queue; caller holds queue_lock. */
static void
flush_locked(void)
{
	if (queued > 0)
		write_all(queue, queued);
	queued = 0;
}

/* Writes a line now (after the queue), or queues it when `deferred` and the flusher runs. */
static void
emit(const char *line, size_t n, bool deferred)
{
	pthread_mutex_lock(&queue_lock);
	if (!deferred || !flusher_running || queued + n > sizeof(queue)) {
		flush_locked();
		write_all(line, n);
	} else {
		memcpy(queue + queued, line, n);
		if (queued == 0)
			pthread_cond_signal(&queue_filled);
		queued += n;
	}
	pthread_mutex_unlock(&queue_lock);
}

void
log_write(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	n = format_line(line, level, fmt, ap);
	va_end(ap);
	emit(line, n, false);
}

void
log_defer(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	n = format_line(line, level, fmt, ap);
	va_end(ap);
	emit(line, n, true);
}

/* Waits for a first line, lets more gather for LOG_DEFER_MS, writes them all. */
static void *
flusher_main(void *arg)
{
	const struct timespec gather = { 0, LOG_DEFER_MS * 1000000L };

	(void)arg;
	pthread_mutex_lock(&queue_lock);
	while (!flusher_stopping) {
		if (queued == 0) {
			pthread_cond_wait(&queue_filled, &queue_lock);
			continue;
		}
		pthread_mutex_unlock(&queue_lock);
		nanosleep(&gather, NULL);
		pthread_mutex_lock(&queue_lock);
		flush_locked();
	}
	flush_locked();
	pthread_mutex_unlock(&queue_lock);
	return NULL;
}

int
log_flusher_start(void)
{
	pthread_mutex_lock(&queue_lock);
	flusher_stopping = false;
	flusher_running = pthread_create(&flusher, NULL, flusher_main, NULL) == 0;
	pthread_mutex_unlock(&queue_lock);
	return flusher_running ? 0 : -1;
}

void
log_flusher_stop(void)
{
	bool running;

	pthread_mutex_lock(&queue_lock);
	running = flusher_running;
	flusher_stopping = true;
	pthread_cond_signal(&queue_filled);
	pthread_mutex_unlock(&queue_lock);
	if (!running)
		return;
	pthread_join(flusher, NULL);
	pthread_mutex_lock(&queue_lock);
	flusher_running = false;
	flush_locked();
	pthread_mutex_unlock(&queue_lock);
}
