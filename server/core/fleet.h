/*
 * fleet.h - one backend operation on many instances at once.
 *
 * Shutdown and cleanup stop and remove every container of berthd. Docker's
 * stop is mostly waiting (up to the stop timeout for a process that ignores
 * SIGTERM), so the instances are handled in parallel: twenty services
 * stop in about one stop timeout, not twenty.
 */
#ifndef BERTH_FLEET_H
#define BERTH_FLEET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/backend.h"

/* At most this many backend calls run at once. */
#define FLEET_MAX_THREADS 32

enum fleet_op {
	FLEET_STOP,        /* stop, waiting up to each item's stop timeout */
	FLEET_REMOVE,      /* remove (forcefully) */
	FLEET_STOP_REMOVE, /* stop gracefully, then remove */
};

struct fleet_item {
	const char *ref;      /* container id or name */
	int stop_timeout_s;
	/* results */
	int code;             /* 0, or the code of the failing step */
	bool gone;            /* the instance no longer exists (removed, or was missing) */
	char message[512];
};

/*
 * Runs `op` on items[0..n) in parallel and returns when all are done.
 * Each backend call gets timeout_ms. When *kill_now becomes true (a second
 * SIGINT), instances still being stopped are killed at once. Called from
 * one thread; starts and joins its own.
 */
void fleet_run(struct backend *b, enum fleet_op op, struct fleet_item *items, size_t n,
    int64_t timeout_ms, atomic_bool *kill_now);

#endif
