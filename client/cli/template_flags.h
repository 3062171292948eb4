/*
 * template_flags.h - the options that describe a template (--image, --env,
 * --health, ...), shared by `template add` (a whole template, PutTemplate)
 * and `template set` (only the fields given, UpdateTemplate).
 *
 * template_flags_init builds the option table for cli_args_parse; after
 * parsing, template_flags_apply writes the options given into a Template
 * and says which of its fields (proto names) they set. Strings point into
 * argv or into the struct, which must outlive the Template's use;
 * template_flags_free releases what the struct owns (secret values are
 * wiped first).
 */
#ifndef BERTH_CLI_TEMPLATE_FLAGS_H
#define BERTH_CLI_TEMPLATE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "berth/v1/berth.pb-c.h"

/* Room for every option of the table, --from-json and the end. */
#define TEMPLATE_FLAGS_MAX 32
/* Room for every field of Template. */
#define TEMPLATE_FIELDS_MAX 32

struct template_flags {
	const char *image, *description, *mount, *build_context, *port_range, *cpus, *memory;
	const char *publish_mode, *secret_file, *user;
	const char *restart, *max_restarts, *health;
	const char *health_interval, *health_timeout, *health_retries, *health_start_period;
	bool init;
	uint32_t container_port, stop_timeout, replicas;
	struct cli_strv env, command, constraints, secret_env;
	/* What the struct owns: --secret-env-file's lines, --health's words and check. */
	struct secret_list {
		char **v;
		size_t n;
		size_t n_owned; /* the first n_owned strings are malloc'ed */
	} secrets;
	Berth__V1__HealthCheck check;
	char **health_words;
	struct cli_opt opts[TEMPLATE_FLAGS_MAX];
	/* After template_flags_apply: the fields the options given set, by proto name. */
	const char *fields[TEMPLATE_FIELDS_MAX];
	size_t n_fields;
};

/*
 * Zeroes f and builds f->opts; with from_json not NULL, "--from-json"
 * (add's) is one of the options, its value stored there.
 */
void template_flags_init(struct template_flags *f, const char **from_json);

/*
 * Writes the options given into tpl and fills f->fields. A --health* timing
 * alone changes the check tpl has. Returns 0 or CLI_USAGE (printed);
 * ranges are left to validate_template.
 */
int template_flags_apply(struct cli *cli, const struct cli_command *cmd, struct template_flags *f,
    Berth__V1__Template *tpl);

/* Whether any option was given. */
bool template_flags_any(const struct template_flags *f);

void template_flags_free(struct template_flags *f);

#endif
