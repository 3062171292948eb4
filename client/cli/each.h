/*
 * each.h - one RPC on several services: `berth stop a b c`, `restart`,
 * `rm`, and `--template T` for all of a template's services.
 *
 * The calls run in parallel (at most CLI_EACH_PARALLEL at once, on the one
 * thread-safe berth_client); the outcomes are printed in the order of the
 * ids, one line each: a success as the single-id command prints it (or as
 * JSON with --json), a failure on stderr as "berth: ID: CODE: message".
 * One failure does not stop the others.
 */
#ifndef BERTH_CLI_EACH_H
#define BERTH_CLI_EACH_H

#include <stddef.h>

#include "context.h"

#define CLI_EACH_PARALLEL 8

/*
 * Adds the ids of every service of `template_name` (ListServices) to
 * ids[*n..]: *ids grows (realloc; the caller frees it, the strings live
 * in *reply, which the caller frees with berth_reply_free). Returns an
 * outcome.
 */
int cli_each_template_ids(struct cli *cli, const char *template_name, char ***ids, size_t *n,
    ProtobufCMessage **reply);

/*
 * Calls `method` once per id with a copy of `request` whose service_id is
 * the id, and prints each outcome with `print(cli, reply, id)`. Returns
 * 0 when every call succeeded, else the first failure's code, with
 * cli->status saying how many failed.
 */
int cli_each_call(struct cli *cli, const char *method, const ProtobufCMessage *request,
    char *const *ids, size_t n, cli_print_fn print);

#endif
