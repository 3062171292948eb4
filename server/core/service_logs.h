/*
 * service_logs.h - GetServiceLogs: a service's log lines, from the end
 * (tail), from a time (since) or after a cursor, and followed as a long
 * poll (follow, wait_ms).
 *
 * The cursor is "c1.<sec>.<nsec>.<n>": the Docker timestamp of the last
 * line returned and how many lines carry exactly that timestamp up to and
 * including it, so the next call asks Docker for the lines since that
 * instant (Docker's since is inclusive) and skips the n already seen: no
 * line lost or repeated, even when several lines share a timestamp.
 * Clients treat it as opaque.
 *
 * One answer holds at most SERVICE_LOGS_ANSWER_MAX bytes of text: reading
 * forward (cursor, or since without tail) it stops at the line that would
 * pass it, and the cursor continues from there; reading the tail it keeps
 * the newest lines that fit.
 *
 * Worker threads, with the call's arena, deadline and registry connection.
 */
#ifndef BERTH_CORE_SERVICE_LOGS_H
#define BERTH_CORE_SERVICE_LOGS_H

#include "base/call.h"

#define SERVICE_LOGS_TAIL 100
#define SERVICE_LOGS_MAX_TAIL 100000
#define SERVICE_LOGS_ANSWER_MAX ((size_t)1 << 20)
#define SERVICE_LOGS_MAX_WAIT_MS 30000
/* How often a parked follow looks at the log again. */
#define SERVICE_LOGS_POLL_MS 250

/*
 * Fills out (logs, cursor, ended) from the arena. With follow and nothing
 * new while the container runs, parks the call (call_park) and returns 0
 * with out untouched; when it cannot park, answers at once with no lines.
 * INVALID_ARGUMENT for a bad id, tail, stream, since or cursor; NOT_FOUND
 * for an unknown service; FAILED_PRECONDITION when its container is gone;
 * UNAVAILABLE when Docker does not answer.
 */
int service_logs(struct call *call, const Berth__V1__GetServiceLogsRequest *in,
    Berth__V1__GetServiceLogsResponse *out);

/* The cursor's text parsed: 0, or -1 when it is not one service_logs made. */
struct timestamp;
int service_logs_cursor_parse(const char *text, struct timestamp *t, uint32_t *count);

#endif
