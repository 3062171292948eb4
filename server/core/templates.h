/*
 * templates.h - the service templates: looking one up, storing, deleting.
 *
 * Called on worker threads with the call's arena and registry connection;
 * failures are reported through the call (code, message, field).
 */
#ifndef BERTH_CORE_TEMPLATES_H
#define BERTH_CORE_TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/call.h"

/*
 * Validates `name` (reported as `field`) and loads the template. Unknown
 * names fail with NOT_FOUND and a message listing the available
 * templates, as the original design (docker_service.py) answers.
 */
int template_lookup(struct call *call, const char *field, const char *name,
    Berth__V1__Template **out);

/* What a template's restart limits are when a write leaves them 0. */
#define TEMPLATE_MAX_RESTARTS 5
#define TEMPLATE_RESTART_WINDOW_S 600

/* Every template, by name. */
int template_list(struct call *call, Berth__V1__Template ***out, size_t *n);

/*
 * Validates and stores `t` (a build context must lie under the build
 * root), then loads what is stored now into *stored. *created tells a new
 * template from a replaced one.
 */
int template_put(struct call *call, const Berth__V1__Template *t, bool *created,
    Berth__V1__Template **stored);

/*
 * The template's secrets with their values ("KEY=VALUE", in the call's
 * arena), for the container a launch creates and for nothing else: the
 * template that template_lookup answers says "KEY=***".
 */
int template_secret_values(struct call *call, const char *name, char ***out, size_t *n);

/* Deletes a template no service uses (FAILED_PRECONDITION otherwise). */
int template_delete(struct call *call, const char *name);

#endif
