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
#include "store/registry.h"

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
 * `in` in the form berth stores (paths normalized, the restart policy's
 * defaults filled in) into *out: shallow, strings in the call's arena or
 * shared with `in`.
 */
void template_normalize(struct call *call, const Berth__V1__Template *in, Berth__V1__Template *out);

/*
 * Every check template_put makes before it stores a normalized template
 * (validation, a probe berthd can reach, secrets to keep, the build root),
 * reported through the call. Nothing is stored.
 */
int template_check(struct call *call, const Berth__V1__Template *t);

/*
 * Validates and stores `t` (a build context must lie under the build
 * root), then loads what is stored now into *stored. *result says whether
 * it was created, whether a revision was made (store/registry.h), which
 * fields changed and which were reset (lists in the call's arena).
 */
int template_put(struct call *call, const Berth__V1__Template *t,
    struct template_put_result *result, Berth__V1__Template **stored);

/* --- revisions (revisions.c) --------------------------------------------- */

/*
 * UpdateTemplate: the template `in->name` with only `fields` (proto field
 * names) taken from `in`, validated and stored as template_put does.
 * INVALID_ARGUMENT naming every unknown name (and "name", "revision");
 * NOT_FOUND as template_lookup. *changed: the fields among `fields` whose
 * value changed.
 */
int template_update(struct call *call, const Berth__V1__Template *in, char *const *fields,
    size_t n_fields, Berth__V1__Template **stored, char ***changed, size_t *n_changed);

/*
 * Revision `revision` of a template (0: the current one, as
 * template_lookup). NOT_FOUND naming the template or the revision.
 */
int template_revision_lookup(struct call *call, const char *name, uint32_t revision,
    Berth__V1__Template **out);

/* The template's revisions, newest first; NOT_FOUND as template_lookup. */
int template_revisions(struct call *call, const char *name,
    Berth__V1__TemplateRevision ***out, size_t *n);

/*
 * What a container of service s is made of when it is made again for any
 * reason but a rollout: the template as it was at s's recorded revision.
 * When that revision is not there (an adopted container's revision is 0),
 * the current template, and the log says so. *is_current tells which.
 */
int template_for_service(struct call *call, const Berth__V1__Service *s,
    Berth__V1__Template **out, bool *is_current);

/*
 * The template's secrets with their values ("KEY=VALUE", in the call's
 * arena), for the container a launch creates and for nothing else: the
 * template that template_lookup answers says "KEY=***".
 */
int template_secret_values(struct call *call, const char *name, char ***out, size_t *n);

/* Deletes a template no service uses (FAILED_PRECONDITION otherwise). */
int template_delete(struct call *call, const char *name);

#endif
