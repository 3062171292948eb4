/*
 * commands.c - the command table that cli.c dispatches on, in the order
 * `berth --help` lists it, with each command's synopsis, summary and
 * details (the text of `berth COMMAND --help`). The commands themselves
 * are in cmd_template.c, cmd_service.c and cmd_ops.c.
 */
#include "commands.h"

/* The options that describe a template: template add's and template set's. */
#define TEMPLATE_OPTIONS_HELP \
	"  --description TEXT     free text for humans\n" \
	"  --container-port N     port the service listens on inside the container\n" \
	"                         (default: the start of --port-range)\n" \
	"  --port-range START[-END]\n" \
	"                         host ports to allocate from; no END (or \"START+\")\n" \
	"                         means up to 65535 (default: START = container port)\n" \
	"  --mount PATH           where the instance's directory is mounted inside\n" \
	"  --env KEY=VALUE        environment entry; repeat for more\n" \
	"  --secret-env KEY=VALUE secret environment entry: passed to the container,\n" \
	"                         shown as KEY=*** to everyone; KEY=*** keeps the\n" \
	"                         stored value; repeat for more\n" \
	"  --secret-env-file FILE secret entries from FILE, one KEY=VALUE a line\n" \
	"                         ('#' starts a comment line); keeps values out of\n" \
	"                         the shell's history and ps\n" \
	"  --cmd ARG              one word of the command replacing the image's; repeat\n" \
	"  --build-context DIR    absolute directory with a Dockerfile, to build the\n" \
	"                         image when it is missing\n" \
	"  --stop-timeout S       seconds a stop waits before killing (0: 10 s)\n" \
	"  --cpus N               CPU limit per instance, e.g. 0.5 (0: none)\n" \
	"  --memory SIZE          memory limit per instance: bytes, or with k, m or g\n" \
	"  --init                 an init process as PID 1 (Docker's --init): a program\n" \
	"                         that ignores SIGTERM stops at once\n" \
	"  --user UID[:GID]       the user containers run as, in numbers; the instance\n" \
	"                         directory is made theirs\n" \
	"  --restart POLICY       what berthd does when a container stops on its own:\n" \
	"                         no, on-failure (default) or always\n" \
	"  --max-restarts N[/WINDOW]\n" \
	"                         give up after more than N restarts within WINDOW\n" \
	"                         (5/10m, 3/600; s, m or h; default 5/10m)\n" \
	"  --health CHECK         none, tcp (the container's port accepts), http=/PATH\n" \
	"                         (GET answers 2xx or 3xx) or exec='COMMAND ARGS' (run\n" \
	"                         in the container, exit 0; split into words as a\n" \
	"                         shell would, without expansions)\n" \
	"  --health-interval T    time between probes (default 10s)\n" \
	"  --health-timeout T     time one probe may take (default 3s, at most the\n" \
	"                         interval)\n" \
	"  --health-retries N     failures in a row that make it unhealthy (default 3)\n" \
	"  --health-start-period T\n" \
	"                         failures after a start that do not count (default 0)\n" \
	"                         (T: seconds, or a number with s, m or h: 10, 10s, 2m)\n" \
	"  --replicas N           swarm backend: tasks per instance (0: 1)\n" \
	"  --constraint EXPR      swarm backend: placement constraint, e.g.\n" \
	"                         node.role==worker; repeat for more\n" \
	"  --publish-mode MODE    swarm backend: ingress (default) or host\n"

/* The details of node drain, pause and activate. */
#define NODE_AVAILABILITY_HELP \
	"Swarm backend only (berthd --backend swarm): the engine backend answers\n" \
	"FAILED_PRECONDITION (exit 2). NODE: the node's id, a unique prefix of it,\n" \
	"or its host name. Needs the admin role. Prints the node after the change.\n"

const struct cli_command cli_commands[] = {
	{ "health", NULL, "health", "Is berthd serving, is Docker up? (Health)",
	    "Prints berthd's serving status, version and whether Docker answers.\n"
	    "Exits 7 (as UNAVAILABLE) when berthd answers but is not SERVING.\n",
	    cli_cmd_health },
	{ "templates", NULL, "templates [-q]", "List the templates (ListTemplates)",
	    "Options:\n"
	    "  -q, --quiet   print only the template names, one per line (--json wins)\n",
	    cli_cmd_templates },
	{ "template", "show", "template show NAME [--revision N]", "Show one template (GetTemplate)",
	    "Options:\n"
	    "  --revision N   the template as it was at revision N (see template history)\n"
	    "\n"
	    "With --json, the output is accepted as it is by template add --from-json.\n",
	    cli_cmd_template_show },
	{ "template", "add", "template add NAME --image IMAGE [OPTIONS]",
	    "Create or replace a template (PutTemplate)",
	    "Also: berth template add [NAME] --from-json FILE [OPTIONS]\n"
	    "\n"
	    "Options:\n"
	    "  --image IMAGE          Docker image reference (required without --from-json)\n"
	    TEMPLATE_OPTIONS_HELP
	    "  --from-json FILE       read the Template as JSON with the proto's field\n"
	    "                         names ('-' for stdin); NAME and the options above,\n"
	    "                         when given, override its fields\n"
	    "\n"
	    "Says whether the template was created or replaced, and which fields the\n"
	    "template had that this replacement reset (template set changes only the\n"
	    "fields given). A change to anything but the description makes a new\n"
	    "revision; services made from an older one show as outdated in ls.\n",
	    cli_cmd_template_add },
	{ "template", "set", "template set NAME OPTIONS", "Change some fields of a template (UpdateTemplate)",
	    "Only the fields the options name change; the rest stays as it is, e.g.\n"
	    "  berth template set web --image web:v2 --env MODE=fast\n"
	    "(--env, --cmd, --constraint and the secret options replace the whole list).\n"
	    "\n"
	    "Options:\n"
	    "  --image IMAGE          Docker image reference\n"
	    TEMPLATE_OPTIONS_HELP
	    "\n"
	    "Says which fields changed and the template's revision.\n",
	    cli_cmd_template_set },
	{ "template", "history", "template history NAME",
	    "List a template's revisions (ListTemplateRevisions)",
	    "Newest first: the revision, when it was made and what changed from the one\n"
	    "before (secret values are never shown).\n",
	    cli_cmd_template_history },
	{ "template", "rm", "template rm NAME", "Delete a template (DeleteTemplate)",
	    "Fails with FAILED_PRECONDITION while services of the template exist.\n",
	    cli_cmd_template_rm },
	{ "launch", NULL, "launch TEMPLATE [NAME] [--port N] [--restart POLICY] [--wait]",
	    "Launch an instance of a template (LaunchService)",
	    "Options:\n"
	    "  NAME               instance name (default: the lowest free instance_<N>)\n"
	    "  --port N           host port (default: the first free port of the\n"
	    "                     template's range)\n"
	    "  --restart POLICY   no, on-failure or always: this service's restart policy\n"
	    "                     instead of the template's\n"
	    "  --wait             answer once the service is healthy (with a health check)\n"
	    "                     or has run its start period without a restart; else\n"
	    "                     fail (exit 2) with the last probe's error and log lines,\n"
	    "                     keeping the service. Waits up to --timeout (default\n"
	    "                     here: 120 s)\n"
	    "\n"
	    "Prints the service id, its URL and port, and the ports passed over. While\n"
	    "the call runs (building or pulling the image can take minutes), a terminal\n"
	    "shows the time elapsed on stderr.\n",
	    cli_cmd_launch },
	{ "ls", NULL, "ls [--template T] [--status S] [-q] [--watch [SEC]]",
	    "List services (ListServices)",
	    "Options:\n"
	    "  --template T    only services of template T\n"
	    "  --status S      only services in registry status S (running, stopped, ...)\n"
	    "  -q, --quiet     print only the service ids, one per line (--json wins)\n"
	    "  --watch [SEC]   list again every SEC seconds (default: 2) until Ctrl-C;\n"
	    "                  in place on a terminal, else snapshots separated by a\n"
	    "                  blank line\n"
	    "\n"
	    "HEALTH is the health check's verdict (- without one); RESTARTS counts the\n"
	    "restarts berthd made on its own, with \"backoff\" while one is due and\n"
	    "\"failed\" once it gave up.\n",
	    cli_cmd_ls },
	{ "info", NULL, "info ID", "Show a service and its container's state (GetService)", NULL,
	    cli_cmd_info },
	{ "stop", NULL, "stop ID... [--template T] [--timeout S]",
	    "Stop services, keeping their ports (StopService)",
	    "Options:\n"
	    "  --timeout S    seconds to wait before killing (default: the template's)\n"
	    "  --template T   also every service of template T\n"
	    "\n"
	    "With several ids (or --template), each is stopped, in parallel, and its\n"
	    "outcome printed on a line of its own; one failure does not stop the\n"
	    "others, and the exit status is the first failure's.\n",
	    cli_cmd_stop },
	{ "restart", NULL, "restart ID... [--template T]",
	    "Start or restart services (RestartService)",
	    "Options:\n"
	    "  --template T   also every service of template T\n"
	    "\n"
	    "Several ids as with stop: one line each, the first failure's exit status.\n",
	    cli_cmd_restart },
	{ "rm", NULL, "rm ID... [--template T] [--keep-container] [--purge]",
	    "Remove services (RemoveService)",
	    "Options:\n"
	    "  --keep-container   leave the containers in Docker\n"
	    "  --purge            also delete the instances' project directories\n"
	    "  --template T       also every service of template T\n"
	    "\n"
	    "Several ids as with stop: one line each, the first failure's exit status.\n",
	    cli_cmd_rm },
	{ "logs", NULL,
	    "logs ID... [-f] [--since T] [--timestamps] [--stdout|--stderr] [--tail N] "
	    "[--template T]",
	    "Print services' log lines, or follow them (GetServiceLogs)",
	    "Options:\n"
	    "  -f, --follow       go on printing new lines until Ctrl-C or until every\n"
	    "                     container has stopped (long polls with a cursor:\n"
	    "                     no line lost or repeated)\n"
	    "  --since T          only lines from T on: RFC 3339\n"
	    "                     (2026-12-05T10:00:00Z), Unix seconds, or 30s, 10m, 2h\n"
	    "                     ago; without --tail every line since T\n"
	    "  -t, --timestamps   prefix each line with Docker's timestamp\n"
	    "  --stdout           only the standard output\n"
	    "  --stderr           only the standard error\n"
	    "  --tail N           number of lines from the end (default: 100)\n"
	    "  --template T       also every service of template T\n"
	    "\n"
	    "Several services (or --template) are printed like docker compose logs:\n"
	    "each line prefixed with \"name | \" (coloured on a terminal unless\n"
	    "NO_COLOR is set), read once merged by time, followed as lines come.\n"
	    "With --json, each answer as one JSON object per line.\n",
	    cli_cmd_logs },
	{ "exec", NULL, "exec ID [--timeout S] -- CMD [ARG]...",
	    "Run a command in a service's container (ExecService)",
	    "Options:\n"
	    "  --timeout S   stop waiting after S seconds (default 30, at most 300); the\n"
	    "                command may go on running (Docker cannot stop it)\n"
	    "\n"
	    "Runs CMD with its arguments (no shell, no TTY, no stdin) and prints its\n"
	    "standard output and error on berth's own; exits with the command's exit\n"
	    "status. Each stream keeps at most 1 MiB (a note on stderr says so). Needs\n"
	    "the operator role.\n",
	    cli_cmd_exec },
	{ "scale", NULL, "scale TEMPLATE N [--wait] [--purge]",
	    "Run N instances of a template (ScaleTemplate)",
	    "Options:\n"
	    "  --wait    answer once every launched instance is healthy (as launch\n"
	    "            --wait; waits up to --timeout, default here 120 s)\n"
	    "  --purge   also delete the directories of the instances removed\n"
	    "\n"
	    "N counts the template's instances berthd keeps running (desired state\n"
	    "running), named ones included; stopped ones do not count and are left\n"
	    "alone. Scaling up launches instance_<N>s in parallel; scaling down\n"
	    "removes the highest-numbered first and never a named instance (named\n"
	    "ones alone above N: exit 2). Prints each instance launched or removed,\n"
	    "then the count. Calls on one template run one after the other; the\n"
	    "last one's N holds.\n",
	    cli_cmd_scale },
	{ "rollout", NULL,
	    "rollout TEMPLATE [--max-parallel N] [--rebuild [--build-arg K=V]... [--no-cache]] "
	    "[--on-failure rollback|pause] [--min-ready S] [--detach]",
	    "Replace a template's outdated instances (StartRollout)",
	    "Also: berth rollout --status TEMPLATE; berth rollout --resume ID | --abort ID\n"
	    "\n"
	    "Options:\n"
	    "  --max-parallel N     instances replaced at once (default 1)\n"
	    "  --rebuild            build the image again from the template's build\n"
	    "                       context first; a new image makes a new revision; a\n"
	    "                       failed build touches nothing\n"
	    "  --build-arg K=V      a build argument for --rebuild; repeat for more\n"
	    "  --no-cache           build without Docker's cache (with --rebuild)\n"
	    "  --on-failure WHAT    rollback (default): the failed instance goes back to\n"
	    "                       its old container and the rollout stops; pause: the\n"
	    "                       rollout waits for --resume or --abort\n"
	    "  --min-ready S        without a health check, seconds a new container must\n"
	    "                       run without a restart (default 5)\n"
	    "  --detach             print the rollout's id and return at once\n"
	    "  --status             the template's newest rollout, per instance\n"
	    "  --resume ID          go on with a paused rollout (and follow it)\n"
	    "  --abort ID           end a rollout (a running one once the instances\n"
	    "                       in flight are done)\n"
	    "\n"
	    "Each outdated instance (its revision is not the template's current one) is\n"
	    "replaced on the same port, name and directory: the old container is set\n"
	    "aside as <service_id>.old and stopped, the new one created and started,\n"
	    "and once it is healthy (or running steadily) the old one is removed.\n"
	    "With berthd --backend swarm, the service's spec is updated instead and\n"
	    "Swarm replaces its tasks one by one, rolling back by itself when a new\n"
	    "one fails or turns unhealthy.\n"
	    "Follows the rollout, a line per instance, and exits 2 when it fails.\n",
	    cli_cmd_rollout },
	{ "plan", NULL, "plan -f FILE [--prune]",
	    "Show what applying a spec file would change (PlanSpec)",
	    "Options:\n"
	    "  -f, --file FILE   the spec (YAML: templates: NAME: fields as in the\n"
	    "                    proto, and instances: N or [names]; absent: 1)\n"
	    "  --prune           also remove instances of the spec's templates that\n"
	    "                    it does not name\n"
	    "\n"
	    "Prints one line per change (+ template, ~ template: fields, + launch,\n"
	    "- remove, ~ rollout, ! unmanaged) or \"No changes.\". Every mistake in\n"
	    "the file is printed at its line (FILE:LINE: path: what); exit 2.\n",
	    cli_cmd_plan },
	{ "apply", NULL, "apply -f FILE [--prune] [--yes]",
	    "Make a spec file so: its plan, then ApplySpec",
	    "Options:\n"
	    "  -f, --file FILE   the spec, as for plan\n"
	    "  --prune           also remove instances the spec does not name\n"
	    "  --yes             do not ask (required when stdin is not a terminal)\n"
	    "\n"
	    "Prints the plan, asks on a terminal, then applies exactly that plan:\n"
	    "if anything changed in between, berthd refuses (exit 2) and nothing is\n"
	    "done. Prints each change made.\n",
	    cli_cmd_apply },
	{ "stats", NULL, "stats", "Service counts and used ports (GetStats)", NULL, cli_cmd_stats },
	{ "status", NULL, "status [--watch [SEC]]", "Statistics and every service (GetStatus)",
	    "Options:\n"
	    "  --watch [SEC]   show again every SEC seconds (default: 2) until Ctrl-C;\n"
	    "                  in place on a terminal, else snapshots separated by a\n"
	    "                  blank line\n",
	    cli_cmd_status },
	{ "cleanup", NULL, "cleanup [--failed | --status | --force]",
	    "Remove dead and orphan containers (AutoCleanup)",
	    "Options:\n"
	    "  --failed   also remove the services berthd gave up restarting\n"
	    "             (supervisor failed); those waiting for a restart are kept\n"
	    "  --status   only show what a cleanup would touch (GetCleanupStatus)\n"
	    "  --force    stop and remove every container of this berthd and clear\n"
	    "             the registry (ForceCleanupAll)\n",
	    cli_cmd_cleanup },
	{ "shutdown", NULL, "shutdown", "Shut berthd down gracefully (Shutdown)", NULL,
	    cli_cmd_shutdown },
	{ "events", NULL,
	    "events [--since-sequence N] [--service ID] [--template T] [--count N] [--wait S] "
	    "[--pub]",
	    "Follow berthd's events as they happen (WatchEvents)",
	    "Options:\n"
	    "  --since-sequence N   first the events kept after sequence N (0: every\n"
	    "                       one kept), then new ones; default: from now\n"
	    "  --service ID         only the events of this service\n"
	    "  --template T         only the events of this template's services\n"
	    "  --count N            stop after N events (default: follow until interrupted)\n"
	    "  --wait S             give up after S seconds without an event (exit 7)\n"
	    "  --pub                subscribe to the pub0 events socket instead (local\n"
	    "                       consumers; a subscriber that falls behind loses events)\n"
	    "\n"
	    "Long polls over the RPC itself, so it works on every transport and with\n"
	    "tokens (viewer role). After an error it reconnects with its last sequence\n"
	    "(waiting up to 10 s between tries); when berthd no longer keeps the next\n"
	    "events it says how many were lost and goes on from the oldest it keeps.\n"
	    "One line per event: time, sequence, type, service, status, then the\n"
	    "detail. With --json, one JSON object per line (NDJSON).\n",
	    cli_cmd_events },
	{ "nodes", NULL, "nodes [-q]", "The swarm's nodes (ListNodes)",
	    "Options:\n"
	    "  -q, --quiet   only the host names, one a line\n"
	    "\n"
	    "Swarm backend only (berthd --backend swarm): the engine backend answers\n"
	    "FAILED_PRECONDITION (exit 2).\n"
	    "\n"
	    "One line per node, by host name: HOSTNAME (* marks the node berthd's\n"
	    "Docker engine runs on), ID (12 characters), ADDRESS, ROLE, AVAILABILITY\n"
	    "(active, pause, drain), STATE, TASKS (tasks Swarm wants running there\n"
	    "that run or are on their way, berth's or not) and MANAGER (leader,\n"
	    "reachable, unreachable; - for workers).\n",
	    cli_cmd_nodes },
	{ "node", "drain", "node drain NODE",
	    "Move a node's tasks elsewhere; place none there (SetNodeAvailability)",
	    NODE_AVAILABILITY_HELP, cli_cmd_node_availability },
	{ "node", "pause", "node pause NODE",
	    "Keep a node's tasks but place no new ones (SetNodeAvailability)",
	    NODE_AVAILABILITY_HELP, cli_cmd_node_availability },
	{ "node", "activate", "node activate NODE",
	    "Let Swarm place tasks on a node again (SetNodeAvailability)",
	    NODE_AVAILABILITY_HELP "Tasks moved away by a drain are not moved back.\n",
	    cli_cmd_node_availability },
	{ "help", NULL, "help [COMMAND]", "Show this text, or the usage of one command", NULL,
	    NULL },
};

const size_t cli_commands_count = sizeof(cli_commands) / sizeof(cli_commands[0]);
