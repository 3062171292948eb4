/*
 * log.h - berthd's one logging facility.
 *
 * Lines go to stderr as structured key=value text so that journald and grep
 * both work: "ts=... level=info msg...". The level is checked before the
 * arguments are formatted, so a disabled debug line costs one comparison.
 */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

enum log_level { LL_ERROR, LL_WARN, LL_INFO, LL_DEBUG };

/* Written once at start-up, read by every thread. */
extern enum log_level log_threshold;

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * As log_write, for the one line every RPC writes: while the flusher runs
 * the line is queued and written with others in one write(2) within
 * LOG_DEFER_MS, so busy workers do not queue on stderr's file lock. Any
 * log_write writes the queue first, so lines keep their order; a SIGKILL
 * loses at most the last LOG_DEFER_MS of queued lines. Without the
 * flusher it is log_write.
 */
void log_defer(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_DEFER_MS 10

/* Starts the flusher thread (0, or -1: lines stay synchronous); main thread. */
int log_flusher_start(void);
/* Writes what is queued and stops the flusher; main thread, at exit. */
void log_flusher_stop(void);

/* "error", "warn", "info", "debug" -> level; -1 for anything else. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

#define log_at(level, ...)                              \
	do {                                            \
		if ((level) <= log_threshold)           \
			log_write((level), __VA_ARGS__); \
	} while (0)

#define log_deferred_at(level, ...)                      \
	do {                                            \
		if ((level) <= log_threshold)           \
			log_defer((level), __VA_ARGS__); \
	} while (0)

#define log_error(...) log_at(LL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LL_DEBUG, __VA_ARGS__)

#endif
