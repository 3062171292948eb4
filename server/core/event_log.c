/*
 * event_log.c - the ring of recent events and the thread that writes them
 * to the registry (event_log.h).
 *
 * The ring holds the newest `keep` events, sorted by sequence (two threads
 * may deliver 7 before 6: an event is inserted at its place from the tail),
 * each packed as protobuf with its service and template beside it for the
 * filters. `complete` is the highest sequence below which none is missing:
 * reads stop there and the writer writes up to there. Everything is under
 * `lock`; the writer holds it only to copy what is new.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "clock.h"
#include "core/event_log.h"
#include "store/event_store.h"
#include "store/registry.h"

/* The writer waits this long after an event for more to batch with it. */
#define WRITER_DELAY_MS 20
/* After a failed write, the next try waits this long, doubling up to the max. */
#define WRITER_RETRY_MIN_MS 200
#define WRITER_RETRY_MAX_MS 10000
/*
 * Sequences reserved in the registry ahead of the newest handed out: a
 * new reservation is written when fewer than half are left. A berthd
 * killed with events unwritten starts above the reservation.
 */
#define RESERVE_AHEAD 100000

struct slot {
	uint64_t sequence;
	void *packed;
	size_t len;
	char *service_id;
	char *template_name;
};

struct event_log {
	pthread_mutex_t lock; /* everything below but reg, which only the writer uses */
	pthread_cond_t wake;
	struct slot *slots; /* ring: slots[(head + i) % keep], i < count */
	size_t keep, head, count;
	uint64_t complete; /* every sequence up to here has arrived */
	uint64_t written;  /* every sequence up to here is in the registry */
	uint64_t reserved; /* the registry's reservation */
	bool stop;
	pthread_t writer;
	bool writer_started;
	struct registry *reg;
};

static void
slot_clear(struct slot *s)
{
	free(s->packed);
	free(s->service_id);
	free(s->template_name);
	memset(s, 0, sizeof(*s));
}

static struct slot *
at(struct event_log *log, size_t i)
{
	return &log->slots[(log->head + i) % log->keep];
}

/* Inserts `fresh` at its place by sequence, dropping the oldest when full. Caller locks. */
static void
ring_insert(struct event_log *log, struct slot *fresh)
{
	size_t i;

	if (log->count == log->keep) {
		if (fresh->sequence < at(log, 0)->sequence) {
			slot_clear(fresh); /* older than everything kept */
			return;
		}
		slot_clear(at(log, 0));
		log->head = (log->head + 1) % log->keep;
		log->count--;
	}
	/* Usually the newest: the loop does not run. */
	for (i = log->count; i > 0 && at(log, i - 1)->sequence > fresh->sequence; i--)
		*at(log, i) = *at(log, i - 1);
	*at(log, i) = *fresh;
	log->count++;
	/*
	 * Full, and the oldest kept is past a sequence still on its way: that
	 * one is older than everything kept and would be dropped on arrival
	 * (above), so nothing waits for it, or `complete` would stop for good.
	 */
	if (log->count == log->keep && at(log, 0)->sequence > log->complete + 1) {
		log->complete = at(log, 0)->sequence - 1;
		i = 0;
	}
	for (; i < log->count && at(log, i)->sequence == log->complete + 1; i++)
		log->complete++;
}

static bool
slot_from_event(struct slot *s, const Berth__V1__Event *ev)
{
	memset(s, 0, sizeof(*s));
	s->sequence = ev->sequence;
	s->len = berth__v1__event__get_packed_size(ev);
	s->packed = malloc(s->len > 0 ? s->len : 1);
	s->service_id = strdup(ev->service_id != NULL ? ev->service_id : "");
	s->template_name = strdup(ev->template_ != NULL ? ev->template_ : "");
	if (s->packed == NULL || s->service_id == NULL || s->template_name == NULL) {
		slot_clear(s);
		return false;
	}
	berth__v1__event__pack(ev, s->packed);
	return true;
}

void
event_log_append(struct event_log *log, const Berth__V1__Event *ev)
{
	struct slot s;

	if (log == NULL)
		return;
	/*
	 * Out of memory: its sequence still takes its place, empty, or every
	 * later event would wait behind it (`complete`).
	 */
	if (!slot_from_event(&s, ev))
		s.sequence = ev->sequence;
	pthread_mutex_lock(&log->lock);
	ring_insert(log, &s);
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
}

void
event_log_read(struct event_log *log, struct arena *a, uint64_t after, size_t max,
    const char *service_id, const char *template_name, struct event_log_page *page)
{
	size_t cap = max < 64 ? max : 64, i;

	memset(page, 0, sizeof(*page));
	page->cursor = after;
	page->events = ARENA_ARRAY(a, Berth__V1__Event *, cap > 0 ? cap : 1);
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	if (log->count > 0) {
		page->oldest = at(log, 0)->sequence;
		page->last = log->complete;
	}
	/* Binary search for the first sequence above `after`. */
	{
		size_t lo = 0, hi = log->count;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (at(log, mid)->sequence <= after)
				lo = mid + 1;
			else
				hi = mid;
		}
		i = lo;
	}
	for (; i < log->count && page->n < max; i++) {
		struct slot *s = at(log, i);
		Berth__V1__Event *ev;

		if (s->sequence > log->complete)
			break;
		page->cursor = s->sequence;
		if (s->packed == NULL)
			continue;
		if ((service_id[0] != '\0' && strcmp(service_id, s->service_id) != 0) ||
		    (template_name[0] != '\0' && strcmp(template_name, s->template_name) != 0))
			continue;
		ev = berth__v1__event__unpack(&a->allocator, s->len, s->packed);
		if (ev == NULL)
			continue;
		if (page->n == cap) {
			Berth__V1__Event **grown = ARENA_ARRAY(a, Berth__V1__Event *, cap * 2);

			memcpy(grown, page->events, cap * sizeof(*grown));
			page->events = grown;
			cap *= 2;
		}
		page->events[page->n++] = ev;
	}
	pthread_mutex_unlock(&log->lock);
}

/*
 * Writes the events that arrived since the last batch: 0, or -1 when the
 * registry refused them (they stay in memory). Writer thread; takes the
 * lock only to copy them.
 */
static int
write_batch(struct event_log *log)
{
	struct arena a;
	Berth__V1__Event **batch;
	size_t n = 0, cap;
	uint64_t upto, reserve;
	int failed = 0;

	arena_init(&a);
	pthread_mutex_lock(&log->lock);
	upto = log->complete;
	cap = log->count;
	batch = ARENA_ARRAY(&a, Berth__V1__Event *, cap > 0 ? cap : 1);
	for (size_t i = 0; i < log->count; i++) {
		struct slot *s = at(log, i);

		if (s->sequence <= log->written || s->sequence > upto || s->packed == NULL)
			continue;
		if ((batch[n] = berth__v1__event__unpack(&a.allocator, s->len, s->packed)) != NULL)
			n++;
	}
	reserve = log->reserved;
	pthread_mutex_unlock(&log->lock);

	if (upto + RESERVE_AHEAD / 2 > reserve)
		reserve = upto + RESERVE_AHEAD;
	if (n > 0 || reserve != log->reserved) {
		if (event_store_append(log->reg, batch, n, log->keep, reserve) != 0) {
			log_warn("cannot keep events in the registry, they stay in memory error=\"%s\"",
			    registry_error(log->reg)->message);
			failed = -1;
		} else {
			pthread_mutex_lock(&log->lock);
			if (upto > log->written)
				log->written = upto;
			log->reserved = reserve;
			pthread_mutex_unlock(&log->lock);
		}
	}
	arena_reset(&a);
	return failed;
}

/*
 * The writer. A registry that refuses a batch (disk full, a broken file)
 * is tried again after a pause that doubles, not at every event or every
 * WRITER_DELAY_MS: no warning and no write transaction 50 times a second.
 */
static void *
writer_main(void *arg)
{
	struct event_log *log = arg;
	int64_t retry_at = 0; /* after a failure: no write before this (monotonic ms) */
	int pause_ms = 0;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		bool stop = log->stop;
		int64_t now = clock_monotonic_ms();

		if (stop || (log->complete > log->written && now >= retry_at)) {
			int rc;

			pthread_mutex_unlock(&log->lock);
			if (!stop) {
				/* Let a burst gather: one transaction for it. */
				struct timespec t = { 0, WRITER_DELAY_MS * 1000000L };
				nanosleep(&t, NULL);
			}
			rc = write_batch(log);
			pthread_mutex_lock(&log->lock);
			if (stop)
				break;
			if (rc == 0) {
				pause_ms = 0;
				retry_at = 0;
			} else {
				pause_ms = pause_ms == 0 ? WRITER_RETRY_MIN_MS : pause_ms * 2;
				if (pause_ms > WRITER_RETRY_MAX_MS)
					pause_ms = WRITER_RETRY_MAX_MS;
				retry_at = clock_monotonic_ms() + pause_ms;
			}
			continue;
		}
		if (log->complete > log->written) {
			/* Waiting to try again: only the stop or the time ends the wait. */
			struct timespec until;
			int64_t wait = retry_at - now;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += wait / 1000;
			until.tv_nsec += (wait % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&log->wake, &log->lock, &until);
			continue;
		}
		pthread_cond_wait(&log->wake, &log->lock);
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

int
event_log_open(struct event_log **out, const char *db_path, uint64_t keep,
    uint64_t *last_sequence, struct error *err)
{
	struct event_log *log = calloc(1, sizeof(*log));
	Berth__V1__Event **events;
	uint64_t reserved;
	struct arena a;
	size_t n;

	if (log == NULL || keep == 0 ||
	    (log->slots = calloc((size_t)keep, sizeof(*log->slots))) == NULL) {
		free(log);
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory for %llu events",
		    (unsigned long long)keep);
		return -1;
	}
	log->keep = (size_t)keep;
	pthread_mutex_init(&log->lock, NULL);
	pthread_cond_init(&log->wake, NULL);
	if (registry_open(&log->reg, db_path, false, err) != 0) {
		event_log_close(log);
		return -1;
	}
	arena_init(&a);
	if (event_store_load(log->reg, &a, keep, &events, &n, &reserved) != 0) {
		*err = *registry_error(log->reg);
		arena_reset(&a);
		event_log_close(log);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct slot s;

		if (slot_from_event(&s, events[i]))
			ring_insert(log, &s);
	}
	arena_reset(&a);
	/* Everything up to the reservation counts as handed out: start above it. */
	log->complete = log->written = reserved;
	log->reserved = reserved + RESERVE_AHEAD;
	if (event_store_reserve(log->reg, log->reserved) != 0) {
		*err = *registry_error(log->reg);
		event_log_close(log);
		return -1;
	}
	if (pthread_create(&log->writer, NULL, writer_main, log) != 0) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot start the event writer");
		event_log_close(log);
		return -1;
	}
	log->writer_started = true;
	*last_sequence = reserved;
	*out = log;
	return 0;
}

void
event_log_close(struct event_log *log)
{
	if (log == NULL)
		return;
	if (log->writer_started) {
		pthread_mutex_lock(&log->lock);
		log->stop = true;
		pthread_cond_signal(&log->wake);
		pthread_mutex_unlock(&log->lock);
		pthread_join(log->writer, NULL);
		/* All written: the next berthd goes on right after the last one. */
		if (log->written == log->complete &&
		    event_store_reserve(log->reg, log->complete) == 0)
			log->reserved = log->complete;
	}
	for (size_t i = 0; i < log->count; i++)
		slot_clear(at(log, i));
	free(log->slots);
	registry_close(log->reg);
	pthread_cond_destroy(&log->wake);
	pthread_mutex_destroy(&log->lock);
	free(log);
}
