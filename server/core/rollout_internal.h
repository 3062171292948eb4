/*
 * rollout_internal.h - what rollout.c (the job) and rollout_instance.c (one
 * instance's swap, rollback and recovery) share. Runner threads and the
 * main thread at start-up.
 */
#ifndef BERTH_CORE_ROLLOUT_INTERNAL_H
#define BERTH_CORE_ROLLOUT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "base/call.h"

/* What an instance's update came to. */
enum rollout_outcome {
	ROLLOUT_UPDATED,     /* the new container is ready, the old one removed */
	ROLLOUT_ROLLED_BACK, /* the new one failed: the old one is back */
	ROLLOUT_SKIPPED,     /* stopped or removed by an operator, or already current */
	ROLLOUT_INTERRUPTED, /* berthd stops: left "updating" for the next start */
	ROLLOUT_BROKEN,      /* the rollback itself failed: the message says what is left */
};

/* One instance's update, as the runner hands it to a swap thread. */
struct rollout_swap {
	const char *rollout_id;
	const Berth__V1__Template *revision; /* what the new container is made from */
	uint32_t min_ready_s;
	const atomic_bool *stop; /* berthd stops */
	const char *service_id;
	enum rollout_outcome outcome;
	char message[2048];                   /* why, for anything but UPDATED */
	int64_t stopped_at_ms, started_at_ms; /* monotonic: the old one's stop, the new one's start */
};

/*
 * Replaces the service's container by one made from sw->revision and waits
 * until it is ready; rolls back on failure. call: a context of its own
 * (arena, registry connection) for this thread. Journals each step.
 */
void rollout_swap_run(struct call *call, struct rollout_swap *sw);

/*
 * The same for a backend that updates in place (update_in_place: swarm),
 * rollout_update.c: the backend's own update, followed to its end.
 */
void rollout_update_run(struct call *call, struct rollout_swap *sw);

struct registry_rollout_step;
/* Journals the instance's state and sw->message (store: registry_rollout_instance_set). */
void rollout_journal(struct call *call, struct rollout_swap *sw, const char *state,
    const struct registry_rollout_step *step);

/*
 * The row of the instance in *s, its service lock held; false (the lock
 * not held, sw->outcome SKIPPED with the reason) when there is nothing to
 * do: removed, stopped, or already at sw's revision.
 */
bool rollout_lock_current(struct call *call, struct rollout_swap *sw, Berth__V1__Service **s);

/*
 * Start-up: the instance a killed berthd left "updating": finishes it when
 * the old container is already gone, else puts the old one back. Returns
 * the instance's state to journal ("done" or "pending").
 */
const char *rollout_swap_recover(struct call *call, const char *rollout_id,
    const char *service_id, uint32_t to_revision);

/* The busy set (rollout.h's rollout_busy): a swap marks its service while it works. */
void rollout_busy_set(const char *service_id, bool busy);

/* The new container of a service being swapped (rollout_stale_container). */
void rollout_busy_container(const char *service_id, const char *container_id);

#endif
