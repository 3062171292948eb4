/*
 * rollout.h - rolling updates: a template's outdated instances replaced by
 * its current revision, a few at a time, each one rolled back when its new
 * container does not become ready (rollout.c).
 *
 * A rollout is a job: rollout_start records it (journal: store/registry.h's
 * registry_rollout_*) and answers at once; one runner thread per running
 * rollout does the work. Rollouts survive berthd: rollout_resume_all, at
 * start-up, finishes or rolls back the instance a killed berthd left in
 * flight and resumes the job.
 */
#ifndef BERTH_CORE_ROLLOUT_H
#define BERTH_CORE_ROLLOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/call.h"

struct berthd;
struct registry;

/*
 * StartRollout, on an RPC worker (or ApplySpec's): validates the request,
 * rebuilds the image when asked (a failure fails before any instance is
 * touched), records the rollout with its outdated instances "pending", and
 * starts its runner. *out (the call's arena) is the rollout as recorded.
 * FAILED_PRECONDITION when a rollout of the template runs (the message
 * names it) or the backend is swarm; NOT_FOUND for an unknown template.
 */
int rollout_start(struct call *call, const Berth__V1__StartRolloutRequest *req,
    Berth__V1__Rollout **out);

/* GetRollout: by id, or the template's newest. *out in the call's arena. */
int rollout_get(struct call *call, const char *id, const char *template_name,
    Berth__V1__Rollout **out);

/* ControlRollout: action "resume" or "abort". */
int rollout_control(struct call *call, const char *id, const char *action,
    Berth__V1__Rollout **out);

/*
 * Start-up, main thread, before RPCs and the supervisor: for each rollout
 * a killed berthd left running, finishes or rolls back its instances in
 * flight (no "<service_id>.old" container stays); reg is the main
 * thread's connection. rollout_resume_runners, once the supervisor runs,
 * starts their runners again.
 */
void rollout_resume_all(struct berthd *d, struct registry *reg);
void rollout_resume_runners(struct berthd *d);

/* Shutdown, main thread: asks the runners to stop between steps and joins them. */
void rollout_stop_all(void);

/*
 * Whether service_id is being swapped by a rollout right now (the
 * supervisor and the event follower leave it alone). Any thread.
 */
bool rollout_busy(const char *service_id);

/*
 * Whether a rollout swaps service_id and container_id is not the new
 * container it is bringing up (the old one, stopping): the health
 * monitor neither probes it nor judges by it. Any thread.
 */
bool rollout_stale_container(const char *service_id, const char *container_id);

/* Whether a container name is a rollout's old container ("<service_id>.old"). */
bool rollout_is_old_name(const char *name);

/* Rollouts started, done, failed since start-up (metrics). */
uint64_t rollout_started_total(void);
uint64_t rollout_done_total(void);
uint64_t rollout_failed_total(void);

#endif
