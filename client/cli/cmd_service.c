/*
 * cmd_service.c - the commands on services: launch, ls, info, stop,
 * restart and rm (LaunchService, ListServices, GetService, StopService,
 * RestartService, RemoveService); logs and exec are in cmd_logs.c.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "each.h"
#include "format.h"
#include "progress.h"
#include "watch.h"

/* launch --wait's deadline when no --timeout is given: a first start may pull. */
#define CLI_WAIT_TIMEOUT_MS 120000

/* The service's registry row as "key: value" lines. */
static void
kv_service(struct cli_table *kv, const Berth__V1__Service *s)
{
	cli_kv_add(kv, "service_id", "%s", s->service_id);
	cli_kv_add(kv, "template", "%s", s->template_);
	cli_kv_add(kv, "instance", "%s", s->instance);
	cli_kv_add(kv, "status", "%s", s->status);
	cli_kv_add(kv, "port", "%u", s->port);
	if (s->n_nodes > 0) { /* swarm: where its running tasks are */
		char nodes[1024];
		size_t used = 0;

		nodes[0] = '\0';
		for (size_t i = 0; i < s->n_nodes && used < sizeof(nodes); i++)
			used += (size_t)snprintf(nodes + used, sizeof(nodes) - used, "%s%s",
			    i > 0 ? "," : "", s->nodes[i]);
		cli_kv_add(kv, "nodes", "%s", nodes);
	}
	cli_kv_add(kv, "url", "%s", s->url);
	cli_kv_add(kv, "container_name", "%s", s->container_name);
	cli_kv_add(kv, "container_id", "%s", s->container_id);
	cli_kv_add(kv, "project_dir", "%s", s->project_dir);
	cli_kv_add(kv, "created_at", "%s", s->created_at);
	if (s->revision != 0)
		cli_kv_add(kv, "revision", "%u%s", s->revision,
		    s->outdated ? " (outdated: the template has a newer one)" : "");
	else
		cli_kv_add(kv, "revision", "-");
	cli_kv_add(kv, "image_id", "%s", cli_dash_if_empty(s->image_id));
	/* What the supervisor wants and knows; "-" from a berthd older than it. */
	cli_kv_add(kv, "desired_state", "%s", cli_dash_if_empty(s->desired_state));
	cli_kv_add(kv, "restart", "%s", cli_dash_if_empty(s->restart));
	cli_kv_add(kv, "supervisor", "%s", cli_dash_if_empty(s->supervisor));
	cli_kv_add(kv, "restarts", "%u", s->restarts);
	cli_kv_add(kv, "last_exit_code", "%d", s->last_exit_code);
	cli_kv_add(kv, "next_restart_at", "%s", cli_dash_if_empty(s->next_restart_at));
	cli_kv_add(kv, "health", "%s", cli_dash_if_empty(s->health));
	if (s->health_message[0] != '\0')
		cli_kv_add(kv, "health_message", "%s", s->health_message);
}

/* Its container's state as seen by the engine. */
static void
kv_container(struct cli_table *kv, const Berth__V1__ContainerState *c)
{
	char used[32], limit[32];

	cli_format_bytes(used, sizeof(used), c->memory_bytes);
	cli_format_bytes(limit, sizeof(limit), c->memory_limit_bytes);
	cli_kv_add(kv, "state", "%s", c->state);
	cli_kv_add(kv, "exit_code", "%d", c->exit_code);
	cli_kv_add(kv, "started_at", "%s", c->started_at);
	cli_kv_add(kv, "finished_at", "%s", c->finished_at);
	cli_kv_add(kv, "cpu", "%.1f%%", c->cpu_percent);
	if (c->memory_limit_bytes != 0)
		cli_kv_add(kv, "memory", "%s / %s", used, limit);
	else
		cli_kv_add(kv, "memory", "%s", used);
}

static int
print_launch(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__LaunchServiceResponse *r = (const Berth__V1__LaunchServiceResponse *)reply;
	struct cli_table *kv;
	int rc;

	(void)arg;
	if (r->service == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no service");
	kv = cli_kv_begin();
	cli_kv_add(kv, "service_id", "%s", r->service->service_id);
	cli_kv_add(kv, "url", "%s", r->service->url);
	cli_kv_add(kv, "port", "%u", r->service->port);
	if (r->service->health[0] != '\0' && strcmp(r->service->health, "none") != 0)
		cli_kv_add(kv, "health", "%s", r->service->health);
	if ((rc = cli_table_end(cli, kv)) != 0)
		return rc;
	if (r->n_skipped_ports > 0) {
		fputs("skipped ", cli->out);
		for (size_t i = 0; i < r->n_skipped_ports; i++)
			fprintf(cli->out, "%s%u (%s)", i > 0 ? ", " : "", r->skipped_ports[i]->port,
			    r->skipped_ports[i]->reason);
		fputc('\n', cli->out);
	}
	if (r->n_skipped_instances > 0) {
		fputs("skipped instances ", cli->out);
		for (size_t i = 0; i < r->n_skipped_instances; i++)
			fprintf(cli->out, "%s%s", i > 0 ? ", " : "", r->skipped_instances[i]);
		fputs(" (a container outside the registry has the name; see berth cleanup --status)\n",
		    cli->out);
	}
	return 0;
}

int
cli_cmd_launch(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	const char *restart = NULL;
	bool wait = false;
	struct cli_opt opts[] = {
		{ "--port", CLI_OPT_UINT, &req.port },
		{ "--restart", CLI_OPT_STRING, &restart },
		{ "--wait", CLI_OPT_FLAG, &wait },
		{ NULL },
	};
	struct error verr;
	struct cli_progress *progress;
	ProtobufCMessage *reply;
	char *pos[2], label[160];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 1, 2)) != 0)
		return rc;
	if ((rc = cli_check_name(cli, "template", pos[0])) != 0)
		return rc;
	if (pos[1] != NULL && (rc = cli_check_name(cli, "instance", pos[1])) != 0)
		return rc;
	if (opts[0].seen && validate_port("port", req.port, &verr) != 0)
		return cli_fail_error(cli, &verr);
	if (restart != NULL) {
		if (validate_restart_policy("restart", restart, false, &verr) != 0)
			return cli_fail_error(cli, &verr);
		req.restart = (char *)restart;
	}
	/*
	 * berthd waits within the call's deadline: give it more than the usual
	 * minute unless --timeout says how long. The client is not open yet.
	 */
	if (wait) {
		req.wait_healthy = true;
		if (cli->opts.timeout_ms == 0)
			cli->opts.timeout_ms = CLI_WAIT_TIMEOUT_MS;
	}
	req.template_ = pos[0];
	if (pos[1] != NULL)
		req.instance = pos[1];
	/* A first launch may build or pull the image: say that it is still going. */
	snprintf(label, sizeof(label), "launching %s%s%s", pos[0], pos[1] != NULL ? " " : "",
	    pos[1] != NULL ? pos[1] : "");
	progress = cli_progress_start(cli, label);
	rc = cli_call(cli, "LaunchService", &req.base, &reply);
	cli_progress_stop(progress);
	if (rc != 0)
		return rc;
	rc = cli->json ? cli_print_json(cli, reply) : print_launch(cli, reply, NULL);
	berth_reply_free(reply);
	return rc;
}

static int
print_list_services(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__ListServicesResponse *r = (const Berth__V1__ListServicesResponse *)reply;
	const bool *quiet = arg;

	if (*quiet) {
		for (size_t i = 0; i < r->n_services; i++)
			fprintf(cli->out, "%s\n", r->services[i]->service_id);
		return 0;
	}
	return cli_print_services(cli, r->services, r->n_services);
}

int
cli_cmd_ls(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	const char *template_name = NULL, *status = NULL;
	bool quiet = false;
	struct cli_watch_opts w = { CLI_WATCH_DEFAULT_S, 0 };
	struct cli_opt opts[] = {
		{ "--template", CLI_OPT_STRING, &template_name },
		{ "--status", CLI_OPT_STRING, &status },
		{ "-q", CLI_OPT_FLAG, &quiet },
		{ "--quiet", CLI_OPT_FLAG, &quiet },
		CLI_WATCH_OPTIONS(&w),
		{ NULL },
	};
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	if (template_name != NULL) {
		if ((rc = cli_check_name(cli, "template", template_name)) != 0)
			return rc;
		req.template_ = (char *)template_name;
	}
	if (status != NULL)
		req.status = (char *)status;
	return cli_call_and_print_watched(cli, cmd, opts, &w, "ListServices", &req.base,
	    print_list_services, &quiet);
}

static int
print_service_info(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__GetServiceResponse *r = (const Berth__V1__GetServiceResponse *)reply;
	struct cli_table *kv;

	(void)arg;
	if (r->service == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no service");
	kv = cli_kv_begin();
	kv_service(kv, r->service);
	if (r->service->container != NULL)
		kv_container(kv, r->service->container);
	/* The swarm backend's: the volume, and one line per task (none with the engine). */
	if (r->service->volume[0] != '\0')
		cli_kv_add(kv, "volume", "%s", r->service->volume);
	for (size_t i = 0; i < r->service->n_tasks; i++) {
		const Berth__V1__Task *t = r->service->tasks[i];
		const char *why = t->error[0] != '\0' ? t->error : t->message;

		cli_kv_add(kv, "task", "%.12s %s (desired %s) on %s%s%s", t->id, t->state, t->desired_state,
		    t->node[0] != '\0' ? t->node : t->node_id[0] != '\0' ? t->node_id : "no node",
		    why[0] != '\0' ? ": " : "", why);
	}
	return cli_table_end(cli, kv);
}

int
cli_cmd_info(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	req.service_id = pos[0];
	return cli_call_and_print(cli, "GetService", &req.base, print_service_info, NULL);
}

/*
 * Stop and restart answer with the service: "<id>: <status>". Their two
 * reply types are read through the descriptor's `service` field.
 */
static int
print_service_status(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(reply->descriptor, "service");
	const Berth__V1__Service *s = NULL;

	if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
	    f->descriptor == &berth__v1__service__descriptor)
		s = *(Berth__V1__Service *const *)((const char *)reply + f->offset);
	if (s == NULL)
		fprintf(cli->out, "%s: done\n", (const char *)arg);
	else
		fprintf(cli->out, "%s: %s\n", s->service_id, s->status);
	return 0;
}

/*
 * stop, restart and rm: on one id as always, or on several ids and/or
 * every service of --template T (each.h). Parses argv into *pos (the
 * caller frees it) and counts the ids into *n.
 */
static int
parse_targets(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
    struct cli_opt *opts, char ***pos, size_t *n)
{
	int rc;

	*n = 0;
	if ((*pos = calloc((size_t)argc + 1, sizeof(**pos))) == NULL)
		return cli_out_of_memory(cli);
	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, *pos, 0, argc)) != 0)
		return rc;
	while (*n < (size_t)argc && (*pos)[*n] != NULL)
		(*n)++;
	return 0;
}

/*
 * Calls `method` with req on the n ids of pos and on every service of
 * template_name (NULL: none); req's service_id is set here. Frees pos.
 */
static int
run_on_targets(struct cli *cli, const struct cli_command *cmd, char **pos, size_t n,
    const char *template_name, const char *method, ProtobufCMessage *req, char **service_id,
    cli_print_fn print)
{
	ProtobufCMessage *listed = NULL;
	int rc;

	if (n == 0 && template_name == NULL) {
		free(pos);
		return cli_usage_error(cli, cmd, "a service id (or --template T) is required");
	}
	if (n == 1 && template_name == NULL) {
		/* One id: the reply as it always was. */
		*service_id = pos[0];
		rc = cli_call_and_print(cli, method, req, print, pos[0]);
		free(pos);
		return rc;
	}
	if (template_name == NULL ||
	    (rc = cli_each_template_ids(cli, template_name, &pos, &n, &listed)) == 0)
		rc = n > 0 ? cli_each_call(cli, method, req, pos, n, print) : 0;
	berth_reply_free(listed);
	free(pos);
	return rc;
}

int
cli_cmd_stop(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__StopServiceRequest req = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	const char *template_name = NULL;
	struct cli_opt opts[] = {
		{ "--timeout", CLI_OPT_UINT, &req.timeout_s },
		{ "--template", CLI_OPT_STRING, &template_name },
		{ NULL },
	};
	char **pos;
	size_t n;
	int rc;

	if ((rc = parse_targets(cli, cmd, argc, argv, opts, &pos, &n)) != 0) {
		free(pos);
		return rc;
	}
	return run_on_targets(cli, cmd, pos, n, template_name, "StopService", &req.base,
	    &req.service_id, print_service_status);
}

int
cli_cmd_restart(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__RestartServiceRequest req = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	const char *template_name = NULL;
	struct cli_opt opts[] = { { "--template", CLI_OPT_STRING, &template_name }, { NULL } };
	char **pos;
	size_t n;
	int rc;

	if ((rc = parse_targets(cli, cmd, argc, argv, opts, &pos, &n)) != 0) {
		free(pos);
		return rc;
	}
	return run_on_targets(cli, cmd, pos, n, template_name, "RestartService", &req.base,
	    &req.service_id, print_service_status);
}

static int
print_remove(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__RemoveServiceResponse *r = (const Berth__V1__RemoveServiceResponse *)reply;

	fprintf(cli->out, "Removed %s (container %s, directory %s).\n",
	    r->service != NULL ? r->service->service_id : (const char *)arg,
	    r->container_removed ? "removed" : "kept", r->directory_removed ? "removed" : "kept");
	return 0;
}

int
cli_cmd_rm(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	const char *template_name = NULL;
	bool keep = false, purge = false;
	struct cli_opt opts[] = {
		{ "--keep-container", CLI_OPT_FLAG, &keep },
		{ "--purge", CLI_OPT_FLAG, &purge },
		{ "--template", CLI_OPT_STRING, &template_name },
		{ NULL },
	};
	char **pos;
	size_t n;
	int rc;

	if ((rc = parse_targets(cli, cmd, argc, argv, opts, &pos, &n)) != 0) {
		free(pos);
		return rc;
	}
	req.keep_container = keep;
	req.purge = purge;
	return run_on_targets(cli, cmd, pos, n, template_name, "RemoveService", &req.base,
	    &req.service_id, print_remove);
}

