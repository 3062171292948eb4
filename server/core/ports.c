/*
 * ports.c - the port allocator: a bit set of held ports under a mutex, and a
 * bind(2) test for ports that programs outside Docker listen on.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ports.h"

/* One container's published ports, as last seen. */
struct holder {
	char id[65];
	uint16_t ports[16];
	size_t n;
};

struct ports {
	pthread_mutex_t lock;
	uint64_t held[65536 / 64];       /* registry rows and launches in flight */
	uint16_t published[65536];       /* containers publishing each port */
	struct holder *holders;          /* containers that publish any port */
	size_t n_holders, cap_holders;
	bool docker_live;
	bool bind_test;                  /* check 3 on (ports bind on this host) */
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
	p->bind_test = true;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void
ports_free(struct ports *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->holders);
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

/* --- Docker's side; callers hold the lock --------------------------------- */

static void
holder_forget(struct ports *p, size_t i)
{
	struct holder *h = &p->holders[i];

	for (size_t j = 0; j < h->n; j++)
		if (p->published[h->ports[j]] > 0)
			p->published[h->ports[j]]--;
	p->holders[i] = p->holders[--p->n_holders];
}

static void
holder_add(struct ports *p, const char *id, const uint16_t *ports, size_t n)
{
	struct holder *h;

	if (n == 0)
		return;
	if (p->n_holders == p->cap_holders) {
		size_t cap = p->cap_holders ? p->cap_holders * 2 : 64;
		struct holder *bigger = realloc(p->holders, cap * sizeof(*bigger));
		if (bigger == NULL)
			return; /* the bind test still guards the port */
		p->holders = bigger;
		p->cap_holders = cap;
	}
	h = &p->holders[p->n_holders++];
	snprintf(h->id, sizeof(h->id), "%s", id);
	h->n = n < 16 ? n : 16;
	for (size_t j = 0; j < h->n; j++) {
		h->ports[j] = ports[j];
		p->published[ports[j]]++;
	}
}

void
ports_docker_replace(struct ports *p, const struct ports_holder *holders, size_t n)
{
	pthread_mutex_lock(&p->lock);
	memset(p->published, 0, sizeof(p->published));
	p->n_holders = 0;
	for (size_t i = 0; i < n; i++)
		holder_add(p, holders[i].id, holders[i].ports, holders[i].n);
	pthread_mutex_unlock(&p->lock);
}

void
ports_docker_update(struct ports *p, const char *container_id, const uint16_t *ports, size_t n)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n_holders; i++) {
		if (strcmp(p->holders[i].id, container_id) == 0) {
			holder_forget(p, i);
			break;
		}
	}
	holder_add(p, container_id, ports, n);
	pthread_mutex_unlock(&p->lock);
}

void
ports_docker_set_live(struct ports *p, bool live)
{
	pthread_mutex_lock(&p->lock);
	p->docker_live = live;
	pthread_mutex_unlock(&p->lock);
}

void
ports_use_bind_test(struct ports *p, bool on)
{
	pthread_mutex_lock(&p->lock);
	p->bind_test = on;
	pthread_mutex_unlock(&p->lock);
}

bool
ports_docker_live(struct ports *p)
{
	bool live;

	pthread_mutex_lock(&p->lock);
	live = p->docker_live;
	pthread_mutex_unlock(&p->lock);
	return live;
}

/* Why `port` cannot be used; caller holds the lock. */
static enum port_reason
check(struct ports *p, uint16_t port)
{
	if (bit_get(p->held, port))
		return PORT_REGISTRY;
	if (p->published[port] > 0)
		return PORT_DOCKER;
	if (p->bind_test && !ports_bind_test(p, port))
		return PORT_HOST;
	return PORT_FREE;
}

int
ports_allocate(struct ports *p, uint16_t start, uint16_t end, struct port_allocation *out)
{
	uint32_t last = end != 0 ? end : 65535;

	memset(out, 0, sizeof(*out));
	/*
	 * The bind test runs under the lock: it takes microseconds, and holding
	 * the lock is what keeps two launches from choosing the same port.
	 */
	pthread_mutex_lock(&p->lock);
	for (uint32_t port = start; port >= 1 && port <= last; port++) {
		enum port_reason why;

		/* A whole word of held ports is skipped at once: 10,000 rows stay cheap. */
		if (port % 64 == 0 && p->held[port / 64] == UINT64_MAX && port + 63 <= last &&
		    out->n_skipped >= PORTS_MAX_SKIPS) {
			out->n_skipped_total += 64;
			port += 63;
			continue;
		}
		why = check(p, (uint16_t)port);

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
ports_claim(struct ports *p, uint16_t port)
{
	enum port_reason why;

	pthread_mutex_lock(&p->lock);
	why = check(p, port);
	if (why == PORT_FREE)
		bit_set(p->held, port, true);
	pthread_mutex_unlock(&p->lock);
	return why;
}
