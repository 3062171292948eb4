/*
 * events_rpc.c - WatchEvents: berth's events as a long poll over the RPC.
 *
 * Answers at once when events after after_sequence are kept (or when the
 * client asks not to wait), else parks the call on CALL_WAKE_EVENTS: the
 * event sink wakes it, it runs again and answers what arrived. Its last
 * run, at the end of the wait, answers an empty page with the cursor.
 */
#include <inttypes.h>
#include <stdio.h>

#include "api/api.h"
#include "clock.h"
#include "core/berthd.h"
#include "core/event_log.h"

#define MAX_EVENTS_DEFAULT 100
#define MAX_EVENTS_CAP 1000
#define WAIT_CAP_MS 30000
/*
 * A wait ends this long before the call's deadline (at most a tenth of the
 * time left), so the empty answer reaches the client before it gives up.
 */
#define DEADLINE_MARGIN_MS 250

int
rpc_watch_events(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__WatchEventsRequest *in = (const Berth__V1__WatchEventsRequest *)req;
	Berth__V1__WatchEventsResponse *resp = (Berth__V1__WatchEventsResponse *)reply;
	struct berthd *d = call_berthd(call);
	size_t max = in->max_events == 0      ? MAX_EVENTS_DEFAULT
	    : in->max_events > MAX_EVENTS_CAP ? MAX_EVENTS_CAP
					      : in->max_events;
	int64_t wait = in->wait_ms > WAIT_CAP_MS ? WAIT_CAP_MS : in->wait_ms;
	int64_t left = call_remaining_ms(call), margin;
	struct event_log_page page;

	event_log_read(d->event_log, &call->arena, in->after_sequence, max, in->service_id,
	    in->template_, &page);
	if (in->after_sequence != 0 && page.oldest != 0 && in->after_sequence + 1 < page.oldest)
		return call_fail_detail(call, BERTH__V1__CODE__OUT_OF_RANGE, "after_sequence",
		    "EVENTS_NOT_KEPT", "oldest_sequence=%" PRIu64, page.oldest);
	/* An answer, or the wait is over: the page as it is. */
	resp->n_events = page.n;
	resp->events = page.events;
	resp->cursor = page.cursor;
	resp->oldest_sequence = page.oldest;
	resp->last_sequence = page.last;
	if (page.n > 0 || wait == 0)
		return 0;
	margin = left / 10 < DEADLINE_MARGIN_MS ? left / 10 : DEADLINE_MARGIN_MS;
	if (wait > left - margin)
		wait = left - margin;
	/* Parked: the transport answers later. Not parked (no place, no time): the empty page now. */
	if (wait > 0)
		call_park(call, clock_monotonic_ms() + wait, 0, CALL_WAKE_EVENTS);
	return 0;
}
