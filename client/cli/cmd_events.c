/*
 * cmd_events.c - `berth events`: berthd's events as they happen.
 *
 * By default through WatchEvents long polls, which work on every transport
 * and with tokens: from "now" (the newest sequence berthd keeps) or after
 * --since-sequence, each answer's cursor the next call's after_sequence.
 * A failure that may pass (berthd restarting, the network) is retried with
 * the same cursor after a pause that doubles up to RETRY_MAX_MS; events
 * berthd no longer keeps (OUT_OF_RANGE) are reported as lost and the
 * stream goes on from the oldest kept. --pub subscribes to the pub0
 * socket instead, as before (local consumers).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "clock.h"
#include "commands.h"

#define WATCH_WAIT_MS 25000
#define WATCH_MARGIN_MS 10000
#define WATCH_MAX_EVENTS 100
#define WATCH_QUICK_MS 200 /* an empty answer sooner: berthd did not hold the call */
#define WATCH_PAUSE_MS 250
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 10000

/* One event: a JSON line, or time, type, service, status and detail. */
static int
print_event(struct cli *cli, const Berth__V1__Event *ev)
{
	const ProtobufCEnumValue *type;

	if (cli->json)
		return cli_print_json_line(cli, &ev->base);
	type = protobuf_c_enum_descriptor_get_value(&berth__v1__event__type__descriptor, ev->type);
	fprintf(cli->out, "%s  %-18s  %s%s%s  %s\n", ev->time, type ? type->name : "?",
	    ev->service_id[0] ? ev->service_id : "-", ev->status[0] ? " status=" : "", ev->status,
	    ev->message);
	fflush(cli->out);
	return 0;
}

/* The pub0 subscriber (--pub): what `berth events` always did before WatchEvents. */
static int
events_pub(struct cli *cli, uint32_t count, uint32_t wait_s)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *health = NULL;
	berth_events *events;
	uint32_t seen = 0;
	int rc;

	/* Connect through the normal path so errors read like every other command's. */
	if ((rc = cli_call(cli, "Health", &req.base, &health)) != 0)
		return rc;
	berth_reply_free(health);
	if ((rc = berth_events_open(&events, cli->client, NULL, &cli->status)) != 0)
		return rc;
	while (count == 0 || seen < count) {
		Berth__V1__Event *ev;

		rc = berth_events_next(events, &ev, wait_s ? (int)wait_s * 1000 : -1, &cli->status);
		if (rc != 0)
			break;
		seen++;
		rc = print_event(cli, ev);
		berth_reply_free(&ev->base);
		if (rc != 0)
			break;
	}
	berth_events_close(events);
	return rc;
}

/* The oldest sequence berthd keeps, from an OUT_OF_RANGE's ErrorDetail; 0 when absent. */
static uint64_t
oldest_kept(void)
{
	const Berth__V1__ErrorDetail *const *details;
	size_t n = berth_last_error_details(&details);

	for (size_t i = 0; i < n; i++) {
		const char *d = details[i]->description;
		if (d != NULL && strncmp(d, "oldest_sequence=", 16) == 0)
			return strtoull(d + 16, NULL, 10);
	}
	return 0;
}

/* A failure worth retrying with the same cursor. */
static bool
transient(int code)
{
	return code == BERTH__V1__CODE__UNAVAILABLE || code == BERTH__V1__CODE__DEADLINE_EXCEEDED ||
	    code == BERTH__V1__CODE__CANCELLED || code == BERTH__V1__CODE__ABORTED;
}

/* The long-poll loop; count 0: forever, wait_s 0: no limit on the silence. */
static int
events_watch(struct cli *cli, Berth__V1__WatchEventsRequest *req, bool from_now,
    uint32_t count, uint32_t wait_s)
{
	int64_t retry_ms = RETRY_FIRST_MS, last_event = clock_monotonic_ms();
	uint32_t seen = 0, timeout = WATCH_WAIT_MS + WATCH_MARGIN_MS;
	bool retrying = false;
	int rc;

	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if (cli->opts.timeout_ms > timeout)
		timeout = cli->opts.timeout_ms;
	berth_set_timeout(cli->client, timeout); /* above the long poll's wait */
	if (from_now) {
		Berth__V1__WatchEventsRequest probe = *req;
		Berth__V1__WatchEventsResponse *r = NULL;

		probe.after_sequence = 0;
		probe.max_events = 1;
		probe.wait_ms = 0;
		if ((rc = cli_call(cli, "WatchEvents", &probe.base, (ProtobufCMessage **)&r)) != 0)
			goto failed;
		req->after_sequence = r->last_sequence;
		berth_reply_free(&r->base);
	}
	while (count == 0 || seen < count) {
		Berth__V1__WatchEventsResponse *r = NULL;
		int64_t started = clock_monotonic_ms();

		req->wait_ms = WATCH_WAIT_MS;
		req->max_events = WATCH_MAX_EVENTS;
		if (wait_s != 0) {
			int64_t left = last_event + (int64_t)wait_s * 1000 - started;
			if (left <= 0)
				return cli_fail(cli, BERTH__V1__CODE__DEADLINE_EXCEEDED, NULL,
				    "no event within %u s", wait_s);
			if (left < req->wait_ms)
				req->wait_ms = (uint32_t)left;
		}
		rc = berth_call(cli->client, "WatchEvents", &req->base, (ProtobufCMessage **)&r,
		    &cli->status);
		if (rc == BERTH__V1__CODE__OUT_OF_RANGE &&
		    oldest_kept() > req->after_sequence + 1) {
			uint64_t oldest = oldest_kept();
			fprintf(cli->err,
			    "berth: %" PRIu64 " events were lost (berthd keeps them from "
			    "sequence %" PRIu64 " on); going on from there\n",
			    oldest - req->after_sequence - 1, oldest);
			fflush(cli->err);
			req->after_sequence = oldest - 1;
			continue;
		}
		if (rc != 0) {
			if (!transient(rc))
				goto failed;
			if (!retrying)
				fprintf(cli->err, "berth: %s: %s; trying again\n",
				    berth_code_name(rc),
				    cli->status.message);
			fflush(cli->err);
			retrying = true;
			clock_sleep_ms(retry_ms);
			retry_ms = retry_ms * 2 < RETRY_MAX_MS ? retry_ms * 2 : RETRY_MAX_MS;
			continue;
		}
		if (retrying)
			fprintf(cli->err, "berth: connected again\n");
		retrying = false;
		retry_ms = RETRY_FIRST_MS;
		for (size_t i = 0; i < r->n_events && (count == 0 || seen < count); i++) {
			if ((rc = print_event(cli, r->events[i])) != 0) {
				berth_reply_free(&r->base);
				return rc;
			}
			seen++;
			last_event = clock_monotonic_ms();
		}
		if (r->cursor > req->after_sequence)
			req->after_sequence = r->cursor;
		if (r->n_events == 0 && clock_monotonic_ms() - started < WATCH_QUICK_MS)
			clock_sleep_ms(WATCH_PAUSE_MS);
		berth_reply_free(&r->base);
	}
	return 0;
failed:
	if (rc == BERTH__V1__CODE__UNIMPLEMENTED)
		snprintf(cli->status.message, sizeof(cli->status.message),
		    "this berthd has no WatchEvents (older version); use berth events --pub");
	return rc;
}

/* Follows berthd's events until interrupted, or --count N have arrived. */
int
cli_cmd_events(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
	uint32_t count = 0, wait_s = 0;
	const char *since = NULL, *service = NULL, *template_name = NULL;
	bool pub = false;
	struct cli_opt opts[] = {
		{ "--count", CLI_OPT_UINT, &count },
		{ "--wait", CLI_OPT_UINT, &wait_s },
		{ "--since-sequence", CLI_OPT_STRING, &since },
		{ "--service", CLI_OPT_STRING, &service },
		{ "--template", CLI_OPT_STRING, &template_name },
		{ "--pub", CLI_OPT_FLAG, &pub },
		{ NULL },
	};
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	if (pub) {
		if (since != NULL || service != NULL || template_name != NULL)
			return cli_usage_error(cli, cmd,
			    "--pub takes no --since-sequence, --service or --template");
		return events_pub(cli, count, wait_s);
	}
	if (since != NULL) {
		char *end;
		if (since[0] < '0' || since[0] > '9' ||
		    (req.after_sequence = strtoull(since, &end, 10), *end != '\0'))
			return cli_usage_error(cli, cmd, "--since-sequence takes a number");
	}
	req.service_id = (char *)(service != NULL ? service : "");
	req.template_ = (char *)(template_name != NULL ? template_name : "");
	return events_watch(cli, &req, since == NULL, count, wait_s);
}
