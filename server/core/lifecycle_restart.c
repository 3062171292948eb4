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

/* The container is gone: create it again with the same name, port and directory. */
static int
recreate(struct call *call, Berth__V1__Service *s)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct error err = { 0 };
	Berth__V1__Template *t;
	char id[DOCKER_ID_LEN + 1];
	int code;

	if ((code = template_lookup(call, "template", s->template_, &t)) != 0)
		return code;
	if (b->ops->prepare_image(b, t, call_remaining_ms(call), &err) != 0)
		return lifecycle_fail_backend(call, &err, "image not available");
	if ((code = lifecycle_make_project_dir(call, t, s->instance)) != 0)
		return code;
	struct backend_instance inst = { t, s->service_id, s->instance, s->project_dir,
		(uint16_t)s->port, NULL, 0 };
	char **secrets = NULL;
	if ((code = template_secret_values(call, t->name, &secrets, &inst.n_secret_env)) != 0)
		return code;
	inst.secret_env = secrets;
	if (b->ops->create(b, &inst, id, call_remaining_ms(call), &err) != 0)
		return lifecycle_fail_backend(call, &err, "cannot recreate the container");
	s->container_id = arena_strdup(&call->arena, id);
	if ((code = registry_service_update(call_registry(call), s->service_id, STATUS_STOPPED, id)) != 0)
		return lifecycle_registry_code(call, code);
	log_info("recreated service=%s container=%.12s", s->service_id, id);
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
