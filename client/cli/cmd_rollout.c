/*
 * cmd_rollout.c - `berth rollout TEMPLATE` (StartRollout, then GetRollout
 * until it ends), `--status TEMPLATE` (GetRollout), `--resume ID` and
 * `--abort ID` (ControlRollout).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "commands.h"

#define POLL_MS 500

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The rollout's line and one line per instance. */
static void
print_rollout(struct cli *cli, const Berth__V1__Rollout *r)
{
	fprintf(cli->out, "rollout %s of %s to revision %u: %s%s%s\n", r->id, r->template_,
	    r->revision, r->state, r->message[0] != '\0' ? ": " : "", r->message);
	for (size_t i = 0; i < r->n_instances; i++) {
		const Berth__V1__RolloutInstance *in = r->instances[i];

		fprintf(cli->out, "  %-32s %-12s %u -> %u%s%s\n", in->service_id, in->state,
		    in->from_revision, in->to_revision, in->message[0] != '\0' ? "  " : "",
		    in->message);
	}
}

static bool
ended(const Berth__V1__Rollout *r)
{
	return strcmp(r->state, "running") != 0;
}

/* The exit outcome of an ended rollout: failed, aborted (and paused) are FAILED_PRECONDITION. */
static int
outcome(struct cli *cli, const Berth__V1__Rollout *r)
{
	if (strcmp(r->state, "done") == 0)
		return 0;
	return cli_fail(cli, BERTH__V1__CODE__FAILED_PRECONDITION, NULL, "rollout %s %s%s%s", r->id,
	    r->state, r->message[0] != '\0' ? ": " : "", r->message);
}

/* Follows a rollout: a line each time an instance changes state, until it ends. */
static int
follow(struct cli *cli, const char *id)
{
	Berth__V1__GetRolloutRequest req = BERTH__V1__GET_ROLLOUT_REQUEST__INIT;
	char seen[256][24];
	size_t n_seen = 0;
	int rc;

	memset(seen, 0, sizeof(seen));
	req.id = (char *)id;
	for (;;) {
		ProtobufCMessage *reply;
		const Berth__V1__Rollout *r;

		if ((rc = cli_call(cli, "GetRollout", &req.base, &reply)) != 0)
			return rc;
		r = ((Berth__V1__GetRolloutResponse *)reply)->rollout;
		if (r == NULL) {
			berth_reply_free(reply);
			return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "GetRollout sent no rollout");
		}
		for (size_t i = 0; i < r->n_instances && i < 256; i++) {
			const Berth__V1__RolloutInstance *in = r->instances[i];

			if (i >= n_seen)
				n_seen = i + 1;
			if (strcmp(seen[i], in->state) == 0)
				continue;
			snprintf(seen[i], sizeof(seen[i]), "%s", in->state);
			if (strcmp(in->state, "pending") == 0)
				continue;
			fprintf(cli->out, "%s %s%s%s\n", in->service_id, in->state,
			    in->message[0] != '\0' ? ": " : "", in->message);
			fflush(cli->out);
		}
		if (ended(r)) {
			if (cli->json)
				cli_print_json(cli, &r->base);
			else
				fprintf(cli->out, "rollout %s %s\n", r->id, r->state);
			rc = outcome(cli, r);
			berth_reply_free(reply);
			return rc;
		}
		berth_reply_free(reply);
		sleep_ms(POLL_MS);
	}
}

int
cli_cmd_rollout(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__StartRolloutRequest req = BERTH__V1__START_ROLLOUT_REQUEST__INIT;
	bool rebuild = false, no_cache = false, detach = false, status = false;
	const char *resume = NULL, *abort_id = NULL, *on_failure = "";
	struct cli_strv build_args = { 0 };
	uint32_t max_parallel = 0, min_ready = 0;
	struct cli_opt opts[] = {
		{ "--max-parallel", CLI_OPT_UINT, &max_parallel },
		{ "--rebuild", CLI_OPT_FLAG, &rebuild },
		{ "--build-arg", CLI_OPT_LIST, &build_args },
		{ "--no-cache", CLI_OPT_FLAG, &no_cache },
		{ "--on-failure", CLI_OPT_STRING, &on_failure },
		{ "--min-ready", CLI_OPT_UINT, &min_ready },
		{ "--detach", CLI_OPT_FLAG, &detach },
		{ "--status", CLI_OPT_FLAG, &status },
		{ "--resume", CLI_OPT_STRING, &resume },
		{ "--abort", CLI_OPT_STRING, &abort_id },
		{ NULL },
	};
	ProtobufCMessage *reply;
	const Berth__V1__Rollout *r;
	char *pos[1] = { NULL };
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 0, 1)) != 0) {
		cli_strv_free(&build_args);
		return rc;
	}
	if (resume != NULL || abort_id != NULL) {
		Berth__V1__ControlRolloutRequest c = BERTH__V1__CONTROL_ROLLOUT_REQUEST__INIT;

		cli_strv_free(&build_args);
		if (pos[0] != NULL || (resume != NULL && abort_id != NULL))
			return cli_usage_error(cli, cmd, "--resume ID and --abort ID take no TEMPLATE");
		c.id = (char *)(resume != NULL ? resume : abort_id);
		c.action = resume != NULL ? "resume" : "abort";
		if ((rc = cli_call(cli, "ControlRollout", &c.base, &reply)) != 0)
			return rc;
		r = ((Berth__V1__ControlRolloutResponse *)reply)->rollout;
		if (cli->json)
			cli_print_json(cli, reply);
		else if (r != NULL)
			print_rollout(cli, r);
		berth_reply_free(reply);
		return resume != NULL && !detach ? follow(cli, c.id) : 0;
	}
	if (pos[0] == NULL) {
		cli_strv_free(&build_args);
		return cli_usage_error(cli, cmd, "TEMPLATE is required");
	}
	if ((rc = cli_check_name(cli, "template", pos[0])) != 0) {
		cli_strv_free(&build_args);
		return rc;
	}
	if (status) {
		Berth__V1__GetRolloutRequest g = BERTH__V1__GET_ROLLOUT_REQUEST__INIT;

		cli_strv_free(&build_args);
		g.template_ = pos[0];
		if ((rc = cli_call(cli, "GetRollout", &g.base, &reply)) != 0)
			return rc;
		r = ((Berth__V1__GetRolloutResponse *)reply)->rollout;
		if (cli->json)
			cli_print_json(cli, reply);
		else if (r != NULL)
			print_rollout(cli, r);
		berth_reply_free(reply);
		return 0;
	}
	if ((build_args.n > 0 || no_cache) && !rebuild) {
		cli_strv_free(&build_args);
		return cli_usage_error(cli, cmd, "--build-arg and --no-cache go with --rebuild");
	}
	req.template_ = pos[0];
	req.max_parallel = max_parallel;
	req.rebuild = rebuild;
	req.build_args = build_args.v;
	req.n_build_args = build_args.n;
	req.no_cache = no_cache;
	req.on_failure = (char *)on_failure;
	req.min_ready_s = min_ready;
	if (rebuild && cli->opts.timeout_ms == 0)
		cli->opts.timeout_ms = 30 * 60 * 1000; /* the build runs within the call */
	rc = cli_call(cli, "StartRollout", &req.base, &reply);
	cli_strv_free(&build_args);
	if (rc != 0)
		return rc;
	r = ((Berth__V1__StartRolloutResponse *)reply)->rollout;
	if (r == NULL) {
		berth_reply_free(reply);
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "StartRollout sent no rollout");
	}
	char id[256];

	snprintf(id, sizeof(id), "%s", r->id);
	if (detach || cli->json) {
		if (cli->json)
			cli_print_json(cli, reply);
		else
			fprintf(cli->out, "%s\n", id);
		berth_reply_free(reply);
		return detach ? 0 : follow(cli, id);
	}
	fprintf(cli->out, "rollout %s of %s to revision %u: %zu instance(s)\n", id, r->template_,
	    r->revision, r->n_instances);
	fflush(cli->out);
	berth_reply_free(reply);
	return follow(cli, id);
}
