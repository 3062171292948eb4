/*
 * each.c - one RPC on several services (each.h).
 *
 * Threads: the command's, and up to CLI_EACH_PARALLEL callers it starts
 * and joins. Slots are handed out by an atomic index; each is written by
 * the thread that took it and read by the command's thread after the join.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "each.h"

struct each_slot {
	ProtobufCMessage *request; /* a shallow copy of the command's, with this id */
	ProtobufCMessage *reply;
	berth_status status;
	int code;
};

struct each_job {
	berth_client *client;
	const char *method;
	struct each_slot *slots;
	size_t n;
	atomic_size_t next;
};

static void *
caller(void *arg)
{
	struct each_job *job = arg;
	size_t i;

	while ((i = atomic_fetch_add(&job->next, 1)) < job->n) {
		struct each_slot *s = &job->slots[i];

		s->code = berth_call(job->client, job->method, s->request, &s->reply, &s->status);
	}
	return NULL;
}

int
cli_each_template_ids(struct cli *cli, const char *template_name, char ***ids, size_t *n,
    ProtobufCMessage **reply)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	const Berth__V1__ListServicesResponse *r;
	char **grown;
	int rc;

	if ((rc = cli_check_name(cli, "template", template_name)) != 0)
		return rc;
	req.template_ = (char *)template_name;
	if ((rc = cli_call(cli, "ListServices", &req.base, reply)) != 0)
		return rc;
	r = (const Berth__V1__ListServicesResponse *)*reply;
	grown = realloc(*ids, (*n + r->n_services + 1) * sizeof(*grown));
	if (grown == NULL)
		return cli_out_of_memory(cli);
	*ids = grown;
	for (size_t i = 0; i < r->n_services; i++)
		grown[(*n)++] = r->services[i]->service_id;
	return 0;
}

/* A copy of request (its top level only) whose service_id is id; NULL when out of memory. */
static ProtobufCMessage *
request_for(const ProtobufCMessage *request, const char *id)
{
	const ProtobufCMessageDescriptor *desc = request->descriptor;
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(desc, "service_id");
	ProtobufCMessage *copy;

	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || (copy = malloc(desc->sizeof_message)) == NULL)
		return NULL;
	memcpy(copy, request, desc->sizeof_message);
	*(const char **)((char *)copy + f->offset) = id;
	return copy;
}

int
cli_each_call(struct cli *cli, const char *method, const ProtobufCMessage *request,
    char *const *ids, size_t n, cli_print_fn print)
{
	struct each_slot *slots = calloc(n + 1, sizeof(*slots));
	struct each_job job = { .method = method, .slots = slots, .n = n };
	pthread_t threads[CLI_EACH_PARALLEL];
	size_t started = 0, failed = 0;
	int first = 0, rc = 0;
	const char *first_id = NULL;

	if (slots == NULL)
		return cli_out_of_memory(cli);
	if (cli->client == NULL && berth_open(&cli->client, cli->url, &cli->opts, &cli->status) != 0) {
		free(slots);
		return cli->status.code;
	}
	for (size_t i = 0; i < n; i++)
		if ((slots[i].request = request_for(request, ids[i])) == NULL) {
			rc = cli_out_of_memory(cli);
			goto out;
		}
	job.client = cli->client;
	atomic_init(&job.next, 0);
	for (size_t i = 0; i < n && i < CLI_EACH_PARALLEL; i++)
		if (pthread_create(&threads[started], NULL, caller, &job) == 0)
			started++;
	if (started == 0)
		caller(&job);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);

	for (size_t i = 0; i < n; i++) {
		struct each_slot *s = &slots[i];

		if (s->code == 0) {
			int printed = cli->json ? cli_print_json(cli, s->reply) : print(cli, s->reply, ids[i]);

			if (printed == 0)
				continue;
			s->code = printed;
			s->status = cli->status;
		}
		fprintf(cli->err, "berth: %s: %s", ids[i], berth_code_name(s->code));
		if (s->status.message[0] != '\0')
			fprintf(cli->err, ": %s", s->status.message);
		fputc('\n', cli->err);
		if (failed++ == 0) {
			first = s->code;
			first_id = ids[i];
		}
	}
	if (failed > 0)
		rc = cli_fail(cli, first, NULL, "%zu of %zu failed (the first: %s)", failed, n, first_id);
out:
	for (size_t i = 0; i < n; i++) {
		berth_reply_free(slots[i].reply);
		free(slots[i].request);
	}
	free(slots);
	return rc;
}
