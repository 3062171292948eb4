/*
 * service_exec.c - ExecService: checks, the cap on execs in flight, the
 * backend's exec with output, and the answer made fit for a proto string.
 *
 * Execs in flight are counted per container and in all in a small table
 * under one mutex (any worker thread); a slot is held only while the
 * backend waits for the command.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"
#include "validate.h"
#include "base/log.h"
#include "core/berthd.h"
#include "core/lifecycle_internal.h"
#include "core/service_exec.h"
#include "store/registry.h"

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char container[160];
	int n;
} slots[SERVICE_EXEC_TOTAL]; /* under slots_lock; n 0 means free */

/* Takes a slot for container: 0, or RESOURCE_EXHAUSTED. */
static int
slot_take(struct call *call, const char *container)
{
	int total = 0, same = 0, free_slot = -1, mine = -1;

	pthread_mutex_lock(&slots_lock);
	for (int i = 0; i < SERVICE_EXEC_TOTAL; i++) {
		total += slots[i].n;
		if (slots[i].n == 0 && free_slot < 0)
			free_slot = i;
		if (slots[i].n > 0 && strcmp(slots[i].container, container) == 0)
			mine = i, same = slots[i].n;
	}
	if (same >= SERVICE_EXEC_PER_CONTAINER || total >= SERVICE_EXEC_TOTAL ||
	    (mine < 0 && free_slot < 0)) {
		pthread_mutex_unlock(&slots_lock);
		if (same >= SERVICE_EXEC_PER_CONTAINER)
			return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
			    "%d commands already run in this service's container; try again when "
			    "one has finished",
			    SERVICE_EXEC_PER_CONTAINER);
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "%d commands already run in berth's services; try again when one has finished",
		    SERVICE_EXEC_TOTAL);
	}
	if (mine < 0) {
		mine = free_slot;
		snprintf(slots[mine].container, sizeof(slots[mine].container), "%s", container);
	}
	slots[mine].n++;
	pthread_mutex_unlock(&slots_lock);
	return 0;
}

static void
slot_release(const char *container)
{
	pthread_mutex_lock(&slots_lock);
	for (int i = 0; i < SERVICE_EXEC_TOTAL; i++)
		if (slots[i].n > 0 && strcmp(slots[i].container, container) == 0) {
			slots[i].n--;
			break;
		}
	pthread_mutex_unlock(&slots_lock);
}

static int
check_command(struct call *call, const Berth__V1__ExecServiceRequest *in)
{
	size_t total = 0;

	if (in->n_command == 0 || in->command[0][0] == '\0')
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "command", "EMPTY",
		    "command must name a program to run (command[0] is empty)");
	if (in->n_command > SERVICE_EXEC_MAX_ARGS)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "command",
		    "TOO_LONG", "command has %zu arguments; at most %d", in->n_command,
		    SERVICE_EXEC_MAX_ARGS);
	for (size_t i = 0; i < in->n_command; i++)
		total += strlen(in->command[i]) + 1;
	if (total > SERVICE_EXEC_MAX_COMMAND_BYTES)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "command",
		    "TOO_LONG", "command is %zu bytes long; at most %d", total,
		    SERVICE_EXEC_MAX_COMMAND_BYTES);
	return 0;
}

/* A stream's bytes as a proto string in the arena; NULL when out of memory. */
static char *
answer_text(struct call *call, const char *text, size_t len)
{
	char *out = arena_alloc(&call->arena, 3 * len + 1);

	if (out != NULL)
		utf8_replace_invalid(out, text, len);
	return out;
}

int
service_exec(struct call *call, const Berth__V1__ExecServiceRequest *in,
    Berth__V1__ExecServiceResponse *out)
{
	struct backend *b = &call_berthd(call)->backend;
	struct docker_exec_output result = { 0 };
	struct docker_container live;
	struct error err = { 0 }, verr;
	Berth__V1__Service *s;
	uint32_t timeout_ms;
	const char *ref;
	int code;

	if (validate_service_id("service_id", in->service_id, &verr) != 0)
		return call_fail_error(call, &verr);
	if ((code = check_command(call, in)) != 0)
		return code;
	if (call->resumed)
		/* A restart cut the first attempt short: it may have run; never run it twice. */
		return call_fail(call, BERTH__V1__CODE__ABORTED,
		    "berthd restarted while this request ran; the command may have run (send it "
		    "again with a new request id to run it again)");
	timeout_ms = in->timeout_ms == 0                   ? SERVICE_EXEC_TIMEOUT_MS
	    : in->timeout_ms > SERVICE_EXEC_MAX_TIMEOUT_MS ? SERVICE_EXEC_MAX_TIMEOUT_MS
							   : in->timeout_ms;
	if (b->ops->exec_output == NULL)
		return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "the %s backend cannot run commands in services", b->ops->name);
	code = registry_service_get(call_registry(call), &call->arena, in->service_id, &s);
	if (code != 0)
		return lifecycle_registry_code(call, code);
	ref = lifecycle_container_ref(s);
	code = b->ops->inspect(b, ref, &live, call_remaining_ms(call), &err);
	if (code == BERTH__V1__CODE__NOT_FOUND)
		return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "the container of service '%s' no longer exists", in->service_id);
	if (code != 0)
		return lifecycle_fail_backend(call, &err, "cannot run the command");
	if (strcmp(live.state, "running") != 0)
		return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "service '%s' is not running (its container is %s)", in->service_id,
		    live.state[0] != '\0' ? live.state : "unknown");
	if ((code = slot_take(call, ref)) != 0)
		return code;
	code = b->ops->exec_output(b, ref, in->command, in->n_command, SERVICE_EXEC_OUTPUT_MAX,
	    &result,
	    (int64_t)timeout_ms < call_remaining_ms(call) ? timeout_ms : call_remaining_ms(call),
	    &err);
	slot_release(ref);
	if (code == BERTH__V1__CODE__DEADLINE_EXCEEDED) {
		docker_exec_output_free(&result);
		return call_fail(call, code,
		    "the command did not finish within %u ms; berth stopped waiting and it may "
		    "still be running in the container (Docker cannot stop an exec)",
		    timeout_ms < call_remaining_ms(call) ? timeout_ms
							 : (uint32_t)call_remaining_ms(call));
	}
	if (code != 0) {
		docker_exec_output_free(&result);
		return lifecycle_fail_backend(call, &err, "cannot run the command");
	}
	out->exit_code = result.exit_code;
	out->stdout = answer_text(call, result.out, result.out_len);
	out->stderr = answer_text(call, result.err, result.err_len);
	out->truncated = result.truncated;
	docker_exec_output_free(&result);
	if (out->stdout == NULL || out->stderr == NULL)
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	return 0;
}
