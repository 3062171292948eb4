/*
 * clock.h - the two clocks berth needs: a monotonic one for deadlines and
 * durations, and the wall clock as RFC 3339 UTC for records.
 */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC); only differences mean anything. */
int64_t clock_monotonic_ms(void);

/* Monotonic microseconds, for request timing. */
int64_t clock_monotonic_us(void);

/* Sleeps ms milliseconds (none when ms <= 0), also across signals. */
void clock_sleep_ms(int64_t ms);

/* Now as "2026-11-26T10:30:00Z"; buf needs 21 bytes. */
void clock_rfc3339_now(char *buf, size_t len);

#endif
