/*
 * handshake_reaper.c - see handshake_reaper.h.
 *
 * A descriptor number says nothing alone (it is reused as soon as nng
 * closes it), so each one is remembered with its connection's two
 * addresses and the pass that last saw it: the age of a connection counts
 * from the first pass that saw this descriptor with these addresses, in
 * every pass since.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rpc/handshake_reaper.h"

#define MAX_WATCHED 16

enum seen_state {
	SEEN_PENDING = 1, /* not yet a pipe, not yet past the deadline */
	SEEN_PIPE,        /* belongs to a pipe: left alone */
	SEEN_SHUT,        /* shut down */
};

struct watched_listener {
	struct peer_address local;
	bool any; /* bound to the wildcard address: the port alone matches */
};

/* What the passes know of one descriptor; indexed by its number. */
struct seen_fd {
	struct peer_address local, remote;
	int64_t first_ms;
	uint64_t pass; /* the last pass that saw it; 0 never */
	uint8_t state;
};

struct handshake_reaper {
	DIR *fds; /* /proc/self/fd, open for good */
	struct watched_listener listeners[MAX_WATCHED];
	size_t n_listeners;
	struct seen_fd *seen;
	size_t n_seen;
	uint64_t pass;
};

static void
from_ipv4(uint32_t addr_net, uint16_t port_net, struct peer_address *out)
{
	memset(out->ip, 0, 10);
	out->ip[10] = 0xff;
	out->ip[11] = 0xff;
	memcpy(out->ip + 12, &addr_net, 4);
	out->port = ntohs(port_net);
}

bool
peer_address_from_nng(const nng_sockaddr *sa, struct peer_address *out)
{
	switch (sa->s_family) {
	case NNG_AF_INET:
		from_ipv4(sa->s_in.sa_addr, sa->s_in.sa_port, out);
		return true;
	case NNG_AF_INET6:
		memcpy(out->ip, sa->s_in6.sa_addr, 16);
		out->port = ntohs(sa->s_in6.sa_port);
		return true;
	default:
		return false;
	}
}

static bool
from_sockaddr(const struct sockaddr_storage *ss, struct peer_address *out)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		from_ipv4(in->sin_addr.s_addr, in->sin_port, out);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		memcpy(out->ip, &in6->sin6_addr, 16);
		out->port = ntohs(in6->sin6_port);
		return true;
	}
	return false;
}

static bool
same_address(const struct peer_address *a, const struct peer_address *b)
{
	return a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}

static bool
wildcard(const struct peer_address *a)
{
	static const uint8_t zero[16], v4_zero[16] = { [10] = 0xff, [11] = 0xff };

	return memcmp(a->ip, zero, 16) == 0 || memcmp(a->ip, v4_zero, 16) == 0;
}

struct handshake_reaper *
handshake_reaper_new(void)
{
	struct handshake_reaper *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if ((r->fds = opendir("/proc/self/fd")) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
handshake_reaper_free(struct handshake_reaper *r)
{
	if (r == NULL)
		return;
	closedir(r->fds);
	free(r->seen);
	free(r);
}

int
handshake_reaper_watch(struct handshake_reaper *r, const nng_sockaddr *local)
{
	struct watched_listener *w;

	if (r->n_listeners >= MAX_WATCHED)
		return -1;
	w = &r->listeners[r->n_listeners];
	if (!peer_address_from_nng(local, &w->local))
		return -1;
	w->any = wildcard(&w->local);
	r->n_listeners++;
	return 0;
}

bool
handshake_reaper_watching(const struct handshake_reaper *r)
{
	return r != NULL && r->n_listeners > 0;
}

/*
 * Whether `fd` is a connected TCP socket accepted by a watched listener;
 * its two addresses into *local and *remote.
 */
static bool
watched_connection(const struct handshake_reaper *r, int fd, struct peer_address *local,
    struct peer_address *remote)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0;
	bool match = false;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 || !from_sockaddr(&ss, local))
		return false;
	for (size_t i = 0; i < r->n_listeners && !match; i++)
		match = r->listeners[i].local.port == local->port &&
		    (r->listeners[i].any || memcmp(r->listeners[i].local.ip, local->ip, 16) == 0);
	if (!match)
		return false;
	/* A UDP socket may have the same port; the listening socket has no peer. */
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
		return false;
	len = sizeof(ss);
	return getpeername(fd, (struct sockaddr *)&ss, &len) == 0 && from_sockaddr(&ss, remote);
}

/* Room in seen[] for descriptor fd; false when out of memory. */
static bool
make_room(struct handshake_reaper *r, size_t fd)
{
	size_t n = r->n_seen ? r->n_seen : 256;
	struct seen_fd *grown;

	if (fd < r->n_seen)
		return true;
	while (n <= fd)
		n *= 2;
	if ((grown = realloc(r->seen, n * sizeof(*grown))) == NULL)
		return false;
	memset(grown + r->n_seen, 0, (n - r->n_seen) * sizeof(*grown));
	r->seen = grown;
	r->n_seen = n;
	return true;
}

size_t
handshake_reaper_sweep(struct handshake_reaper *r, int64_t now_ms, int64_t timeout_ms,
    bool (*is_pipe)(void *arg, const struct peer_address *peer), void *arg)
{
	struct peer_address local, remote, again_local, again_remote;
	struct dirent *de;
	size_t shut = 0;

	if (!handshake_reaper_watching(r))
		return 0;
	r->pass++;
	rewinddir(r->fds);
	while ((de = readdir(r->fds)) != NULL) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		struct seen_fd *s;

		if (end == de->d_name || *end != '\0' || fd < 0 || fd == dirfd(r->fds) ||
		    !watched_connection(r, (int)fd, &local, &remote) || !make_room(r, (size_t)fd))
			continue;
		s = &r->seen[fd];
		if (s->pass + 1 != r->pass || !same_address(&s->local, &local) ||
		    !same_address(&s->remote, &remote)) {
			/* New to us: its age starts now. */
			*s = (struct seen_fd){ local, remote, now_ms, r->pass, SEEN_PENDING };
			continue;
		}
		s->pass = r->pass;
		if (s->state != SEEN_PENDING || now_ms - s->first_ms < timeout_ms)
			continue;
		if (is_pipe(arg, &remote)) {
			s->state = SEEN_PIPE;
			continue;
		}
		/*
		 * nng may have closed it meanwhile, and the number been reused:
		 * shut it down only if it is still the same connection.
		 */
		if (watched_connection(r, (int)fd, &again_local, &again_remote) &&
		    same_address(&again_local, &local) && same_address(&again_remote, &remote) &&
		    shutdown((int)fd, SHUT_RDWR) == 0)
			shut++;
		s->state = SEEN_SHUT;
	}
	return shut;
}
