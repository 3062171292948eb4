/*
 * cmd_template.c - the template commands: templates, template show, add
 * and rm (ListTemplates, GetTemplate, PutTemplate, DeleteTemplate).
 *
 * Each parses its words, checks locally what berthd would refuse anyway
 * (the same error, without a round trip), calls the RPC and prints the
 * reply: as JSON with --json, otherwise for humans.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "format.h"
#include "json_codec.h"
#include "supervision.h"
#include "template_flags.h"

/* The template as "key: value" lines, one per field (env and constraint: one per entry). */
static void
kv_template(struct cli_table *kv, const Berth__V1__Template *t)
{
	char ports[32];

	cli_format_port_range(ports, sizeof(ports), t->port_range_start, t->port_range_end);
	cli_kv_add(kv, "name", "%s", t->name);
	cli_kv_add(kv, "revision", "%u", t->revision);
	cli_kv_add(kv, "description", "%s", t->description);
	cli_kv_add(kv, "image", "%s", t->image);
	cli_kv_add(kv, "build_context", "%s", t->build_context);
	cli_kv_add(kv, "container_port", "%u", t->container_port);
	cli_kv_add(kv, "port_range", "%s", ports);
	cli_kv_add(kv, "mount_path", "%s", t->mount_path);
	cli_kv_add_each(kv, "env", t->env, t->n_env, "");
	/* berthd answers "KEY=***": values never leave it. */
	cli_kv_add_each(kv, "secret_env", t->secret_env, t->n_secret_env, "");
	cli_kv_add_owned(kv, "command", cli_shell_join(t->command, t->n_command));
	cli_kv_add(kv, "stop_timeout_s", "%u", t->stop_timeout_s);
	cli_kv_add(kv, "cpu_limit", "%g", t->cpu_limit);
	cli_kv_add(kv, "memory_limit_bytes", "%llu", (unsigned long long)t->memory_limit_bytes);
	cli_kv_add(kv, "init", "%s", t->init ? "true" : "false");
	cli_kv_add(kv, "user", "%s", t->user);
	cli_kv_add_owned(kv, "restart",
	    cli_format_restart(t->restart, t->max_restarts, t->restart_window_s));
	cli_kv_add_owned(kv, "health", cli_format_health(t->health));
	cli_kv_add(kv, "replicas", "%u", t->replicas);
	cli_kv_add_each(kv, "constraint", t->constraints, t->n_constraints, "");
	cli_kv_add(kv, "publish_mode", "%s", t->publish_mode);
}

static int
print_templates(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__ListTemplatesResponse *r = (const Berth__V1__ListTemplatesResponse *)reply;
	const bool *quiet = arg;
	struct cli_table *t;

	if (*quiet) {
		for (size_t i = 0; i < r->n_templates; i++)
			fprintf(cli->out, "%s\n", r->templates[i]->name);
		return 0;
	}
	if (r->n_templates == 0) {
		fprintf(cli->out, "No templates.\n");
		return 0;
	}
	if (cli_table_new(&t, 5, CLI_TABLE_GAP) != 0)
		return cli_out_of_memory(cli);
	cli_table_addv(t, "NAME", "IMAGE", "PORTS", "CONTAINER PORT", "DESCRIPTION");
	for (size_t i = 0; i < r->n_templates; i++) {
		const Berth__V1__Template *tp = r->templates[i];
		char ports[32], container_port[16];

		cli_format_port_range(ports, sizeof(ports), tp->port_range_start, tp->port_range_end);
		snprintf(container_port, sizeof(container_port), "%u", tp->container_port);
		cli_table_addv(t, tp->name, tp->image, ports, container_port, tp->description);
	}
	return cli_table_end(cli, t);
}

int
cli_cmd_templates(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ListTemplatesRequest req = BERTH__V1__LIST_TEMPLATES_REQUEST__INIT;
	bool quiet = false;
	struct cli_opt opts[] = {
		{ "-q", CLI_OPT_FLAG, &quiet },
		{ "--quiet", CLI_OPT_FLAG, &quiet },
		{ NULL },
	};
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	return cli_call_and_print(cli, "ListTemplates", &req.base, print_templates, &quiet);
}

static int
print_template(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__GetTemplateResponse *r = (const Berth__V1__GetTemplateResponse *)reply;
	struct cli_table *kv;

	(void)arg;
	if (r->template_ == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no template");
	kv = cli_kv_begin();
	kv_template(kv, r->template_);
	return cli_table_end(cli, kv);
}

int
cli_cmd_template_show(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetTemplateRequest req = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	uint32_t revision = 0;
	struct cli_opt opts[] = {
		{ "--revision", CLI_OPT_UINT, &revision },
		{ NULL },
	};
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 1, 1)) != 0)
		return rc;
	if ((rc = cli_check_name(cli, "name", pos[0])) != 0)
		return rc;
	if (opts[0].seen && revision == 0)
		return cli_usage_error(cli, cmd, "--revision takes a revision number, 1 or more");
	req.name = pos[0];
	req.revision = revision;
	return cli_call_and_print(cli, "GetTemplate", &req.base, print_template, NULL);
}

static int
print_history(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__ListTemplateRevisionsResponse *r =
	    (const Berth__V1__ListTemplateRevisionsResponse *)reply;
	struct cli_table *t;

	(void)arg;
	if (cli_table_new(&t, 3, CLI_TABLE_GAP) != 0)
		return cli_out_of_memory(cli);
	cli_table_addv(t, "REVISION", "CREATED", "SUMMARY");
	for (size_t i = 0; i < r->n_revisions; i++) {
		char number[16];

		snprintf(number, sizeof(number), "%u", r->revisions[i]->revision);
		cli_table_addv(t, number, r->revisions[i]->created_at, r->revisions[i]->summary);
	}
	return cli_table_end(cli, t);
}

int
cli_cmd_template_history(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ListTemplateRevisionsRequest req =
	    BERTH__V1__LIST_TEMPLATE_REVISIONS_REQUEST__INIT;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	if ((rc = cli_check_name(cli, "name", pos[0])) != 0)
		return rc;
	req.name = pos[0];
	return cli_call_and_print(cli, "ListTemplateRevisions", &req.base, print_history, NULL);
}

static int
print_update_template(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__UpdateTemplateResponse *r =
	    (const Berth__V1__UpdateTemplateResponse *)reply;

	(void)arg;
	if (r->template_ == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no template");
	if (r->n_changed == 0) {
		fprintf(cli->out, "Template '%s' unchanged (revision %u).\n", r->template_->name,
		    r->template_->revision);
		return 0;
	}
	fprintf(cli->out, "Template '%s' updated (revision %u):", r->template_->name,
	    r->template_->revision);
	for (size_t i = 0; i < r->n_changed; i++)
		fprintf(cli->out, "%s %s", i > 0 ? "," : "", r->changed[i]);
	fprintf(cli->out, " changed.\n");
	return 0;
}

/*
 * template set: only the fields given change (UpdateTemplate's field mask).
 * The current template is read first, so that what is sent is checked
 * locally as a whole and --health-* timings alone change the check there is.
 */
int
cli_cmd_template_set(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetTemplateRequest get = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	Berth__V1__UpdateTemplateRequest req = BERTH__V1__UPDATE_TEMPLATE_REQUEST__INIT;
	Berth__V1__GetTemplateResponse *current = NULL;
	Berth__V1__Template tpl;
	struct template_flags flags;
	ProtobufCMessage *reply = NULL;
	struct error verr;
	char *pos[1];
	int rc;

	template_flags_init(&flags, NULL);
	if ((rc = cli_args_parse(cli, cmd, argc, argv, flags.opts, pos, 1, 1)) != 0)
		goto out;
	if ((rc = cli_check_name(cli, "name", pos[0])) != 0)
		goto out;
	if (!template_flags_any(&flags)) {
		rc = cli_usage_error(cli, cmd, "name at least one field to change (e.g. --image)");
		goto out;
	}
	get.name = pos[0];
	if ((rc = cli_call(cli, "GetTemplate", &get.base, &reply)) != 0)
		goto out;
	current = (Berth__V1__GetTemplateResponse *)reply;
	if (current->template_ == NULL) {
		rc = cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no template");
		goto out;
	}
	tpl = *current->template_;
	if ((rc = template_flags_apply(cli, cmd, &flags, &tpl)) != 0)
		goto out;
	if (validate_template(&tpl, &verr) != 0) {
		rc = cli_fail_error(cli, &verr);
		goto out;
	}
	req.template_ = &tpl;
	req.fields = (char **)flags.fields;
	req.n_fields = flags.n_fields;
	rc = cli_call_and_print(cli, "UpdateTemplate", &req.base, print_update_template, NULL);
out:
	template_flags_free(&flags);
	berth_reply_free(reply);
	return rc;
}

/*
 * The JSON of a template: a Template object, or what `berth --json template
 * show` prints ({"template": {...}}), taken as it is. The revision is
 * berthd's to give: ignored.
 */
static int
load_template_json(struct cli *cli, const struct cli_command *cmd, const char *path,
    ProtobufCMessage **out)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "r");
	struct error err;
	json_error_t jerr;
	json_t *j, *inner;
	int rc;

	*out = NULL;
	if (f == NULL)
		return cli_usage_error(cli, cmd, "cannot open '%s': %s", path, strerror(errno));
	j = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	if (!is_stdin)
		fclose(f);
	if (j == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INVALID_ARGUMENT, NULL, "%s:%d:%d: %s",
		    is_stdin ? "<stdin>" : path, jerr.line, jerr.column, jerr.text);
	inner = json_object_get(j, "template");
	if (json_is_object(j) && json_object_size(j) == 1 && json_is_object(inner))
		rc = json_codec_to_message(inner, &berth__v1__template__descriptor, out, &err);
	else
		rc = json_codec_to_message(j, &berth__v1__template__descriptor, out, &err);
	json_decref(j);
	if (rc != 0)
		return cli_fail_error(cli, &err);
	((Berth__V1__Template *)*out)->revision = 0;
	return 0;
}

static int
print_put_template(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__PutTemplateResponse *r = (const Berth__V1__PutTemplateResponse *)reply;
	const char *name = arg;

	if (r->template_ != NULL)
		name = r->template_->name;
	fprintf(cli->out, "Template '%s' %s.\n", name, r->created ? "created" : "replaced");
	/* A put replaces the whole template: say what it took away (template set does not). */
	if (r->n_reset_fields > 0) {
		fprintf(cli->out, "Reset to their defaults (set before, not given now):");
		for (size_t i = 0; i < r->n_reset_fields; i++)
			fprintf(cli->out, "%s %s", i > 0 ? "," : "", r->reset_fields[i]);
		fprintf(cli->out, "\n");
	}
	return 0;
}

int
cli_cmd_template_add(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template tpl = BERTH__V1__TEMPLATE__INIT;
	const char *from_json = NULL;
	struct template_flags flags;
	ProtobufCMessage *loaded = NULL;
	struct error verr;
	char *pos[1];
	int rc;

	template_flags_init(&flags, &from_json);
	if ((rc = cli_args_parse(cli, cmd, argc, argv, flags.opts, pos, 0, 1)) != 0)
		goto out;
	if (from_json != NULL) {
		if ((rc = load_template_json(cli, cmd, from_json, &loaded)) != 0)
			goto out;
		/* A shallow copy: overrides below point into argv, `loaded` keeps its own. */
		tpl = *(Berth__V1__Template *)loaded;
	} else if (pos[0] == NULL) {
		rc = cli_usage_error(cli, cmd, "missing NAME");
		goto out;
	} else if (flags.image == NULL) {
		rc = cli_usage_error(cli, cmd, "--image is required");
		goto out;
	}
	if (pos[0] != NULL)
		tpl.name = pos[0];
	if ((rc = template_flags_apply(cli, cmd, &flags, &tpl)) != 0)
		goto out;
	/* Either port implies the other: the common case is "same number". */
	if (tpl.container_port == 0)
		tpl.container_port = tpl.port_range_start;
	if (tpl.port_range_start == 0)
		tpl.port_range_start = tpl.container_port;
	if (validate_template(&tpl, &verr) != 0) {
		rc = cli_fail_error(cli, &verr);
		goto out;
	}
	req.template_ = &tpl;
	rc = cli_call_and_print(cli, "PutTemplate", &req.base, print_put_template, tpl.name);
out:
	template_flags_free(&flags);
	if (loaded != NULL)
		protobuf_c_message_free_unpacked(loaded, NULL);
	return rc;
}

int
cli_cmd_template_rm(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__DeleteTemplateRequest req = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	char *pos[1], done[NAME_MAX_LEN + 32];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	if ((rc = cli_check_name(cli, "name", pos[0])) != 0)
		return rc;
	req.name = pos[0];
	snprintf(done, sizeof(done), "Template '%s' removed.", pos[0]);
	return cli_call_and_print(cli, "DeleteTemplate", &req.base, cli_print_sentence, done);
}
