/*
 * ports.c - the port allocator: a bit set of held ports under a mutex, and a
 * bind(2) test for ports that programs outside Docker listen on.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ports.h"

struct ports {
	pthread_mutex_t lock;
	uint64_t held[65536 / 64];
	struct in_addr bind_addr;
};

static bool
bit_get(const uint64_t *set, uint16_t port)
{
	return (set[port / 64] >> (port % 64)) & 1;
}

static void
bit_set(uint64_t *set, uint16_t port, bool on)
{
	if (on)
		set[port / 64] |= UINT64_C(1) << (port % 64);
	else
		set[port / 64] &= ~(UINT64_C(1) << (port % 64));
}

struct ports *
ports_new(const char *bind_address)
{
	struct ports *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (bind_address == NULL || inet_pton(AF_INET, bind_address, &p->bind_addr) != 1)
		p->bind_addr.s_addr = htonl(INADDR_ANY);
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void
ports_free(struct ports *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void
ports_hold(struct ports *p, uint16_t port)
{
	pthread_mutex_lock(&p->lock);
	bit_set(p->held, port, true);
	pthread_mutex_unlock(&p->lock);
}

void
ports_release(struct ports *p, uint16_t port)
{
	pthread_mutex_lock(&p->lock);
	bit_set(p->held, port, false);
	pthread_mutex_unlock(&p->lock);
}

bool
ports_held(struct ports *p, uint16_t port)
{
	bool held;

	pthread_mutex_lock(&p->lock);
	held = bit_get(p->held, port);
	pthread_mutex_unlock(&p->lock);
	return held;
}

const char *
ports_reason_name(enum port_reason reason)
{
	switch (reason) {
	case PORT_REGISTRY:
		return "registry";
	case PORT_DOCKER:
		return "docker";
	case PORT_HOST:
		return "host";
	default:
		return "free";
	}
}

bool
ports_bind_test(const struct ports *p, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	bool ok;

	if (fd < 0)
		return false;
	/* As Docker's proxy binds: a port in TIME_WAIT is free, a listener is not. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr = p->bind_addr;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static bool
published(uint16_t port, const uint16_t *docker_ports, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (docker_ports[i] == port)
			return true;
	return false;
}

/* Why `port` cannot be used; caller holds the lock. */
static enum port_reason
check(struct ports *p, uint16_t port, const uint16_t *docker_ports, size_t n_docker)
{
	if (bit_get(p->held, port))
		return PORT_REGISTRY;
	if (published(port, docker_ports, n_docker))
		return PORT_DOCKER;
	if (!ports_bind_test(p, port))
		return PORT_HOST;
	return PORT_FREE;
}

int
ports_allocate(struct ports *p, uint16_t start, uint16_t end, const uint16_t *docker_ports,
    size_t n_docker, struct port_allocation *out)
{
	uint32_t last = end != 0 ? end : 65535;

	memset(out, 0, sizeof(*out));
	/*
	 * The bind test runs under the lock: it takes microseconds, and holding
	 * the lock is what keeps two launches from choosing the same port.
	 */
	pthread_mutex_lock(&p->lock);
	for (uint32_t port = start; port >= 1 && port <= last; port++) {
		enum port_reason why = check(p, (uint16_t)port, docker_ports, n_docker);

		if (why == PORT_FREE) {
			bit_set(p->held, (uint16_t)port, true);
			out->port = (uint16_t)port;
			pthread_mutex_unlock(&p->lock);
			return 0;
		}
		if (out->n_skipped < PORTS_MAX_SKIPS)
			out->skipped[out->n_skipped++] = (struct port_skip){ (uint16_t)port, why };
		out->n_skipped_total++;
	}
	pthread_mutex_unlock(&p->lock);
	return -1;
}

enum port_reason
ports_claim(struct ports *p, uint16_t port, const uint16_t *docker_ports, size_t n_docker)
{
	enum port_reason why;

	pthread_mutex_lock(&p->lock);
	why = check(p, port, docker_ports, n_docker);
	if (why == PORT_FREE)
		bit_set(p->held, port, true);
	pthread_mutex_unlock(&p->lock);
	return why;
}
