/*
 * backend.c - what both backends share (the identity environment of an
 * instance) and what the rest of the server asks of whichever backend runs:
 * is Docker there, which API version, follow its events.
 *
 * Threads: any; no state here.
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine/backend.h"

int
backend_env_make(struct backend_env *env, const struct backend_instance *inst, struct error *err)
{
	const Berth__V1__Template *t = inst->tmpl;

	env->n = BACKEND_IDENTITY_ENV + t->n_env + inst->n_secret_env;
	if ((env->list = malloc(sizeof(*env->list) * env->n)) == NULL) {
		env->n = 0;
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	snprintf(env->service, sizeof(env->service), "BERTH_SERVICE=%s", inst->service_id);
	snprintf(env->instance, sizeof(env->instance), "BERTH_INSTANCE=%s", inst->instance);
	snprintf(env->port, sizeof(env->port), "BERTH_PORT=%u", inst->host_port);
	env->list[0] = env->service;
	env->list[1] = env->instance;
	env->list[2] = env->port;
	/* The template's own entries come last, so they win over ours. */
	for (size_t i = 0; i < t->n_env; i++)
		env->list[BACKEND_IDENTITY_ENV + i] = t->env[i];
	/* The real values, not the template's "KEY=***"; no key is in both. */
	for (size_t i = 0; i < inst->n_secret_env; i++)
		env->list[BACKEND_IDENTITY_ENV + t->n_env + i] = inst->secret_env[i];
	return 0;
}

void
backend_env_free(struct backend_env *env)
{
	if (env == NULL)
		return;
	free(env->list);
	env->list = NULL;
	env->n = 0;
}

int
backend_ping(struct backend *b, int64_t timeout_ms, struct error *err)
{
	return docker_ping(b->docker, timeout_ms, err);
}

int
backend_image_present(struct backend *b, const char *ref, bool *exists, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_image_exists(b->docker, ref, exists, timeout_ms, err));
}

const char *
backend_api_version(struct backend *b)
{
	return docker_api_version(b->docker);
}

const char *
backend_engine(struct backend *b)
{
	return docker_engine(b->docker);
}

int
backend_follow_events(struct backend *b, const struct docker_events_handler *h,
    atomic_bool *stop, struct error *err)
{
	return docker_events_follow_types(b->docker, b->ops->event_types, NULL, h, stop, err);
}
