/*
 * scale.h - make the number of a template's running instances N.
 *
 * N counts the template's instances whose desired state is "running"
 * (named ones included; those an operator stopped do not count and are
 * left alone). Scale-up launches auto-numbered instances in parallel
 * (at most SCALE_PARALLEL at once, each a whole lifecycle_launch, so ports
 * and instance numbers are chosen as any launch chooses them); scale-down
 * removes the highest auto-numbered instances first and never a named
 * one. Calls on one template are serialised by a per-template lock: the
 * last one's N holds.
 *
 * Declarative, so a resent call (request ids, or a resend after berthd's
 * restart) converges on the same N instead of launching twice.
 */
#ifndef BERTH_CORE_SCALE_H
#define BERTH_CORE_SCALE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/call.h"

/* Launches or removals running at once. */
#define SCALE_PARALLEL 16

/*
 * Scales `template_name` to `instances`. With purge, removed instances'
 * directories are deleted; with wait_healthy, the call answers once each
 * launched instance is healthy (health_wait), within its deadline.
 *
 * On success out lists what was launched and removed (call arena memory)
 * and out->running is `instances`. On failure what was done is kept and
 * the call's error says what was done before it (launched and removed
 * ids). Called on an RPC worker; starts and joins its own threads, each
 * with a registry connection of its own.
 */
int scale_template(struct call *call, const char *template_name, uint32_t instances, bool purge,
    bool wait_healthy, Berth__V1__ScaleTemplateResponse *out);

#endif
