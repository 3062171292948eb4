/*
 * bench_events.c - how soon a waiting WatchEvents long poll gets an event.
 *
 * One service is restarted again and again (each restart publishes
 * events). A client keeps a WatchEvents poll waiting (wait 20 s) and, for
 * each event it receives, measures the time from the event's publication
 * (its `time` stamp, milliseconds, the same host's clock) to its arrival.
 * The floor is the same measure for a pub0 subscriber (berth_events_next)
 * of the same events, which nothing parks: the ratio is what parking, the
 * wake and the re-run cost on top of plain publication.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "base/log.h"

#define BENCH_PORT_EVENTS 62600
#define RESTARTS 25
#define TARGET_MS 5.0

static atomic_bool stopping;

/* Milliseconds since the epoch of an RFC 3339 "....T..:..:..mmmZ" stamp; NAN when unparsable. */
static double
stamp_ms(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0;
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

	if (rest == NULL)
		return NAN;
	if (*rest == '.')
		ms = atoi(rest + 1);
	return (double)timegm(&tm) * 1000.0 + ms;
}

static double
realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

struct watcher {
	berth_client *c;
	berth_events *sub;      /* NULL: long poll */
	struct samples latency; /* ms, publication to arrival */
	uint64_t cursor;
};

static void
observe(struct watcher *w, const Berth__V1__Event *ev)
{
	double late = realtime_ms() - stamp_ms(ev->time);

	/* The stamp is cut to the millisecond: half a millisecond on average. */
	if (!isnan(late))
		samples_add(&w->latency, late - 0.5 < 0 ? 0 : late - 0.5);
}

static void *
poll_main(void *arg)
{
	struct watcher *w = arg;

	while (!atomic_load(&stopping)) {
		Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
		Berth__V1__WatchEventsResponse *r = NULL;
		berth_status st;

		req.after_sequence = w->cursor;
		req.wait_ms = 2000;
		if (berth_call(w->c, "WatchEvents", &req.base, (ProtobufCMessage **)&r, &st) != 0) {
			bench_say("WatchEvents: %s", st.message);
			bench_sleep_ms(100);
			continue;
		}
		for (size_t i = 0; i < r->n_events; i++)
			observe(w, r->events[i]);
		w->cursor = r->cursor;
		berth_reply_free(&r->base);
	}
	return NULL;
}

static void *
sub_main(void *arg)
{
	struct watcher *w = arg;

	while (!atomic_load(&stopping)) {
		Berth__V1__Event *ev = NULL;
		berth_status st;

		if (berth_events_next(w->sub, &ev, 200, &st) != 0)
			continue;
		observe(w, ev);
		berth_reply_free(&ev->base);
	}
	return NULL;
}

int
main(void)
{
	static struct bench_berthd berthd;
	struct watcher poller = { 0 }, subscriber = { 0 };
	pthread_t tp, ts;
	char dir[512], id[128];
	berth_client *c;
	berth_status st;
	double p50, floor50;

	log_threshold = LL_WARN;
	if (bench_make_dir("events", dir, sizeof(dir)) != 0 || bench_demo_image() != 0)
		return 1;
	if (bench_berthd_start(&berthd, dir, (const char *const[]){ "--on-exit", "remove", NULL },
		20) != 0)
		return 1;
	c = bench_client(&berthd);
	if (bench_put_template(c, "bench", BENCH_PORT_EVENTS, NULL, 0, 1) != 0 ||
	    bench_launch(c, "bench", id, sizeof(id), NULL) != 0)
		goto fail;
	poller.c = bench_client(&berthd);
	{
		Berth__V1__WatchEventsRequest req = BERTH__V1__WATCH_EVENTS_REQUEST__INIT;
		Berth__V1__WatchEventsResponse *r = NULL;

		if (berth_call(poller.c, "WatchEvents", &req.base, (ProtobufCMessage **)&r, &st) != 0)
			goto fail;
		poller.cursor = r->last_sequence;
		berth_reply_free(&r->base);
	}
	if (berth_events_open(&subscriber.sub, c, NULL, &st) != 0) {
		bench_say("events: cannot subscribe: %s", st.message);
		goto fail;
	}
	pthread_create(&tp, NULL, poll_main, &poller);
	pthread_create(&ts, NULL, sub_main, &subscriber);
	bench_sleep_ms(300);
	bench_say("events: %d restarts, a long poll and a pub0 subscriber watching", RESTARTS);
	for (int i = 0; i < RESTARTS; i++) {
		Berth__V1__RestartServiceRequest req = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
		ProtobufCMessage *rep = NULL;

		req.service_id = id;
		if (berth_call(c, "RestartService", &req.base, &rep, &st) != 0)
			bench_say("restart: %s", st.message);
		berth_reply_free(rep);
		bench_sleep_ms(150);
	}
	bench_sleep_ms(500);
	atomic_store(&stopping, true);
	pthread_join(tp, NULL);
	pthread_join(ts, NULL);

	p50 = samples_quantile(&poller.latency, 0.5);
	floor50 = samples_quantile(&subscriber.latency, 0.5);
	bench_row(&(struct bench_row){ "9 events", "WatchEvents wake p50, publish -> waiting poll",
	    p50, "ms", samples_quantile(&poller.latency, 0.99), "pub0 subscriber p50", floor50,
	    floor50 > 0 ? p50 / floor50 : NAN, "<= 5 ms",
	    isnan(p50) ? BENCH_NA : p50 <= TARGET_MS ? BENCH_HOLDS
						     : BENCH_MISS });
	bench_note("events_samples=%zu (poll) %zu (pub0)", poller.latency.n, subscriber.latency.n);
	berth_events_close(subscriber.sub);
	berth_close(poller.c);
	bench_remove(c, id);
	berth_close(c);
	bench_berthd_stop(&berthd, 60);
	samples_free(&poller.latency);
	samples_free(&subscriber.latency);
	return 0;
fail:
	bench_berthd_stop(&berthd, 60);
	return 1;
}
