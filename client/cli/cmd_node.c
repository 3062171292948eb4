/*
 * cmd_node.c - `berth nodes` (ListNodes) and `berth node drain|pause|activate
 * NODE` (SetNodeAvailability): the swarm backend's nodes.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "format.h"
#include "table.h"

/* "abcdef012345": the first 12 characters, as docker node ls shows ids. */
static void
short_id(char *buf, size_t size, const char *id)
{
	snprintf(buf, size, "%.12s", id != NULL ? id : "");
}

/* The node table; a '*' after the host name marks berthd's own engine. */
static int
print_nodes(struct cli *cli, Berth__V1__Node *const *nodes, size_t n)
{
	struct cli_table *t;
	bool any_self = false;
	int rc;

	if (n == 0) {
		fprintf(cli->out, "No nodes.\n");
		return 0;
	}
	if (cli_table_new(&t, 8, CLI_TABLE_GAP) != 0)
		return cli_out_of_memory(cli);
	cli_table_addv(t, "HOSTNAME", "ID", "ADDRESS", "ROLE", "AVAILABILITY", "STATE", "TASKS",
	    "MANAGER");
	for (size_t i = 0; i < n; i++) {
		const Berth__V1__Node *nd = nodes[i];
		char host[160], id[16], tasks[16];

		snprintf(host, sizeof(host), "%s%s", cli_dash_if_empty(nd->hostname),
		    nd->self ? " *" : "");
		short_id(id, sizeof(id), nd->id);
		snprintf(tasks, sizeof(tasks), "%u", nd->tasks);
		any_self |= nd->self;
		cli_table_addv(t, host, cli_dash_if_empty(id), cli_dash_if_empty(nd->address),
		    cli_dash_if_empty(nd->role), cli_dash_if_empty(nd->availability),
		    cli_dash_if_empty(nd->state), tasks, cli_dash_if_empty(nd->manager_status));
	}
	if ((rc = cli_table_end(cli, t)) != 0 || !any_self)
		return rc;
	fprintf(cli->out, "* the node berthd's Docker engine runs on\n");
	return 0;
}

static int
print_list_nodes(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__ListNodesResponse *r = (const Berth__V1__ListNodesResponse *)reply;
	const bool *quiet = arg;

	if (*quiet) {
		for (size_t i = 0; i < r->n_nodes; i++)
			fprintf(cli->out, "%s\n", r->nodes[i]->hostname);
		return 0;
	}
	return print_nodes(cli, r->nodes, r->n_nodes);
}

int
cli_cmd_nodes(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ListNodesRequest req = BERTH__V1__LIST_NODES_REQUEST__INIT;
	bool quiet = false;
	struct cli_opt opts[] = {
		{ "-q", CLI_OPT_FLAG, &quiet },
		{ "--quiet", CLI_OPT_FLAG, &quiet },
		{ NULL },
	};
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	return cli_call_and_print(cli, "ListNodes", &req.base, print_list_nodes, &quiet);
}

static int
print_node_set(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__SetNodeAvailabilityResponse *r =
	    (const Berth__V1__SetNodeAvailabilityResponse *)reply;

	(void)arg;
	if (r->node == NULL) {
		fprintf(cli->out, "done\n");
		return 0;
	}
	return print_nodes(cli, &r->node, 1);
}

/* The availability a subcommand asks for: drain, pause, activate -> active. */
static const char *
availability_of(const char *sub)
{
	return strcmp(sub, "activate") == 0 ? "active" : sub;
}

int
cli_cmd_node_availability(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__SetNodeAvailabilityRequest req = BERTH__V1__SET_NODE_AVAILABILITY_REQUEST__INIT;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	if (pos[0][0] == '\0')
		return cli_usage_error(cli, cmd, "NODE must name a node (id, id prefix or host name)");
	req.node = pos[0];
	req.availability = (char *)availability_of(cmd->sub);
	return cli_call_and_print(cli, "SetNodeAvailability", &req.base, print_node_set, NULL);
}
