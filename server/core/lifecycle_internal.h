/*
 * lifecycle_internal.h - what lifecycle.c and lifecycle_restart.c share.
 * Worker threads (and the supervisor's), with a call's arena and registry.
 */
#ifndef BERTH_CORE_LIFECYCLE_INTERNAL_H
#define BERTH_CORE_LIFECYCLE_INTERNAL_H

#include "base/call.h"

struct error;

/* A backend failure as the call's error: "what: Docker's message". */
int lifecycle_fail_backend(struct call *call, const struct error *err, const char *what);

/* A registry failure, keeping the registry's code (NOT_FOUND, ...) and message. */
int lifecycle_registry_code(struct call *call, int code);

/* The id to address a service's container by: its id, or its name before it has one. */
const char *lifecycle_container_ref(const Berth__V1__Service *s);

/* Creates <templates>/<template>/<instance>, following no link (instance_dir.h). */
int lifecycle_make_project_dir(struct call *call, const Berth__V1__Template *t,
    const char *instance);

/*
 * Records on the service's row the ID of the image its container
 * (s->container_id) runs, from Docker's inspect ("sha256:...", "" for a
 * backend that has none), and sets s->image_id. Best effort: a failure is
 * logged and leaves the row's image ID as it was. lifecycle_restart.c.
 */
void lifecycle_record_image(struct call *call, Berth__V1__Service *s);

/* Loads a service and holds its lock (until the call's deadline); the caller unlocks. */
int lifecycle_lock_service(struct call *call, const char *service_id, Berth__V1__Service **out);

/* Seconds a stop waits: `requested`, else the template's, else the default. */
int lifecycle_stop_timeout(struct call *call, const Berth__V1__Service *s, uint32_t requested);

#endif
