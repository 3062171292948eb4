/*
 * shutdown.h - graceful shutdown (the original design's graceful_shutdown), and its resumption.
 *
 * Policies (--on-exit): "remove" (the original design's: stop every
 * container in parallel, remove them, clear their rows, remove orphans),
 * "stop" (stop in parallel, keep rows and containers) and "keep" (leave
 * everything running so services survive a berthd restart or upgrade).
 * Instance directories are never deleted by a shutdown. Progress is kept
 * in the registry: a berthd killed half-way through its own shutdown
 * finishes it when it next starts. That start tries once: when the
 * shutdown still cannot be finished (Docker down), the record is dropped
 * and its services stay registered, so that no later start removes
 * services launched in between.
 *
 * Both run on the main thread with the main registry connection.
 */
#ifndef BERTH_SHUTDOWN_H
#define BERTH_SHUTDOWN_H

#include <stdatomic.h>

struct berthd;
struct registry;

/*
 * Carries out the policy. When *kill_now turns true (a second SIGINT),
 * containers still stopping are killed at once.
 */
/*
 * Asks the main thread to begin the shutdown, as SIGTERM does (any thread;
 * async-signal-safe). The main thread waits for the signal in sigwait().
 */
void shutdown_request(void);

void shutdown_run(struct berthd *d, struct registry *reg, const char *policy,
    atomic_bool *kill_now);

/* At start-up: finishes a shutdown that a crash interrupted. */
void shutdown_resume(struct berthd *d, struct registry *reg);

#endif
