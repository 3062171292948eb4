/*
 * ports.h - host port allocation, the seed's algorithm.
 *
 * A candidate port is taken, in this order of checks, when it is
 *   1. held by a berth service in the registry (also a stopped one, which
 *      keeps its port for a restart) or reserved by a launch in flight,
 *   2. published by any container on the Docker engine, berth's or not,
 *   3. not bindable on the host (another program listens there).
 * Allocation starts at the template's range start and increments until a
 * free port is found within the range.
 *
 * The registry's ports live in memory (a 64 Ki-bit set), so choosing a port
 * costs no SQL. Reservation and release are atomic under one mutex, which
 * is what makes concurrent launches of one template get distinct ports.
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

/*
 * Chooses and holds the first free port of [start, end] (end 0 = 65535),
 * skipping the ports in docker_ports[0..n_docker) (published by
 * containers). Returns 0, or -1 when the range has no free port.
 */
int ports_allocate(struct ports *p, uint16_t start, uint16_t end, const uint16_t *docker_ports,
    size_t n_docker, struct port_allocation *out);

/*
 * Holds one given port after the same checks. Returns PORT_FREE (now held)
 * or the reason it is taken (nothing held).
 */
enum port_reason ports_claim(struct ports *p, uint16_t port, const uint16_t *docker_ports,
    size_t n_docker);

/* "registry", "docker", "host" (the words of SkippedPort.reason). */
const char *ports_reason_name(enum port_reason reason);

/* True when a TCP socket can bind `port` on the allocator's address now. */
bool ports_bind_test(const struct ports *p, uint16_t port);

#endif
