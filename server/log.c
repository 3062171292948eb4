/*
 * log.c - structured lines on stderr. One write(2) per line so that lines
 * from concurrent workers never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

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

void
log_write(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	size_t n;
	va_list ap;

	n = line_prefix(line, sizeof(line), level);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	n += strlen(line + n);
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	/* One record, one line: a newline inside a value (Docker's messages) would split it. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}
