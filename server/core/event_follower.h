/*
 * docker_events.h - live state without polling: follow Docker's event stream.
 *
 * One background thread follows GET /events for the containers labelled
 * with this berthd's data directory. When a service's container starts,
 * dies or is destroyed behind berth's back, its registry row follows within
 * moments (`berth ls` shows it) and SERVICE_STARTED, SERVICE_DIED or
 * SERVICE_MISSING is published. When Docker goes away the thread retries
 * (100 ms doubling to 2 s) and, each time the stream is open again,
 * reconciles (reconcile_run) to catch up with what it missed.
 *
 * An event is a hint, the container's state is the truth: for each event
 * the thread inspects the container and writes what it finds, and only
 * for rows no lifecycle call is working on (service_trylock). A row that
 * is busy (locked, or "creating") is looked at again a second later.
 */
#ifndef BERTH_DOCKER_EVENTS_H
#define BERTH_DOCKER_EVENTS_H

#include <stdint.h>

struct berthd;

/*
 * Starts the thread (main thread, once the RPC server runs). Returns 0, or
 * -1 with the reason logged: berthd still serves, without live state.
 */
int docker_events_start(struct berthd *d);

/*
 * Stops the thread and waits for it (main thread): within ~200 ms, or as
 * long as the Docker call or reconciliation in progress takes (an inspect
 * gives up after 5 s, a reconciliation after 30 s). Does nothing when it
 * was not started.
 */
void docker_events_stop(struct berthd *d);

/*
 * Times the event stream was lost and followed again
 * (berth_docker_event_reconnects_total). Any thread.
 */
uint64_t event_follower_reconnects_total(void);

#endif
