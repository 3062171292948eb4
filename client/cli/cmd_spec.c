/*
 * cmd_spec.c - `berth plan -f FILE` (PlanSpec) and `berth apply -f FILE`
 * (PlanSpec, then ApplySpec with the plan's fingerprint).
 *
 * The file is read here (spec_file.c); berthd checks it and computes the
 * plan. Each mistake berthd reports names a field path, printed at the
 * file's line: "berth.yaml:12: templates.web.port_range_end: ...".
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "spec_file.h"

/* What `plan` and `apply` were asked. */
struct spec_args {
	const char *file;
	bool prune, yes;
};

static int
parse_spec_args(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
    bool with_yes, struct spec_args *a)
{
	struct cli_opt opts[] = {
		{ "-f", CLI_OPT_STRING, &a->file },
		{ "--file", CLI_OPT_STRING, &a->file },
		{ "--prune", CLI_OPT_FLAG, &a->prune },
		{ with_yes ? "--yes" : NULL, CLI_OPT_FLAG, &a->yes },
		{ NULL },
	};
	int rc;

	memset(a, 0, sizeof(*a));
	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	if (a->file == NULL)
		return cli_usage_error(cli, cmd, "-f FILE is required");
	return 0;
}

/* Every mistake berthd listed (a field of the spec), at its line of the file. */
static void
print_mistakes(struct cli *cli, const struct spec_file *f)
{
	const Berth__V1__ErrorDetail *const *d;
	size_t n = berth_last_error_details(&d);

	for (size_t i = 0; i < n; i++) {
		const char *field = d[i]->field, *text = d[i]->description;
		size_t flen = strlen(field);

		if (strncmp(field, "templates", 9) != 0)
			continue;
		if (flen > 0 && strncmp(text, field, flen) == 0)
			fprintf(cli->err, "%s:%d: %s\n", f->name, spec_file_line(f, field), text);
		else
			fprintf(cli->err, "%s:%d: %s: %s\n", f->name, spec_file_line(f, field), field,
			    text);
	}
}

/* The changes that are changes (unmanaged instances are only reported). */
static size_t
count_changes(const Berth__V1__PlanSpecResponse *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_changes; i++)
		if (strcmp(p->changes[i]->action, "unmanaged") != 0)
			n++;
	return n;
}

/* One change, Terraform style: "+ launch web_instance_3". */
static void
print_change(FILE *out, const Berth__V1__PlanChange *c)
{
	const char *id = c->service_id[0] != '\0' ? c->service_id : c->detail;

	if (strcmp(c->action, "create_template") == 0) {
		fprintf(out, "+ template %s (%s)\n", c->template_, c->detail);
	} else if (strcmp(c->action, "update_template") == 0) {
		fprintf(out, "~ template %s:", c->template_);
		for (size_t i = 0; i < c->n_fields; i++)
			fprintf(out, "%s %s", i ? "," : "", c->fields[i]);
		fprintf(out, "\n    %s\n", c->detail);
	} else if (strcmp(c->action, "launch") == 0) {
		fprintf(out, "+ launch %s\n", id);
	} else if (strcmp(c->action, "remove") == 0) {
		fprintf(out, "- remove %s (%s)\n", c->service_id, c->detail);
	} else if (strcmp(c->action, "rollout") == 0) {
		fprintf(out, "~ rollout %s (%s)\n", c->template_, c->detail);
	} else if (strcmp(c->action, "unmanaged") == 0) {
		fprintf(out, "! unmanaged %s (%s)\n", c->service_id, c->detail);
	} else {
		fprintf(out, "? %s %s %s %s\n", c->action, c->template_, c->service_id, c->detail);
	}
}

static void
print_plan(struct cli *cli, const Berth__V1__PlanSpecResponse *p)
{
	size_t add = 0, change = 0, remove = 0;

	for (size_t i = 0; i < p->n_changes; i++) {
		const char *a = p->changes[i]->action;

		print_change(cli->out, p->changes[i]);
		if (strcmp(a, "create_template") == 0 || strcmp(a, "launch") == 0)
			add++;
		else if (strcmp(a, "remove") == 0)
			remove++;
		else if (strcmp(a, "unmanaged") != 0)
			change++;
	}
	if (count_changes(p) == 0)
		fprintf(cli->out, "No changes.\n");
	else
		fprintf(cli->out, "Plan: %zu to add, %zu to change, %zu to remove.\n", add, change,
		    remove);
}

/* Reads the file and asks berthd for the plan; prints the mistakes when there are. */
static int
plan(struct cli *cli, const struct spec_args *a, struct spec_file *f,
    Berth__V1__PlanSpecResponse **out)
{
	Berth__V1__PlanSpecRequest req = BERTH__V1__PLAN_SPEC_REQUEST__INIT;
	struct error err;
	int rc;

	*out = NULL;
	if (spec_file_load(a->file, f, &err) != 0)
		return cli_fail_error(cli, &err);
	req.spec = f->spec;
	req.prune = a->prune;
	rc = cli_call(cli, "PlanSpec", &req.base, (ProtobufCMessage **)out);
	if (rc != 0)
		print_mistakes(cli, f); /* each detail berthd named, at its line */
	return rc;
}

int
cli_cmd_plan(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__PlanSpecResponse *p;
	struct spec_file f;
	struct spec_args a;
	int rc;

	if ((rc = parse_spec_args(cli, cmd, argc, argv, false, &a)) != 0)
		return rc;
	rc = plan(cli, &a, &f, &p);
	if (rc == 0) {
		if (cli->json)
			rc = cli_print_json(cli, &p->base);
		else
			print_plan(cli, p);
	}
	berth_reply_free((ProtobufCMessage *)p);
	spec_file_free(&f);
	return rc;
}

/* On a terminal: "Apply these changes? [y/N]". */
static int
confirm(struct cli *cli, const struct spec_args *a)
{
	char line[32];

	if (a->yes)
		return 0;
	if (!isatty(STDIN_FILENO))
		return cli_fail(cli, BERTH__V1__CODE__FAILED_PRECONDITION, NULL,
		    "apply asks before it changes anything, and stdin is not a terminal: "
		    "run it with --yes");
	fprintf(cli->out, "Apply these changes? [y/N] ");
	fflush(cli->out);
	if (fgets(line, sizeof(line), stdin) == NULL || (line[0] != 'y' && line[0] != 'Y'))
		return cli_fail(cli, BERTH__V1__CODE__CANCELLED, NULL, "nothing was changed");
	return 0;
}

static void
print_applied(struct cli *cli, const Berth__V1__ApplySpecResponse *r)
{
	for (size_t i = 0; i < r->n_applied; i++) {
		const Berth__V1__PlanChange *c = r->applied[i];

		if (strcmp(c->action, "rollout") == 0 && strncmp(c->detail, "not applied", 11) == 0)
			fprintf(cli->out, "! rollout %s: %s\n", c->template_, c->detail);
		else if (strcmp(c->action, "rollout") == 0)
			fprintf(cli->out, "rollout %s started: %s (%s; berth rollout --status %s)\n",
			    c->template_, c->service_id, c->detail, c->template_);
		else if (strcmp(c->action, "launch") == 0)
			fprintf(cli->out, "launched %s %s\n", c->service_id, c->detail);
		else if (strcmp(c->action, "remove") == 0)
			fprintf(cli->out, "removed %s\n", c->service_id);
		else
			print_change(cli->out, c);
	}
	fprintf(cli->out, "Applied %zu change%s.\n", r->n_applied, r->n_applied == 1 ? "" : "s");
}

int
cli_cmd_apply(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ApplySpecRequest req = BERTH__V1__APPLY_SPEC_REQUEST__INIT;
	Berth__V1__PlanSpecResponse *p = NULL;
	ProtobufCMessage *reply = NULL;
	struct spec_file f;
	struct spec_args a;
	int rc;

	if ((rc = parse_spec_args(cli, cmd, argc, argv, true, &a)) != 0)
		return rc;
	if ((rc = plan(cli, &a, &f, &p)) != 0)
		goto out;
	if (!cli->json)
		print_plan(cli, p);
	if (count_changes(p) == 0) {
		if (cli->json)
			rc = cli_print_json(cli, &p->base);
		goto out;
	}
	if ((rc = confirm(cli, &a)) != 0)
		goto out;
	req.spec = f.spec;
	req.prune = a.prune;
	req.fingerprint = p->fingerprint;
	if ((rc = cli_call(cli, "ApplySpec", &req.base, &reply)) != 0)
		goto out;
	if (cli->json)
		rc = cli_print_json(cli, reply);
	else
		print_applied(cli, (const Berth__V1__ApplySpecResponse *)reply);
out:
	berth_reply_free(reply);
	berth_reply_free((ProtobufCMessage *)p);
	spec_file_free(&f);
	return rc;
}
