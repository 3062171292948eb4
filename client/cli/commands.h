/*
 * commands.h - the commands of `berth`, one cli_command_fn each, by group.
 * commands.c puts them in the table that cli.c dispatches on.
 *
 * Every command parses its words (args.h), checks locally what berthd
 * would refuse anyway (so the error is the same, without a round trip),
 * calls one RPC and prints the reply: as JSON with --json, otherwise for
 * humans (format.h). It returns an outcome (context.h) and frees every
 * reply it got.
 */
#ifndef BERTH_CLI_COMMANDS_H
#define BERTH_CLI_COMMANDS_H

#include "context.h"

/* cmd_template.c: ListTemplates, GetTemplate, PutTemplate, DeleteTemplate. */
int cli_cmd_templates(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_template_show(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_template_add(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_template_rm(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
/* cmd_template.c, revisions: ListTemplateRevisions, UpdateTemplate. */
int cli_cmd_template_history(struct cli *cli, const struct cli_command *cmd, int argc,
    char **argv);
int cli_cmd_template_set(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* cmd_service.c: the RPCs on one service, and ListServices. */
int cli_cmd_launch(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_ls(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_info(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_stop(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_restart(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_rm(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* cmd_logs.c: GetServiceLogs (once or following, one or several services), ExecService. */
int cli_cmd_logs(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_exec(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
/* A GetServiceLogsResponse's text as it came. */
int cli_print_logs(struct cli *cli, const ProtobufCMessage *reply, const void *arg);

/* cmd_rollout.c: StartRollout, GetRollout, ControlRollout. */
int cli_cmd_rollout(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* cmd_scale.c: ScaleTemplate. */
int cli_cmd_scale(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* cmd_spec.c: PlanSpec and ApplySpec from a berth.yaml file. */
int cli_cmd_plan(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_apply(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* cmd_ops.c: berthd itself. */
int cli_cmd_health(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_stats(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_status(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_cleanup(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_shutdown(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* cmd_events.c: WatchEvents long polls (or the pub0 socket with --pub). */
int cli_cmd_events(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* cmd_node.c: ListNodes, SetNodeAvailability (swarm backend). */
int cli_cmd_nodes(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_node_availability(struct cli *cli, const struct cli_command *cmd, int argc,
    char **argv);

#endif
