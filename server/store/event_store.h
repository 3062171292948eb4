/*
 * event_store.h - berth's events kept in the registry (migration 014), so
 * that their sequences go on after a restart and a client coming back with
 * its last sequence misses nothing that was kept.
 *
 * Used by core/event_log.c only: its writer thread appends, start-up
 * loads. Each function runs on the connection it is given (one thread).
 */
#ifndef BERTH_EVENT_STORE_H
#define BERTH_EVENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "berth/v1/berth.pb-c.h"

struct registry;

/*
 * In one transaction: inserts `events` (a sequence already kept is left
 * as it is), deletes all but the newest `keep`, and raises the reserved
 * sequence to `reserve` when it is lower. 0, or the code with
 * registry_error(reg) saying why.
 */
int event_store_append(struct registry *reg, Berth__V1__Event *const *events, size_t n,
    uint64_t keep, uint64_t reserve);

/*
 * The newest `keep` events, oldest first, allocated in `a`; *reserved is
 * the highest sequence ever handed out as far as the registry knows (the
 * newest kept, or the reservation, whichever is higher). 0 or the code.
 */
int event_store_load(struct registry *reg, struct arena *a, uint64_t keep,
    Berth__V1__Event ***events, size_t *n, uint64_t *reserved);

/*
 * Sets the reservation to `reserve`: ahead at start-up; back to the last
 * sequence handed out at a clean stop, once every event is written, so the
 * next berthd goes on from there. 0 or the code.
 */
int event_store_reserve(struct registry *reg, uint64_t reserve);

#endif
