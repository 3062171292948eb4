/*
 * lifecycle.h - launch, stop, restart, remove and inspect service instances.
 *
 * This is the original design's launch_template_container() and friends: it decides
 * the instance name, the port and the directory, moves the registry row
 * through its states, and asks the backend to make it so. Any step that
 * fails undoes the earlier ones: no stray container, no stray row, the
 * port free again.
 *
 * Called on worker threads with the call's arena, deadline and registry
 * connection. Operations on one service are serialised (service_lock.h).
 */
#ifndef BERTH_LIFECYCLE_H
#define BERTH_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/call.h"

/* Default seconds a stop waits before killing, as the original design's. */
#define LIFECYCLE_STOP_TIMEOUT_S 10

/* restart: the service's restart policy, "" for the template's. */
int lifecycle_launch(struct call *call, const char *template_name, const char *instance,
    uint32_t port, const char *restart, Berth__V1__LaunchServiceResponse *out);

/* timeout_s 0 means the template's stop timeout. */
int lifecycle_stop(struct call *call, const char *service_id, uint32_t timeout_s,
    Berth__V1__Service **out);

int lifecycle_restart(struct call *call, const char *service_id, Berth__V1__Service **out);

/*
 * The supervisor's restart (lifecycle_restart.c): brings s's container up
 * (restarted if it runs and restart_running, started, or recreated when
 * it was deleted) and marks the row running. The caller holds the
 * service's lock; the supervisor's fields are left to it.
 */
int lifecycle_revive(struct call *call, Berth__V1__Service *s, bool restart_running);

int lifecycle_remove(struct call *call, const char *service_id, bool keep_container, bool purge,
    Berth__V1__RemoveServiceResponse *out);

/*
 * The registry record plus the container's live state and resource use.
 * When Docker does not answer, the record comes back with container.state
 * "unknown" rather than failing: the registry alone is still worth seeing.
 */
int lifecycle_get(struct call *call, const char *service_id, bool registry_only,
    Berth__V1__Service **out);

struct berthd;
struct error;

/*
 * Replaces the port allocator's view of Docker's published ports with a
 * full listing of the engine's containers. Any thread.
 */
int lifecycle_sync_docker_ports(struct berthd *d, int64_t timeout_ms, struct error *err);

/* Fills s->url from the publish address and port. */
void lifecycle_set_url(struct call *call, Berth__V1__Service *s);

#endif
