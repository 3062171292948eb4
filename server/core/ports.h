/*
 * ports.h - host port allocation, the original design's algorithm.
 *
 * A candidate port is taken, in this order of checks, when it is
 *   1. held by a berth service in the registry (also a stopped one, which
 *      keeps its port for a restart) or reserved by a launch in flight,
 *   2. published by any container on the Docker engine, berth's or not,
 *   3. not bindable on the host (another program listens there); skipped
 *      when ports do not bind on berthd's host (ports_use_bind_test).
 * Allocation starts at the template's range start and increments until a
 * free port is found within the range.
 *
 * Both the registry's ports and Docker's published ports live in memory
 * (a 64 Ki-bit set and a count per port), so choosing a port costs neither
 * SQL nor a container listing: the Docker side is refreshed from a full
 * listing whenever the event stream (re)connects and kept current by the
 * stream's start/die/destroy events (docker_events.c). Reservation and
 * release are atomic under one mutex, which is what makes concurrent
 * launches of one template get distinct ports.
 * Thread-safe: every function takes the allocator's lock.
 */
#ifndef BERTH_PORTS_H
#define BERTH_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ports;

enum port_reason {
	PORT_FREE = 0,
	PORT_REGISTRY, /* held by a service or a launch in flight */
	PORT_DOCKER,   /* published by a container */
	PORT_HOST,     /* the bind test failed */
};

struct port_skip {
	uint16_t port;
	enum port_reason reason;
};

/* The most skips an allocation reports; beyond that it only counts them. */
#define PORTS_MAX_SKIPS 64

struct port_allocation {
	uint16_t port;                             /* the chosen port */
	struct port_skip skipped[PORTS_MAX_SKIPS]; /* ports passed over, in order */
	size_t n_skipped;                          /* entries in skipped[] */
	size_t n_skipped_total;                    /* all ports passed over */
};

/* `bind_address` is where containers publish ("0.0.0.0", "127.0.0.1"). */
struct ports *ports_new(const char *bind_address);
void ports_free(struct ports *p);

/* Marks a port as held (a registry row exists) or frees it again. */
void ports_hold(struct ports *p, uint16_t port);
void ports_release(struct ports *p, uint16_t port);
bool ports_held(struct ports *p, uint16_t port);

/* The host ports one container publishes. */
struct ports_holder {
	const char *id;
	const uint16_t *ports;
	size_t n;
};

/* Replaces everything known about Docker's ports with a full listing. */
void ports_docker_replace(struct ports *p, const struct ports_holder *holders, size_t n);

/* One container now publishes ports[0..n) (n = 0: it stopped or is gone). */
void ports_docker_update(struct ports *p, const char *container_id, const uint16_t *ports,
    size_t n);

/*
 * Whether the Docker side is being kept current (the event stream is
 * open). When it is not, callers refresh it with a listing before use.
 */
void ports_docker_set_live(struct ports *p, bool live);
bool ports_docker_live(struct ports *p);

/*
 * Chooses and holds the first free port of [start, end] (end 0 = 65535).
 * Returns 0, or -1 when the range has no free port.
 */
int ports_allocate(struct ports *p, uint16_t start, uint16_t end, struct port_allocation *out);

/*
 * Holds one given port after the same checks. Returns PORT_FREE (now held)
 * or the reason it is taken (nothing held).
 */
enum port_reason ports_claim(struct ports *p, uint16_t port);

/* "registry", "docker", "host" (the words of SkippedPort.reason). */
const char *ports_reason_name(enum port_reason reason);

/* True when a TCP socket can bind `port` on the allocator's address now. */
bool ports_bind_test(const struct ports *p, uint16_t port);

/*
 * Whether allocation runs the bind test (check 3) at all: on by default;
 * off when published ports do not bind on this host (the swarm backend).
 * Set at start-up, before any allocation.
 */
void ports_use_bind_test(struct ports *p, bool on);

#endif
