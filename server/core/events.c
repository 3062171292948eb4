/*
 * events.c - build, number and time-stamp the domain's events.
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "core/events.h"

void
event_publish(struct event_sink *sink, Berth__V1__Event__Type type, const Berth__V1__Service *s,
    const char *status, const char *fmt, ...)
{
	Berth__V1__Event ev = BERTH__V1__EVENT__INIT;
	char when[40], message[512];
	struct timeval tv;
	struct tm tm;
	size_t len;
	va_list ap;

	if (sink == NULL || sink->deliver == NULL)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	len = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + len, sizeof(when) - len, ".%03ldZ", (long)(tv.tv_usec / 1000));
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);

	ev.sequence = atomic_fetch_add(&sink->sequence, 1) + 1;
	ev.time = when;
	ev.type = type;
	ev.message = message;
	if (s != NULL) {
		ev.service_id = s->service_id;
		ev.template_ = s->template_;
		ev.port = s->port;
		ev.status = s->status;
	}
	if (status != NULL)
		ev.status = (char *)status;
	sink->deliver(sink->ctx, &ev);
}
