/*
 * lifecycle_restart.c - bringing a service's container up again: for an
 * operator's restart (RestartService) and for the supervisor's.
 *
 * Whatever the container's state, the service ends running: a running
 * container is restarted, a stopped one started, and one deleted behind
 * berth's back is created again with the same name, port and directory.
 */
#include <string.h>

#include "base/log.h"
#include "core/berthd.h"
#include "core/events.h"
#include "core/lifecycle.h"
#include "core/lifecycle_internal.h"
#include "core/service_lock.h"
#include "core/templates.h"
#include "validate.h"

void
lifecycle_record_image(struct call *call, Berth__V1__Service *s)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	struct docker_container c;

	if (b->ops->inspect(b, s->container_id, &c, call_remaining_ms(call), &err) != 0) {
		log_warn("image of a new container unknown service=%s container=%.12s error=\"%s\"",
		    s->service_id, s->container_id, err.message);
		return;
	}
	if (c.image_id[0] == '\0')
		return; /* a backend without one (swarm) */
	if (registry_service_set_image(call_registry(call), s->service_id, c.image_id) != 0) {
		log_warn("image of a new container not recorded service=%s error=\"%s\"",
		    s->service_id, registry_error(call_registry(call))->message);
		return;
	}
	s->image_id = arena_strdup(&call->arena, c.image_id);
}

/*
 * The secrets of a container made from revision t: the stored values of
 * the keys t lists. A revision records keys, never values, so the values
 * are the template's current ones; a key no longer stored is left out,
 * and the log says so.
 */
static int
revision_secrets(struct call *call, const Berth__V1__Service *s, const Berth__V1__Template *t,
    char ***out, size_t *n)
{
	char **values;
	size_t n_values;
	int code;

	if ((code = template_secret_values(call, s->template_, &values, &n_values)) != 0)
		return code;
	*out = ARENA_ARRAY(&call->arena, char *, t->n_secret_env + 1);
	*n = 0;
	for (size_t i = 0; i < t->n_secret_env; i++) {
		const char *key = t->secret_env[i];
		size_t key_len = validate_env_key_len(key);
		bool found = false;

		for (size_t j = 0; j < n_values && !found; j++) {
			if (strncmp(values[j], key, key_len) == 0 && values[j][key_len] == '=') {
				(*out)[(*n)++] = values[j];
				found = true;
			}
		}
		if (!found)
			log_warn("secret of the service's revision no longer stored, left out "
				 "service=%s revision=%u key=%.*s",
			    s->service_id, s->revision, (int)key_len, key);
	}
	return 0;
}

/*
 * The image a recreated container runs: the one its service recorded
 * (by ID, so a tag moved since changes nothing) while the engine still has
 * it; else the revision's image reference, made available as a launch
 * does, and the log says so. t (a copy) is changed to say which.
 */
static int
prepare_recorded_image(struct call *call, const Berth__V1__Service *s, Berth__V1__Template *t)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	bool present = false;

	if (s->image_id[0] != '\0') {
		if (backend_image_present(b, s->image_id, &present, call_remaining_ms(call), &err) != 0)
			return lifecycle_fail_backend(call, &err, "cannot look up the service's image");
		if (present) {
			t->image = s->image_id;
			t->build_context = ""; /* never build or pull an ID */
			return 0;
		}
		log_warn("the service's image is gone, recreating from its revision's image reference "
			 "service=%s image_id=%s revision=%u image=%s",
		    s->service_id, s->image_id, s->revision, t->image);
	}
	if (b->ops->prepare_image(b, t, call_remaining_ms(call), &err) != 0)
		return lifecycle_fail_backend(call, &err, "image not available");
	return 0;
}

/*
 * The container is gone: create it again with the same name, port and
 * directory, from the service's recorded revision and image (never
 * silently from the template's current revision: only a rollout moves a
 * service forward).
 */
static int
recreate(struct call *call, Berth__V1__Service *s)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct error err = { 0 };
	Berth__V1__Template *revision, made;
	char id[DOCKER_ID_LEN + 1];
	char **secrets = NULL;
	bool is_current;
	int code;

	if ((code = template_for_service(call, s, &revision, &is_current)) != 0)
		return code;
	made = *revision;
	if ((code = prepare_recorded_image(call, s, &made)) != 0)
		return code;
	if ((code = lifecycle_make_project_dir(call, &made, s->instance)) != 0)
		return code;
	struct backend_instance inst = { &made, s->service_id, s->instance, s->project_dir,
		(uint16_t)s->port, NULL, 0, NULL, s->restart };
	if ((code = revision_secrets(call, s, revision, &secrets, &inst.n_secret_env)) != 0)
		return code;
	inst.secret_env = secrets;
	if (b->ops->create(b, &inst, id, call_remaining_ms(call), &err) != 0)
		return lifecycle_fail_backend(call, &err, "cannot recreate the container");
	s->container_id = arena_strdup(&call->arena, id);
	if ((code = registry_service_update(call_registry(call), s->service_id, STATUS_STOPPED, id)) != 0)
		return lifecycle_registry_code(call, code);
	lifecycle_record_image(call, s);
	log_info("recreated service=%s container=%.12s revision=%u image=%s", s->service_id, id,
	    is_current ? revision->revision : s->revision, made.image);
	return 0;
}

/*
 * Brings the service's container up, the lock held: restarted when it
 * runs (only with `restart_running`), started when not, recreated when
 * gone. The row then says "running".
 */
static int
bring_up(struct call *call, Berth__V1__Service *s, bool restart_running)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	struct docker_container live;
	int code;

	code = b->ops->inspect(b, lifecycle_container_ref(s), &live, call_remaining_ms(call), &err);
	if (code == BERTH__V1__CODE__NOT_FOUND) {
		code = recreate(call, s);
		if (code == 0)
			code = b->ops->start(b, s->container_id, call_remaining_ms(call), &err) != 0
			    ? lifecycle_fail_backend(call, &err, "cannot start the container") : 0;
	} else if (code != 0) {
		code = lifecycle_fail_backend(call, &err, "cannot inspect the container");
	} else if (strcmp(live.state, "running") == 0) {
		if (restart_running &&
		    b->ops->restart(b, lifecycle_container_ref(s), lifecycle_stop_timeout(call, s, 0),
			call_remaining_ms(call), &err) != 0)
			code = lifecycle_fail_backend(call, &err, "cannot restart the container");
	} else if (b->ops->start(b, lifecycle_container_ref(s), call_remaining_ms(call), &err) != 0) {
		code = lifecycle_fail_backend(call, &err, "cannot start the container");
	}
	if (code == 0 &&
	    (code = registry_service_update(call_registry(call), s->service_id, STATUS_RUNNING,
		 NULL)) != 0)
		code = lifecycle_registry_code(call, code);
	if (code == 0)
		s->status = STATUS_RUNNING;
	return code;
}

int
lifecycle_restart(struct call *call, const char *service_id, Berth__V1__Service **out)
{
	struct berthd *d = call_berthd(call);
	Berth__V1__Service *s;
	int code;

	if ((code = lifecycle_lock_service(call, service_id, &s)) != 0)
		return code;
	/* The operator's word: wanted running, and the supervisor's counts start afresh. */
	if ((code = registry_service_set_desired(call_registry(call), service_id,
		 DESIRED_RUNNING)) != 0)
		code = lifecycle_registry_code(call, code);
	if (code == 0)
		code = bring_up(call, s, true);
	/* Read back: the supervisor's fields as they are now. */
	if (code == 0)
		registry_service_get(call_registry(call), &call->arena, service_id, &s);
	service_unlock(d->locks, service_id);
	if (code != 0)
		return code;
	lifecycle_set_url(call, s);
	*out = s;
	event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_RESTARTED, s, NULL, "restarted");
	log_info("restarted service=%s", service_id);
	return 0;
}

int
lifecycle_revive(struct call *call, Berth__V1__Service *s, bool restart_running)
{
	return bring_up(call, s, restart_running);
}
