/*
 * timestamp.h - points in time as text, to the nanosecond: RFC 3339 (what
 * Docker stamps log lines with, what a user types) and Unix seconds with a
 * fraction (what Docker's logs?since= takes). Used by berthd's logs and by
 * the CLI's --since; no time zone database, no locale.
 */
#ifndef BERTH_TIMESTAMP_H
#define BERTH_TIMESTAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds since the Unix epoch (UTC) and nanoseconds within it. */
struct timestamp {
	int64_t sec;
	int32_t nsec; /* 0 .. 999999999 */
};

/* "Unix seconds with nine decimals": room for any timestamp_format_unix. */
#define TIMESTAMP_UNIX_LEN 32

/*
 * s[0..len) as RFC 3339: "2026-12-05T10:00:00Z", with an optional fraction
 * of up to 9 digits and "Z" or an offset "+02:00" ('t', 'z' and a space
 * for 'T' are accepted). Years 1970..9999. Returns true and *out when the
 * whole text is one.
 */
bool timestamp_parse_rfc3339(const char *s, size_t len, struct timestamp *out);

/*
 * A `since` as a user or client gives it: RFC 3339, or Unix seconds with
 * an optional fraction of up to 9 digits ("1764928800.5"). False on
 * anything else (empty, signs, spaces, more digits, out of range).
 */
bool timestamp_parse(const char *s, struct timestamp *out);

/* t as "1764928800.000000123" into buf (TIMESTAMP_UNIX_LEN bytes). */
void timestamp_format_unix(const struct timestamp *t, char *buf, size_t len);

/* -1, 0 or 1 as a is before, equal to or after b. */
int timestamp_compare(const struct timestamp *a, const struct timestamp *b);

#endif
