/*
 * cmd_ops.c - the commands that look after berthd itself: health, stats,
 * status, cleanup and shutdown (Health, GetStats, GetStatus, the cleanup
 * RPCs, Shutdown); events are in cmd_events.c.
 */
#include <stdbool.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "format.h"
#include "watch.h"

/* GetStats as "key: value" lines, then a table of the templates' counts. */
static int
print_stats(struct cli *cli, const Berth__V1__GetStatsResponse *s)
{
	struct cli_table *kv = cli_kv_begin(), *t;
	int rc;

	cli_kv_add(kv, "total_services", "%u", s->total_services);
	cli_kv_add(kv, "running_services", "%u", s->running_services);
	cli_kv_add(kv, "stopped_services", "%u", s->stopped_services);
	cli_kv_add_owned(kv, "used_ports", cli_format_port_list(s->used_ports, s->n_used_ports));
	if ((rc = cli_table_end(cli, kv)) != 0 || s->n_templates == 0)
		return rc;
	if (cli_table_new(&t, 3, CLI_TABLE_GAP) != 0)
		return cli_out_of_memory(cli);
	cli_table_addv(t, "TEMPLATE", "TOTAL", "RUNNING");
	for (size_t i = 0; i < s->n_templates; i++) {
		char total[16], running[16];

		snprintf(total, sizeof(total), "%u", s->templates[i]->total);
		snprintf(running, sizeof(running), "%u", s->templates[i]->running);
		cli_table_addv(t, s->templates[i]->template_, total, running);
	}
	fputc('\n', cli->out);
	return cli_table_end(cli, t);
}

/* Health; a berthd that answers but is not SERVING fails as UNAVAILABLE. */
int
cli_cmd_health(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *rep;
	const char *status;
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, NULL, 0, 0)) != 0)
		return rc;
	if ((rc = cli_call(cli, "Health", &req.base, (ProtobufCMessage **)&rep)) != 0)
		return rc;
	status = cli_enum_name(&berth__v1__health_response__serving_status__descriptor, rep->status);
	if (cli->json) {
		rc = cli_print_json(cli, &rep->base);
	} else {
		struct cli_table *kv = cli_kv_begin();

		cli_kv_add(kv, "status", "%s", status);
		cli_kv_add(kv, "version", "%s", rep->version);
		if (!rep->docker_available)
			cli_kv_add(kv, "docker", "not available");
		else if (rep->docker_api_version[0] != '\0')
			cli_kv_add(kv, "docker", "available (API %s)", rep->docker_api_version);
		else
			cli_kv_add(kv, "docker", "available");
		if (rep->docker_available && rep->engine[0] != '\0')
			cli_kv_add(kv, "engine", "%s", rep->engine);
		rc = cli_table_end(cli, kv);
	}
	/* A server that answers but does not serve is "try again later". */
	if (rc == 0 && rep->status != BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING)
		rc = cli_fail(cli, BERTH__V1__CODE__UNAVAILABLE, NULL, "berthd is %s", status);
	berth_reply_free(&rep->base);
	return rc;
}

static int
print_get_stats(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	(void)arg;
	return print_stats(cli, (const Berth__V1__GetStatsResponse *)reply);
}

int
cli_cmd_stats(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetStatsRequest req = BERTH__V1__GET_STATS_REQUEST__INIT;
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, NULL, 0, 0)) != 0)
		return rc;
	return cli_call_and_print(cli, "GetStats", &req.base, print_get_stats, NULL);
}

static int
print_get_status(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__GetStatusResponse *r = (const Berth__V1__GetStatusResponse *)reply;
	int rc;

	(void)arg;
	if (r->statistics != NULL) {
		if ((rc = print_stats(cli, r->statistics)) != 0)
			return rc;
		fputc('\n', cli->out);
	}
	return cli_print_services(cli, r->services, r->n_services);
}

int
cli_cmd_status(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetStatusRequest req = BERTH__V1__GET_STATUS_REQUEST__INIT;
	struct cli_watch_opts w = { CLI_WATCH_DEFAULT_S, 0 };
	struct cli_opt opts[] = { CLI_WATCH_OPTIONS(&w), { NULL } };
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	return cli_call_and_print_watched(cli, cmd, opts, &w, "GetStatus", &req.base, print_get_status,
	    NULL);
}

/*
 * The three cleanup replies (GetCleanupStatus, AutoCleanup, ForceCleanupAll)
 * are counts and lists of names: printed field by field in proto order, a
 * count as "name: N", a list as "name: a, b" ("none" when empty), except
 * `errors`, whose entries are sentences: one "error: ..." line each.
 */
static int
print_cleanup(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const ProtobufCMessageDescriptor *d = reply->descriptor;
	struct cli_table *kv = cli_kv_begin();

	(void)arg;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *member = (const char *)reply + f->offset;

		if (f->type == PROTOBUF_C_TYPE_UINT32 && f->label != PROTOBUF_C_LABEL_REPEATED) {
			cli_kv_add(kv, f->name, "%u", *(const uint32_t *)member);
		} else if (f->type == PROTOBUF_C_TYPE_STRING && f->label == PROTOBUF_C_LABEL_REPEATED) {
			char *const *items = *(char *const *const *)member;
			size_t n = *(const size_t *)((const char *)reply + f->quantifier_offset);

			if (strcmp(f->name, "errors") == 0 && n > 0)
				cli_kv_add_each(kv, "error", items, n, "");
			else
				cli_kv_add_list(kv, f->name, items, n);
		}
	}
	return cli_table_end(cli, kv);
}

int
cli_cmd_cleanup(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	bool status = false, force = false, failed = false;
	struct cli_opt opts[] = {
		{ "--failed", CLI_OPT_FLAG, &failed },
		{ "--status", CLI_OPT_FLAG, &status },
		{ "--force", CLI_OPT_FLAG, &force },
		{ NULL },
	};
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	if (status && force)
		return cli_usage_error(cli, cmd, "--status and --force exclude each other");
	if (failed && (status || force))
		return cli_usage_error(cli, cmd, "--failed goes with a plain cleanup, not with %s",
		    status ? "--status" : "--force");
	if (status) {
		Berth__V1__GetCleanupStatusRequest req = BERTH__V1__GET_CLEANUP_STATUS_REQUEST__INIT;
		return cli_call_and_print(cli, "GetCleanupStatus", &req.base, print_cleanup, NULL);
	}
	if (force) {
		Berth__V1__ForceCleanupAllRequest req = BERTH__V1__FORCE_CLEANUP_ALL_REQUEST__INIT;
		return cli_call_and_print(cli, "ForceCleanupAll", &req.base, print_cleanup, NULL);
	}
	Berth__V1__AutoCleanupRequest req = BERTH__V1__AUTO_CLEANUP_REQUEST__INIT;
	req.include_failed = failed;
	return cli_call_and_print(cli, "AutoCleanup", &req.base, print_cleanup, NULL);
}

int
cli_cmd_shutdown(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ShutdownRequest req = BERTH__V1__SHUTDOWN_REQUEST__INIT;
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, NULL, 0, 0)) != 0)
		return rc;
	return cli_call_and_print(cli, "Shutdown", &req.base, cli_print_sentence,
	    "berthd is shutting down.");
}
