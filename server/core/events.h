/*
 * events.h - the domain's events: every lifecycle change, as one
 * berth.v1.Event, handed to whatever delivers them.
 *
 * core/ builds and numbers the events; it does not know how they travel.
 * The daemon points the sink at the pub0 socket (rpc/event_pub.c). A sink
 * without a deliver function drops every event (tests, tools). Thread-safe:
 * the sequence is atomic and deliver must be callable from any thread.
 */
#ifndef BERTH_CORE_EVENTS_H
#define BERTH_CORE_EVENTS_H

#include <stdatomic.h>

#include "berth/v1/berth.pb-c.h"

struct event_sink {
	/* Delivers one event; must not block. ev lives only during the call. */
	void (*deliver)(void *ctx, const Berth__V1__Event *ev);
	void *ctx;
	atomic_uint_fast64_t sequence; /* of the last event built */
};

/*
 * Publishes an event about `s` (NULL for server-wide events); `status`
 * overrides s->status when not NULL. The message is printf-style.
 * A NULL sink does nothing.
 */
void event_publish(struct event_sink *sink, Berth__V1__Event__Type type,
    const Berth__V1__Service *s, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
