/*
 * service_lock.h - one lifecycle operation per service at a time.
 *
 * A stop and a remove of the same service must not interleave (the remove
 * could delete the row while the stop writes "stopped" back). Operations
 * on different services never wait for each other. Thread-safe.
 */
#ifndef BERTH_SERVICE_LOCK_H
#define BERTH_SERVICE_LOCK_H

#include <stdbool.h>
#include <stdint.h>

struct service_locks;

struct service_locks *service_locks_new(void);
void service_locks_free(struct service_locks *l);

/*
 * Waits until no other operation holds service_id, then holds it.
 * Returns 0, or -1 when deadline_ms (monotonic) passed first.
 */
int service_lock(struct service_locks *l, const char *service_id, int64_t deadline_ms);
void service_unlock(struct service_locks *l, const char *service_id);

/*
 * Holds service_id only when nobody does, without waiting: true when it is
 * now held (release with service_unlock). For the event follower, which
 * must not queue behind a 10-second stop: a held lock means a lifecycle
 * call is about to write the row's truth itself.
 */
bool service_trylock(struct service_locks *l, const char *service_id);

#endif
