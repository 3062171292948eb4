/*
 * supervisor.h - berth keeps services alive: restarts after a crash, with
 * backoff and a give-up limit, autostart after berthd or Docker comes back,
 * and the restart an unhealthy verdict asks for.
 *
 * One thread decides from the registry and Docker's inspect, never from an
 * event alone: an event (or a reconnect) only asks it to look at a
 * service. So a lost event stream or a burst of events is one look per
 * service, and a stop or restart berth issued (which holds the service's
 * lock and sets the desired state first) is never taken for a crash.
 *
 * Policy (per service: the launch's override, else the template's):
 *   no          nothing; the service stays down.
 *   on-failure  restart after an exit code other than 0, a kill, a deleted
 *               container, or an unhealthy verdict.
 *   always      also after exit code 0.
 * Delay 1 s, doubling up to 5 min, back to 1 s once a container ran 10 min
 * (Kubernetes' CrashLoopBackOff). More than max_restarts restarts within
 * restart_window_s: supervisor "failed" until an operator restarts it.
 */
#ifndef BERTH_CORE_SUPERVISOR_H
#define BERTH_CORE_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

struct berthd;

#define SUPERVISOR_BACKOFF_MIN_MS 1000
#define SUPERVISOR_BACKOFF_MAX_MS (5 * 60 * 1000)
#define SUPERVISOR_BACKOFF_RESET_MS (10 * 60 * 1000) /* a run this long forgives */

/* Starts the thread (main thread, before the event follower). -1 when it cannot. */
int supervisor_start(struct berthd *d);

/* Stops and joins it (main thread, before the shutdown touches containers). */
void supervisor_stop(struct berthd *d);

/* The service's container may have stopped: look at it soon. Any thread; never blocks long. */
void supervisor_notice(struct berthd *d, const char *service_id);

/*
 * Look at every service once: after a reconciliation. The first time
 * (start-up) starts every service that should run and does not, whatever
 * its exit code (autostart); later ones (a reconnect) treat what is down
 * as crashed, once each.
 */
void supervisor_notice_all(struct berthd *d);

/* The event follower lost Docker's event stream (any thread). */
void supervisor_stream_lost(struct berthd *d);

/* The health monitor's verdict: restart the service if its policy says so. */
void supervisor_unhealthy(struct berthd *d, const char *service_id);

/* Totals for the metrics: restarts berth made, and services it gave up on. */
uint64_t supervisor_restarts_total(void);
uint64_t supervisor_giveups_total(void);

/* Delay before restart number `level` + 1 (pure; for tests). */
int64_t supervisor_backoff_ms(uint32_t level);

#endif
