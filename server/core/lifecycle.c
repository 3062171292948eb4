/*
 * lifecycle.c - the service lifecycle: registry states plus backend calls.
 *
 * Launch, in order, each step undone if a later one fails:
 *   1. template and image (built or pulled when missing),
 *   2. port: held in the allocator (ports.c) before anything else,
 *   3. row: instance chosen and row inserted as "creating" in one
 *      transaction, so two launches cannot take the same instance,
 *   4. directory <data-dir>/templates/<template>/<instance>/ (0750),
 *   5. container created and started; when Docker finds the port taken
 *      after all (another program bound it meanwhile), the next free port
 *      is tried,
 *   6. row "running" with the container id.
 * A crash between the steps leaves a "creating" row whose container carries
 * berth's labels, for start-up reconciliation to finish or undo. When Docker
 * stops answering half-way, the undo may not be able to remove a container
 * (or know whether one was made): the row then stays, "dead", rather than
 * leave a container without a row.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "validate.h"
#include "core/berthd.h"
#include "clock.h"
#include "core/events.h"
#include "core/instance_dir.h"
#include "core/lifecycle.h"
#include "core/lifecycle_internal.h"
#include "base/log.h"
#include "core/ports.h"
#include "core/service_lock.h"
#include "core/templates.h"
#include "store/requests.h"

/* Attempts at another port when Docker finds the chosen one taken. */
#define LAUNCH_PORT_RETRIES 8
/* Instance numbers a launch without a name passes over, at most, for names taken outside. */
#define LAUNCH_NAME_RETRIES 8
/* Times a launch waits out someone briefly holding its new id's lock, and how long each. */
#define LAUNCH_LOCK_RETRIES 4
#define LAUNCH_LOCK_WAIT_MS 5000

int
lifecycle_fail_backend(struct call *call, const struct error *err, const char *what)
{
	return call_fail(call, err->code != 0 ? err->code : BERTH__V1__CODE__INTERNAL, "%s: %s", what,
	    err->message);
}

const char *
lifecycle_container_ref(const Berth__V1__Service *s)
{
	return s->container_id[0] != '\0' ? s->container_id : s->container_name;
}

/*
 * "http://HOST:PORT" by hand: ListServices of 10,000 rows spent 2-3 ms in
 * printf here. An IPv6 address goes in brackets.
 */
void
lifecycle_set_url(struct call *call, Berth__V1__Service *s)
{
	const char *host = call_berthd(call)->config.publish_address;
	size_t host_len, n = 0, d = 0;
	uint32_t port = s->port;
	bool v6;
	char digits[10], *url;

	/* A wildcard address is reachable as localhost on the host, as the original design does. */
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		host = "localhost";
	host_len = strlen(host);
	v6 = strchr(host, ':') != NULL;
	url = arena_alloc(&call->arena, sizeof("http://[]:") + host_len + sizeof(digits));
	memcpy(url, "http://", 7);
	n = 7;
	if (v6)
		url[n++] = '[';
	memcpy(url + n, host, host_len);
	n += host_len;
	if (v6)
		url[n++] = ']';
	url[n++] = ':';
	do
		digits[d++] = (char)('0' + port % 10);
	while ((port /= 10) != 0);
	while (d > 0)
		url[n++] = digits[--d];
	url[n] = '\0';
	s->url = url;
}

int
lifecycle_registry_code(struct call *call, int code)
{
	return call_fail(call, code, "%s", registry_error(call_registry(call))->message);
}

int
lifecycle_make_project_dir(struct call *call, const Berth__V1__Template *t, const char *instance)
{
	struct error err;
	long uid = -1, gid = -1;

	/* Owned by the container's user, who must be able to write it. */
	if (t->user[0] != '\0' && validate_user("template.user", t->user, &uid, &gid, &err) != 0)
		return call_fail_error(call, &err);
	if (instance_dir_create(call_berthd(call)->templates_dir, t->name, instance, uid, gid,
		&err) != 0)
		return call_fail_error(call, &err);
	return 0;
}

int
lifecycle_sync_docker_ports(struct berthd *d, int64_t timeout_ms, struct error *err)
{
	struct docker_container *list = NULL;
	struct ports_holder *holders;
	size_t n = 0;
	int code;

	code = d->backend.ops->list_all(&d->backend, &list, &n, timeout_ms, err);
	if (code != 0)
		return code;
	holders = calloc(n + 1, sizeof(*holders));
	if (holders == NULL) {
		free(list);
		err->code = BERTH__V1__CODE__RESOURCE_EXHAUSTED;
		snprintf(err->message, sizeof(err->message), "out of memory");
		return err->code;
	}
	for (size_t i = 0; i < n; i++)
		holders[i] = (struct ports_holder){ list[i].id, list[i].ports, list[i].n_ports };
	ports_docker_replace(d->ports, holders, n);
	free(holders);
	free(list);
	return 0;
}

/*
 * The allocator's view of Docker's ports is kept current by the event
 * follower; while that stream is down, take a fresh listing instead.
 */
static int
docker_ports_current(struct call *call)
{
	struct berthd *d = call_berthd(call);
	struct error err = { 0 };

	if (ports_docker_live(d->ports))
		return 0;
	if (lifecycle_sync_docker_ports(d, call_remaining_ms(call), &err) != 0)
		return lifecycle_fail_backend(call, &err, "cannot list Docker's published ports");
	return 0;
}

static void
add_skips(struct call *call, Berth__V1__LaunchServiceResponse *out, const struct port_skip *skips,
    size_t n)
{
	Berth__V1__SkippedPort **all;

	if (n == 0)
		return;
	all = ARENA_ARRAY(&call->arena, Berth__V1__SkippedPort *, out->n_skipped_ports + n);
	if (out->n_skipped_ports > 0)
		memcpy(all, out->skipped_ports, sizeof(*all) * out->n_skipped_ports);
	for (size_t i = 0; i < n; i++) {
		Berth__V1__SkippedPort *sp = ARENA_NEW(&call->arena, Berth__V1__SkippedPort);
		berth__v1__skipped_port__init(sp);
		sp->port = skips[i].port;
		sp->reason = (char *)ports_reason_name(skips[i].reason);
		all[out->n_skipped_ports + i] = sp;
	}
	out->skipped_ports = all;
	out->n_skipped_ports += n;
}

/* Chooses (or claims the requested) port and holds it. */
static int
choose_port(struct call *call, const Berth__V1__Template *t, uint32_t requested, uint32_t from,
    Berth__V1__LaunchServiceResponse *out, uint16_t *port)
{
	struct berthd *d = call_berthd(call);
	struct port_allocation alloc;
	int code;

	if ((code = docker_ports_current(call)) != 0)
		return code;
	if (requested != 0) {
		enum port_reason why = ports_claim(d->ports, (uint16_t)requested);
		if (why != PORT_FREE)
			return call_fail_detail(call, BERTH__V1__CODE__ALREADY_EXISTS, "port", "PORT_TAKEN",
			    "port %u is taken (%s)", requested, ports_reason_name(why));
		*port = (uint16_t)requested;
		return 0;
	}
	code = ports_allocate(d->ports, (uint16_t)from, (uint16_t)t->port_range_end, &alloc);
	add_skips(call, out, alloc.skipped, alloc.n_skipped);
	if (code != 0)
		return call_fail_detail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "template.port_range_start", "PORT_RANGE_EXHAUSTED",
		    "no free port in range %u-%u of template '%s' (%zu ports taken)", from,
		    t->port_range_end ? t->port_range_end : 65535, t->name, alloc.n_skipped_total);
	*port = alloc.port;
	return 0;
}

#define INSERT_ROW_BUSY (-2) /* the new id's lock is held by someone: nothing written */

/*
 * Steps 3: instance name (instance, or the lowest free instance_N with N >=
 * from) and the "creating" row, atomically, with the service's lock held;
 * or INSERT_ROW_BUSY.
 */

static int
insert_row_locked(struct call *call, const Berth__V1__Template *t, const char *instance,
    unsigned from, uint16_t port, const char *restart, Berth__V1__Service *s)
{
	struct berthd *d = call_berthd(call);
	struct registry *reg = call_registry(call);
	unsigned number = 0;
	int code;

	if ((code = registry_begin(reg)) != 0)
		return lifecycle_registry_code(call, code);
	for (int tries = 0;; tries++) {
		bool automatic = instance[0] == '\0';
		const char *name = instance;

		if (automatic) {
			if ((code = registry_instance_next(reg, t->name, from, &number)) != 0) {
				registry_rollback(reg);
				return lifecycle_registry_code(call, code);
			}
			name = arena_printf(&call->arena, "instance_%u", number);
		}
		s->template_ = t->name;
		s->instance = (char *)name;
		s->instance_number = number;
		s->service_id = arena_printf(&call->arena, "%s_%s", t->name, name);
		s->container_name = s->service_id;
		s->port = port;
		s->project_dir = arena_printf(&call->arena, "%s/%s/%s", d->templates_dir, t->name,
		    name);
		s->status = STATUS_CREATING;
		s->restart = (char *)restart;
		s->revision = t->revision; /* what the container is made of (revisions.c) */
		code = registry_service_insert(reg, s);
		/*
		 * The id can be another template's, from before instance names
		 * lost their '_' ('rta' + 'b_instance_1' is 'rta_b_instance_1'):
		 * an automatic name takes the next number instead.
		 */
		if (code != BERTH__V1__CODE__ALREADY_EXISTS || !automatic || tries >= 64)
			break;
		from = number + 1;
	}
	if (code == BERTH__V1__CODE__ALREADY_EXISTS) {
		registry_rollback(reg);
		return call_fail_detail(call, code, "instance", "INSTANCE_EXISTS",
		    "service '%s' already exists", s->service_id);
	}
	if (code != 0) {
		registry_rollback(reg);
		return lifecycle_registry_code(call, code);
	}
	/*
	 * The launch holds the service's lock from before its row can be seen
	 * until it is done: a stop, restart or remove of the new service waits
	 * for it instead of acting on a half-made container (a restart would
	 * create a second one under the same name). Someone holds it only while
	 * acting on an id that had no row a moment ago: busy.
	 */
	if (!service_trylock(d->locks, s->service_id)) {
		registry_rollback(reg);
		return INSERT_ROW_BUSY;
	}
	/* The row and the launch's request id in one transaction (requests.h). */
	if ((code = requests_stamp(reg, call->request_key, s->service_id, NULL, 0)) != 0) {
		service_unlock(d->locks, s->service_id);
		registry_rollback(reg);
		return lifecycle_registry_code(call, code);
	}
	if ((code = registry_commit(reg)) != 0) {
		service_unlock(d->locks, s->service_id);
		return lifecycle_registry_code(call, code);
	}
	return 0;
}

/*
 * insert_row_locked, waiting out a brief holder of the new id's lock. On
 * success the caller holds the service's lock and releases it when the
 * launch is done.
 */
static int
insert_row(struct call *call, const Berth__V1__Template *t, const char *instance, unsigned from,
    uint16_t port, const char *restart, Berth__V1__Service **out)
{
	struct berthd *d = call_berthd(call);
	Berth__V1__Service *s = ARENA_NEW(&call->arena, Berth__V1__Service);
	int code;

	berth__v1__service__init(s);
	for (int waits = 0;; waits++) {
		int64_t until;

		code = insert_row_locked(call, t, instance, from, port, restart, s);
		if (code != INSERT_ROW_BUSY)
			break;
		/*
		 * Someone holds the lock of an id that had no row a moment ago:
		 * the event follower settling the destroy of an earlier
		 * container of that name, a supervisor or cleanup pass on its
		 * way out. They let go at once. Wait for it outside the
		 * transaction (they may read or write the registry), then look
		 * again: the name may be taken by then.
		 */
		until = clock_monotonic_ms() + LAUNCH_LOCK_WAIT_MS;
		if (call->deadline_ms < until)
			until = call->deadline_ms;
		log_info("launch waits for another holder of its lock service=%s", s->service_id);
		if (waits >= LAUNCH_LOCK_RETRIES || service_lock(d->locks, s->service_id, until) != 0)
			return call_fail(call, BERTH__V1__CODE__ABORTED,
			    "service '%s' is busy with another operation", s->service_id);
		service_unlock(d->locks, s->service_id);
	}
	if (code != 0)
		return code;
	*out = s;
	return 0;
}

/*
 * Steps 5: create and start the container. When the start fails because
 * the host port is taken after all, the container is removed and the next
 * free port tried (only for an allocated port: an explicit one is the
 * caller's choice).
 */
static int
create_and_start(struct call *call, const Berth__V1__Template *t, Berth__V1__Service *s,
    bool explicit_port, Berth__V1__LaunchServiceResponse *out, int64_t *docker_us,
    bool *storage_made)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct registry *reg = call_registry(call);
	struct error err = { 0 };
	char id[DOCKER_ID_LEN + 1];
	char **secrets = NULL;
	size_t n_secrets = 0;
	int code;

	/* The real values, for the container only (t says "KEY=***"). */
	if ((code = template_secret_values(call, t->name, &secrets, &n_secrets)) != 0)
		return code;
	for (int attempt = 0;; attempt++) {
		struct backend_instance inst = { t, s->service_id, s->instance, s->project_dir,
			(uint16_t)s->port, NULL, 0, NULL, s->restart };
		uint16_t next;
		int64_t t0 = clock_monotonic_us();

		inst.secret_env = secrets;
		inst.n_secret_env = n_secrets;
		inst.storage_made = storage_made; /* stays true over a port retry's new create */
		memset(&err, 0, sizeof(err));
		code = b->ops->create(b, &inst, id, call_remaining_ms(call), &err);
		*docker_us += clock_monotonic_us() - t0;
		if (code == BERTH__V1__CODE__ALREADY_EXISTS)
			return call_fail(call, code,
			    "a container named '%s' already exists outside the registry "
			    "(see berth cleanup --status): %s",
			    s->container_name, err.message);
		if (code != 0)
			return lifecycle_fail_backend(call, &err, "cannot create the container");
		s->container_id = arena_strdup(&call->arena, id);
		if ((code = registry_service_update(reg, s->service_id, STATUS_CREATING, id)) != 0)
			return lifecycle_registry_code(call, code);
		lifecycle_record_image(call, s);

		memset(&err, 0, sizeof(err));
		t0 = clock_monotonic_us();
		code = b->ops->start(b, id, call_remaining_ms(call), &err);
		*docker_us += clock_monotonic_us() - t0;
		if (code == 0)
			return 0;
		if (!docker_error_port_in_use(&err) || explicit_port || attempt >= LAUNCH_PORT_RETRIES)
			return lifecycle_fail_backend(call, &err, "cannot start the container");

		/* Someone bound the port between our check and Docker's: move on. */
		log_info("launch port taken, retrying service=%s port=%u", s->service_id, s->port);
		b->ops->remove(b, id, call_remaining_ms(call), &err);
		s->container_id = "";
		add_skips(call, out, &(struct port_skip){ (uint16_t)s->port, PORT_HOST }, 1);
		if ((code = choose_port(call, t, 0, s->port + 1, out, &next)) != 0)
			return code;
		ports_release(d->ports, (uint16_t)s->port);
		if ((code = registry_service_set_port(reg, s->service_id, next)) != 0) {
			ports_release(d->ports, next);
			return lifecycle_registry_code(call, code);
		}
		s->port = next;
	}
}

/* Whether a failed Docker request may have been carried out all the same: no answer came. */
static bool
outcome_unknown(int code)
{
	return code == BERTH__V1__CODE__UNAVAILABLE || code == BERTH__V1__CODE__DEADLINE_EXCEEDED;
}

/*
 * Undoes a failed launch: its container, its row, its port; the directory
 * stays only if it held data. When Docker stopped answering half-way, a
 * container may exist that cannot be removed now, or whose creation was
 * never heard of: then the row stays, "dead", with the container's name
 * and port, so that the container is never an orphan and no later launch
 * takes its name or port. Docker's events or the next reconciliation make
 * the row tell the truth about the container; cleanup or a remove ends it.
 */
static void
undo_launch(struct call *call, Berth__V1__Service *s, int code, bool storage_made)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct error err = { 0 };
	struct docker_container found;
	const char *ref = s->container_id[0] != '\0' ? s->container_id : NULL;
	int rc = 0;

	if (ref == NULL && outcome_unknown(code)) {
		/* The create may have happened unheard: ours if it carries our labels. */
		rc = b->ops->inspect(b, s->container_name, &found, 10000, &err);
		if (rc == 0 && strcmp(found.label_data_dir, d->data_dir) == 0 &&
		    strcmp(found.label_service, s->service_id) == 0)
			ref = found.id;
	}
	if (rc == 0 && ref != NULL)
		rc = b->ops->remove(b, ref, 10000, &err);
	if (rc != 0 && rc != BERTH__V1__CODE__NOT_FOUND) {
		registry_service_update(call_registry(call), s->service_id, STATUS_DEAD, ref);
		/* The launch failed: the supervisor must not bring it up behind the caller's back. */
		registry_service_set_desired(call_registry(call), s->service_id, DESIRED_STOPPED);
		log_warn("launch failed and its container may exist, row kept as dead service=%s "
			 "container=%.12s code=%d error=\"%s\"",
		    s->service_id, ref != NULL ? ref : "-", code, err.message);
		return;
	}
	/*
	 * The storage this launch made (swarm: its named volume) goes with it;
	 * one it found (an earlier instance of the same name left it, with its
	 * data) stays for a later launch, as the README promises.
	 */
	if (storage_made && b->ops->purge_storage != NULL &&
	    (rc = b->ops->purge_storage(b, s->service_id, 10000, &err)) != 0 &&
	    rc != BERTH__V1__CODE__NOT_FOUND)
		log_warn("launch failed and its volume stays service=%s error=\"%s\"",
		    s->service_id, err.message);
	registry_service_delete(call_registry(call), s->service_id);
	ports_release(d->ports, (uint16_t)s->port);
	instance_dir_remove_empty(d->templates_dir, s->template_, s->instance);
	log_warn("launch undone service=%s code=%d", s->service_id, code);
}

/* Appends `instance` to the reply's skipped_instances (arena memory). */
static void
add_skipped_instance(struct call *call, Berth__V1__LaunchServiceResponse *out,
    const char *instance)
{
	char **grown = ARENA_ARRAY(&call->arena, char *, out->n_skipped_instances + 1);

	if (out->n_skipped_instances > 0)
		memcpy(grown, out->skipped_instances, sizeof(*grown) * out->n_skipped_instances);
	grown[out->n_skipped_instances++] = arena_strdup(&call->arena, instance);
	out->skipped_instances = grown;
}

/*
 * An explicit port outside the template's range, or below 1024, is the
 * admin's to choose: an operator could otherwise publish on port 80 or on
 * a port another template's services count on.
 */
static int
check_port_choice(struct call *call, const Berth__V1__Template *t, uint32_t port)
{
	uint32_t end = t->port_range_end != 0 ? t->port_range_end : 65535;

	if (call->role >= RPC_ROLE_ADMIN)
		return 0;
	if (port < 1024)
		return call_fail_detail(call, BERTH__V1__CODE__PERMISSION_DENIED, "port",
		    "PRIVILEGED_PORT", "port %u is a privileged port: only an admin may publish on it",
		    port);
	if (port < t->port_range_start || port > end)
		return call_fail_detail(call, BERTH__V1__CODE__PERMISSION_DENIED, "port",
		    "PORT_OUTSIDE_RANGE",
		    "port %u is outside template '%s''s range %u-%u: only an admin may choose it "
		    "(or widen the template's range)",
		    port, t->name, t->port_range_start, end);
	return 0;
}


/*
 * The launch is a resend of one that berthd's restart cut short after it
 * had made its row (call->resumed_subject): answers for that service as
 * start-up reconciliation left it, instead of launching a second one.
 * NOT_FOUND, with no failure recorded, when the row is gone (the launch
 * was undone): then it runs again.
 */
static int
answer_resumed_launch(struct call *call, Berth__V1__LaunchServiceResponse *out)
{
	const char *service_id = call->resumed_subject;
	Berth__V1__Service *s;
	int code;

	if ((code = lifecycle_lock_service(call, service_id, &s)) != 0) {
		if (code == BERTH__V1__CODE__NOT_FOUND)
			call_clear_failure(call);
		return code;
	}
	service_unlock(call_berthd(call)->locks, service_id);
	if (strcmp(s->status, STATUS_CREATING) == 0)
		return call_fail(call, BERTH__V1__CODE__UNAVAILABLE,
		    "the launch of %s was cut short by a restart of berthd and is not finished yet "
		    "(Docker did not answer): try again later",
		    service_id);
	lifecycle_set_url(call, s);
	out->service = s;
	log_info("launch resumed after a restart service=%s status=%s", service_id, s->status);
	return 0;
}

int
lifecycle_launch(struct call *call, const char *template_name, const char *instance,
    uint32_t port, const char *restart, Berth__V1__LaunchServiceResponse *out)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct error err = { 0 };
	struct error verr;
	Berth__V1__Template *t;
	Berth__V1__Service *s = NULL;
	uint16_t chosen;
	bool storage_made; /* this launch made the instance's volume (undo_launch) */
	int64_t started = clock_monotonic_us(), docker_us, port_us;
	int code;

	if (call->resumed_subject != NULL &&
	    (code = answer_resumed_launch(call, out)) != BERTH__V1__CODE__NOT_FOUND)
		return code;
	if ((code = template_lookup(call, "template", template_name, &t)) != 0)
		return code;
	if (instance[0] != '\0' && validate_instance_name("instance", instance, &verr) != 0)
		return call_fail_error(call, &verr);
	if (port != 0 && validate_port("port", port, &verr) != 0)
		return call_fail_error(call, &verr);
	if (port != 0 && (code = check_port_choice(call, t, port)) != 0)
		return code;
	if (validate_restart_policy("restart", restart, true, &verr) != 0)
		return call_fail_error(call, &verr);

	docker_us = clock_monotonic_us();
	if (b->ops->prepare_image(b, t, call_remaining_ms(call), &err) != 0)
		return lifecycle_fail_backend(call, &err,
		    arena_printf(&call->arena, "image %s of template '%s' is not available", t->image,
			t->name));
	docker_us = clock_monotonic_us() - docker_us;

	port_us = 0;
	for (unsigned from = 1, attempt = 0;; attempt++) {
		int64_t t0 = clock_monotonic_us();

		if ((code = choose_port(call, t, port, t->port_range_start, out, &chosen)) != 0)
			return code;
		port_us = clock_monotonic_us() - t0;
		if ((code = insert_row(call, t, instance, from, chosen, restart, &s)) != 0) {
			ports_release(d->ports, chosen);
			return code;
		}
		storage_made = false;
		if ((code = lifecycle_make_project_dir(call, t, s->instance)) == 0 &&
		    (code = create_and_start(call, t, s, port != 0, out, &docker_us,
			 &storage_made)) == 0 &&
		    (code = registry_service_update(call_registry(call), s->service_id,
			 STATUS_RUNNING, NULL)) != 0)
			code = lifecycle_registry_code(call, code);
		if (code == 0)
			break;
		undo_launch(call, s, code, storage_made);
		service_unlock(d->locks, s->service_id);
		/*
		 * A container outside the registry has the name this launch chose
		 * itself (one kept by `rm --keep-container`, or made by hand):
		 * leave it alone and take the next number, as a person would.
		 */
		if (code != BERTH__V1__CODE__ALREADY_EXISTS || instance[0] != '\0' ||
		    s->container_id[0] != '\0' || attempt >= LAUNCH_NAME_RETRIES)
			return code;
		log_info("launch passes over an instance whose container name is taken service=%s",
		    s->service_id);
		add_skipped_instance(call, out, s->instance);
		call_clear_failure(call);
		from = s->instance_number + 1;
	}
	/* Read back: the supervisor's fields, as GetService shows them. */
	registry_service_get(call_registry(call), &call->arena, s->service_id, &s);
	service_unlock(d->locks, s->service_id);
	s->status = STATUS_RUNNING;
	lifecycle_set_url(call, s);
	out->service = s;
	event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_LAUNCHED, s, NULL, "launched on port %u",
	    s->port);
	/* own_us: all but the backend's calls (image, create, start), i.e. berth's own work. */
	log_info("launched service=%s port=%u container=%.12s duration_us=%lld docker_us=%lld "
		 "own_us=%lld port_us=%lld",
	    s->service_id, s->port, s->container_id, (long long)(clock_monotonic_us() - started),
	    (long long)docker_us, (long long)(clock_monotonic_us() - started - docker_us),
	    (long long)port_us);
	return 0;
}

int
lifecycle_lock_service(struct call *call, const char *service_id, Berth__V1__Service **out)
{
	struct berthd *d = call_berthd(call);
	struct error verr;
	int code;

	if (validate_service_id("service_id", service_id, &verr) != 0)
		return call_fail_error(call, &verr);
	if (service_lock(d->locks, service_id, call->deadline_ms) != 0)
		return call_fail(call, BERTH__V1__CODE__ABORTED,
		    "service '%s' is busy with another operation", service_id);
	code = registry_service_get(call_registry(call), &call->arena, service_id, out);
	if (code != 0) {
		service_unlock(d->locks, service_id);
		return lifecycle_registry_code(call, code);
	}
	return 0;
}

int
lifecycle_stop_timeout(struct call *call, const Berth__V1__Service *s, uint32_t requested)
{
	Berth__V1__Template *t;

	if (requested != 0)
		return (int)requested;
	if (registry_template_get(call_registry(call), &call->arena, s->template_, &t) == 0 &&
	    t->stop_timeout_s != 0)
		return (int)t->stop_timeout_s;
	return LIFECYCLE_STOP_TIMEOUT_S;
}

int
lifecycle_stop(struct call *call, const char *service_id, uint32_t timeout_s,
    Berth__V1__Service **out)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct error err = { 0 };
	Berth__V1__Service *s;
	const char *status = STATUS_STOPPED;
	int code;

	if (timeout_s > 3600)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "timeout_s",
		    "OUT_OF_RANGE", "timeout_s must be at most 3600");
	if ((code = lifecycle_lock_service(call, service_id, &s)) != 0)
		return code;
	/* Wanted stopped before it stops: the supervisor never takes this for a crash. */
	if ((code = registry_service_set_desired(call_registry(call), service_id,
		 DESIRED_STOPPED)) != 0) {
		service_unlock(d->locks, service_id);
		return lifecycle_registry_code(call, code);
	}
	s->desired_state = DESIRED_STOPPED;
	s->supervisor = SUPERVISOR_OK;
	s->next_restart_at = "";
	s->restarts = 0;
	code = b->ops->stop(b, lifecycle_container_ref(s), lifecycle_stop_timeout(call, s, timeout_s),
	    call_remaining_ms(call), &err);
	if (code == BERTH__V1__CODE__NOT_FOUND) {
		status = STATUS_MISSING; /* the row tells the truth; restart recreates it */
		code = 0;
	}
	if (code != 0) {
		service_unlock(d->locks, service_id);
		return lifecycle_fail_backend(call, &err, "cannot stop the container");
	}
	code = registry_service_update(call_registry(call), service_id, status, NULL);
	service_unlock(d->locks, service_id);
	if (code != 0) /* say what did happen: the stop is not undone */
		return call_fail(call, code,
		    "the container is stopped, but the registry could not record it: %s",
		    registry_error(call_registry(call))->message);
	s->status = (char *)status;
	lifecycle_set_url(call, s);
	*out = s;
	event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_STOPPED, s, NULL, "stopped");
	log_info("stopped service=%s", service_id);
	return 0;
}

/*
 * With purge: what holds the instance's data besides its project directory
 * (the swarm backend's named volume), when the backend keeps any.
 */
static int
purge_backend_storage(struct call *call, const Berth__V1__Service *s, protobuf_c_boolean *removed)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	int code;

	if (b->ops->purge_storage == NULL)
		return 0;
	code = b->ops->purge_storage(b, s->service_id, call_remaining_ms(call), &err);
	if (code == BERTH__V1__CODE__NOT_FOUND)
		return 0;
	if (code != 0)
		return lifecycle_fail_backend(call, &err, "cannot remove the instance's volume");
	*removed = true;
	return 0;
}

/* FAILED_PRECONDITION while the service's container runs (remove with --purge). */
static int
refuse_purge_while_running(struct call *call, const Berth__V1__Service *s)
{
	struct backend *b = &call_berthd(call)->backend;
	struct docker_container c;
	struct error err = { 0 };
	int code = b->ops->inspect(b, lifecycle_container_ref(s), &c, call_remaining_ms(call), &err);

	if (code == BERTH__V1__CODE__NOT_FOUND)
		return 0;
	if (code != 0)
		return lifecycle_fail_backend(call, &err, "cannot tell whether the container still runs");
	if (strcmp(c.state, "running") == 0 || strcmp(c.state, "restarting") == 0 ||
	    strcmp(c.state, "paused") == 0)
		return call_fail_detail(call, BERTH__V1__CODE__FAILED_PRECONDITION, "purge",
		    "CONTAINER_RUNNING",
		    "service %s: its container is %s; stop it first (berth stop %s), or remove "
		    "it with its container, before purging its directory",
		    s->service_id, c.state, s->service_id);
	return 0;
}

/*
 * Marks the service as being removed, and stamps the call's request id
 * with it and its record, in one transaction: a resend after a crash knows
 * the removal was under way, and what it removed (finish_resumed_remove).
 */
static int
mark_removing(struct call *call, const Berth__V1__Service *s)
{
	struct registry *reg = call_registry(call);
	size_t len = call->request_key != NULL ? berth__v1__service__get_packed_size(s) : 0;
	uint8_t *record = len > 0 ? arena_alloc(&call->arena, len) : NULL;
	int code;

	if (record != NULL)
		berth__v1__service__pack(s, record);
	if ((code = registry_begin(reg)) != 0)
		return code;
	if ((code = registry_service_update(reg, s->service_id, STATUS_REMOVING, NULL)) != 0 ||
	    (code = requests_stamp(reg, call->request_key, s->service_id, record, len)) != 0) {
		registry_rollback(reg);
		return code;
	}
	return registry_commit(reg);
}

/*
 * A resend of a removal that berthd's restart cut short after it had
 * marked the service: the row is gone, so the removal got as far as
 * deleting it (reconciliation finishes one that had not). Purges what the
 * request asked to purge, which may not have happened yet, and answers
 * from the record kept with the request id.
 */
static int
finish_resumed_remove(struct call *call, bool keep_container, bool purge,
    Berth__V1__RemoveServiceResponse *out)
{
	struct berthd *d = call_berthd(call);
	Berth__V1__Service *s;
	struct error err = { 0 };
	int code = 0;

	call_clear_failure(call);
	s = berth__v1__service__unpack(&call->arena.allocator, call->resumed_detail_len,
	    call->resumed_detail);
	if (s == NULL)
		return call_fail(call, BERTH__V1__CODE__DATA_LOSS,
		    "the removal of %s was cut short by a restart and its record is unreadable",
		    call->resumed_subject);
	out->container_removed = !keep_container;
	if (purge && (code = instance_dir_purge(d->templates_dir, s->template_, s->instance, &err)) == 0)
		out->directory_removed = true;
	else if (purge)
		code = call_fail_error(call, &err);
	if (purge && code == 0)
		code = purge_backend_storage(call, s, &out->volume_removed);
	lifecycle_set_url(call, s);
	out->service = s;
	log_info("remove resumed after a restart service=%s purged=%d", s->service_id,
	    (int)out->directory_removed);
	return code;
}

int
lifecycle_remove(struct call *call, const char *service_id, bool keep_container, bool purge,
    Berth__V1__RemoveServiceResponse *out)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct registry *reg = call_registry(call);
	struct error err = { 0 };
	Berth__V1__Service *s;
	int code;

	if ((code = lifecycle_lock_service(call, service_id, &s)) != 0) {
		if (code == BERTH__V1__CODE__NOT_FOUND && call->resumed_subject != NULL &&
		    strcmp(call->resumed_subject, service_id) == 0)
			return finish_resumed_remove(call, keep_container, purge, out);
		return code;
	}
	/*
	 * A running container could swap what berthd is deleting for links
	 * to host paths: its directory is purged only once it has stopped.
	 */
	if (purge && keep_container && (code = refuse_purge_while_running(call, s)) != 0)
		goto out;
	/* Mark first: a crash from here on is finished by reconciliation. */
	if ((code = mark_removing(call, s)) != 0) {
		/* A full disk, say: nothing was removed, and the caller is told why. */
		code = call_fail(call, code, "cannot mark %s as being removed, nothing was removed: %s",
		    service_id, registry_error(reg)->message);
		goto out;
	}
	if (!keep_container) {
		code = b->ops->remove(b, lifecycle_container_ref(s), call_remaining_ms(call), &err);
		if (code == 0)
			out->container_removed = true;
		else if (code != BERTH__V1__CODE__NOT_FOUND) {
			registry_service_update(reg, service_id, s->status, NULL);
			code = lifecycle_fail_backend(call, &err, "cannot remove the container");
			goto out;
		}
	}
	if ((code = registry_service_delete(reg, service_id)) != 0) {
		code = lifecycle_registry_code(call, code);
		goto out;
	}
	ports_release(d->ports, (uint16_t)s->port);
	if (purge && (code = instance_dir_purge(d->templates_dir, s->template_, s->instance, &err)) == 0)
		out->directory_removed = true;
	else if (purge)
		code = call_fail_error(call, &err);
	if (purge && code == 0)
		code = purge_backend_storage(call, s, &out->volume_removed);
	lifecycle_set_url(call, s);
	out->service = s;
	event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_REMOVED, s, "removed", "removed%s",
	    out->directory_removed ? " and purged" : "");
	log_info("removed service=%s container_removed=%d purged=%d", service_id,
	    (int)out->container_removed, (int)out->directory_removed);
out:
	service_unlock(d->locks, service_id);
	return code;
}

/* The backend's tasks of the service (swarm), when it has such a thing. */
static void
add_tasks(struct call *call, Berth__V1__Service *s)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	struct backend_task *tasks = NULL;
	size_t n = 0;

	if (b->ops->tasks == NULL ||
	    b->ops->tasks(b, lifecycle_container_ref(s), &tasks, &n, call_remaining_ms(call), &err) != 0)
		return;
	s->tasks = ARENA_ARRAY(&call->arena, Berth__V1__Task *, n + 1);
	for (size_t i = 0; i < n; i++) {
		Berth__V1__Task *t = ARENA_NEW(&call->arena, Berth__V1__Task);

		berth__v1__task__init(t);
		t->id = arena_strdup(&call->arena, tasks[i].id);
		t->node_id = arena_strdup(&call->arena, tasks[i].node_id);
		t->node = arena_strdup(&call->arena, tasks[i].node);
		t->state = arena_strdup(&call->arena, tasks[i].state);
		t->desired_state = arena_strdup(&call->arena, tasks[i].desired_state);
		t->message = arena_strdup(&call->arena, tasks[i].message);
		t->error = arena_strdup(&call->arena, tasks[i].error);
		t->updated_at = arena_strdup(&call->arena, tasks[i].updated_at);
		t->container_id = arena_strdup(&call->arena, tasks[i].container_id);
		s->tasks[s->n_tasks++] = t;
	}
	free(tasks);
}

int
lifecycle_get(struct call *call, const char *service_id, bool registry_only,
    Berth__V1__Service **out)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	struct docker_container live;
	Berth__V1__ContainerState *cs;
	Berth__V1__Service *s;
	struct error verr;
	int code;

	if (validate_service_id("service_id", service_id, &verr) != 0)
		return call_fail_error(call, &verr);
	code = registry_service_get(call_registry(call), &call->arena, service_id, &s);
	if (code != 0)
		return lifecycle_registry_code(call, code);
	lifecycle_set_url(call, s);
	if (registry_only) {
		*out = s;
		return 0;
	}
	cs = ARENA_NEW(&call->arena, Berth__V1__ContainerState);
	berth__v1__container_state__init(cs);
	s->container = cs;
	code = b->ops->inspect(b, lifecycle_container_ref(s), &live, call_remaining_ms(call), &err);
	if (code == BERTH__V1__CODE__NOT_FOUND) {
		cs->state = STATUS_MISSING;
	} else if (code != 0) {
		cs->state = "unknown";
	} else {
		struct docker_stats stats;

		cs->state = arena_strdup(&call->arena, live.state);
		cs->exit_code = live.exit_code;
		cs->started_at = arena_strdup(&call->arena, live.started_at);
		cs->finished_at = arena_strdup(&call->arena, live.finished_at);
		if (strcmp(live.state, "running") == 0 &&
		    b->ops->stats(b, lifecycle_container_ref(s), &stats, call_remaining_ms(call), &err) == 0) {
			cs->cpu_percent = stats.cpu_percent;
			cs->memory_bytes = stats.memory_bytes;
			cs->memory_limit_bytes = stats.memory_limit_bytes;
		}
		if (live.volume[0] != '\0')
			s->volume = arena_strdup(&call->arena, live.volume);
		add_tasks(call, s);
	}
	*out = s;
	return 0;
}
