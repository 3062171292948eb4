/*
 * event_log.h - the last events berthd published, kept: in memory for
 * WatchEvents, and in the registry (store/event_store.c) so that they and
 * their sequences survive a restart.
 *
 * Publishing never waits for SQLite: event_log_append copies the event
 * into an in-memory ring of the newest `keep` events under a mutex and
 * signals the writer thread, which writes what is new in one transaction
 * and prunes the table to `keep` rows. What a kill -9 loses: the events of
 * the last writer cycle (at most about WRITER_DELAY_MS of them). Sequences
 * never repeat: the writer reserves them in the registry far ahead of
 * those handed out, and a new berthd starts above the reservation.
 *
 * Thread-safe: append from any thread (the event sink), read from any
 * thread (the WatchEvents handler), open and close on the main thread.
 */
#ifndef BERTH_CORE_EVENT_LOG_H
#define BERTH_CORE_EVENT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "berth/v1/berth.pb-c.h"
#include "error.h"

struct event_log;

/*
 * Loads the newest `keep` events from the registry at db_path (on a
 * connection of its own), reserves sequences ahead and starts the writer.
 * *last_sequence: the highest sequence this berthd must not hand out again
 * (start the sink's counter there). 0, or -1 with err set.
 */
int event_log_open(struct event_log **out, const char *db_path, uint64_t keep,
    uint64_t *last_sequence, struct error *err);

/* Keeps one event (a copy). Never blocks on I/O. Any thread; NULL log: nothing. */
void event_log_append(struct event_log *log, const Berth__V1__Event *ev);

/* What a read found (event_log_read). */
struct event_log_page {
	Berth__V1__Event **events; /* in the caller's arena, oldest first */
	size_t n;
	uint64_t cursor; /* the last sequence looked at (matching or not), or after */
	uint64_t oldest; /* the oldest and newest sequence kept; 0 when none */
	uint64_t last;
};

/*
 * Events with a sequence above `after`, at most `max`, of `service_id` and
 * `template_name` when not empty, into `a`. Only events every earlier one
 * of which has arrived are returned, so a cursor never passes one still
 * on its way. Any thread.
 */
void event_log_read(struct event_log *log, struct arena *a, uint64_t after, size_t max,
    const char *service_id, const char *template_name, struct event_log_page *page);

/* Writes what is not written yet, stops the writer, frees. NULL does nothing. */
void event_log_close(struct event_log *log);

#endif
