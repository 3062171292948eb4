/*
 * cmd_scale.c - `berth scale TEMPLATE N` (ScaleTemplate).
 */
#include <stdbool.h>
#include <stdio.h>

#include "args.h"
#include "commands.h"
#include "progress.h"

/* --wait's deadline when no --timeout is given, as launch --wait's. */
#define CLI_SCALE_WAIT_TIMEOUT_MS 120000

/* One line per instance launched or removed, then the count. */
static int
print_scale(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__ScaleTemplateResponse *r = (const Berth__V1__ScaleTemplateResponse *)reply;

	for (size_t i = 0; i < r->n_launched; i++)
		fprintf(cli->out, "launched %s %s\n", r->launched[i]->service_id, r->launched[i]->url);
	for (size_t i = 0; i < r->n_removed; i++)
		fprintf(cli->out, "removed %s\n", r->removed[i]);
	fprintf(cli->out, "%s: %u running (launched %zu, removed %zu)\n", (const char *)arg,
	    r->running, r->n_launched, r->n_removed);
	return 0;
}

int
cli_cmd_scale(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ScaleTemplateRequest req = BERTH__V1__SCALE_TEMPLATE_REQUEST__INIT;
	bool wait = false, purge = false;
	struct cli_opt opts[] = {
		{ "--wait", CLI_OPT_FLAG, &wait },
		{ "--purge", CLI_OPT_FLAG, &purge },
		{ NULL },
	};
	struct cli_progress *progress;
	struct error verr;
	ProtobufCMessage *reply;
	char *pos[2], label[160];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 2, 2)) != 0)
		return rc;
	if ((rc = cli_check_name(cli, "template", pos[0])) != 0)
		return rc;
	if (cli_parse_uint32(pos[1], &req.instances) != 0)
		return cli_usage_error(cli, cmd, "N must be a number of instances, not '%s'", pos[1]);
	if (validate_scale_instances("instances", req.instances, &verr) != 0)
		return cli_fail_error(cli, &verr);
	req.template_ = pos[0];
	req.purge = purge;
	if (wait) {
		req.wait_healthy = true;
		if (cli->opts.timeout_ms == 0)
			cli->opts.timeout_ms = CLI_SCALE_WAIT_TIMEOUT_MS;
	}
	snprintf(label, sizeof(label), "scaling %s to %u", pos[0], req.instances);
	progress = cli_progress_start(cli, label);
	rc = cli_call(cli, "ScaleTemplate", &req.base, &reply);
	cli_progress_stop(progress);
	if (rc != 0)
		return rc;
	rc = cli->json ? cli_print_json(cli, reply) : print_scale(cli, reply, pos[0]);
	berth_reply_free(reply);
	return rc;
}
