/*
 * fd_budget.c - see fd_budget.h.
 */
#include <dirent.h>
#include <sys/resource.h>

#include "daemon/fd_budget.h"

/* Descriptors berthd needs besides connections: registry, Docker, logs, nng. */
#define RESERVE_FIXED 64
#define RESERVE_PER_WORKER 4 /* a registry connection's three files and a Docker call */
#define IPC_SHARE_DIVISOR 4  /* ipc:// keeps a quarter of what is left... */
#define IPC_SHARE_MIN 8      /* ...and at least this many per listener */

uint64_t
fd_budget_raise_limit(uint64_t *before)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		*before = 0;
		return 0;
	}
	*before = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit raised = { rl.rlim_max, rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	return rl.rlim_cur;
}

uint64_t
fd_budget_in_use(void)
{
	DIR *d = opendir("/proc/self/fd");
	uint64_t n = 0;

	if (d == NULL)
		return 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	/* ".", ".." and the directory's own descriptor. */
	return n > 3 ? n - 3 : 0;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

void
fd_budget_share(const struct fd_budget *b, struct fd_shares *out)
{
	uint64_t reserve = RESERVE_FIXED + RESERVE_PER_WORKER * (uint64_t)max64(b->workers, 0);
	int64_t spare = b->limit > b->in_use + reserve ? (int64_t)(b->limit - b->in_use - reserve)
						       : 0;
	int64_t n_ipc = (int64_t)b->ipc_listeners, n_net = (int64_t)b->network_listeners;
	int64_t ipc_share, network_left;

	out->ipc_each = b->max_connections;
	out->network_each = b->max_connections;
	out->lowered = false;
	if (b->limit == RLIM_INFINITY || b->max_connections * (n_ipc + n_net) <= spare) {
		out->per_address = b->max_per_address;
		return;
	}
	/* Without network listeners there is nobody to keep a share from. */
	ipc_share = max64(spare / IPC_SHARE_DIVISOR, IPC_SHARE_MIN * n_ipc);
	ipc_share = n_net == 0 ? spare : min64(b->max_connections * n_ipc, ipc_share);
	network_left = max64(spare - ipc_share, 0);
	if (n_ipc > 0)
		out->ipc_each = max64(1, min64(b->max_connections, ipc_share / n_ipc));
	if (n_net > 0)
		out->network_each = max64(1, min64(b->max_connections, network_left / n_net));
	out->per_address = min64(b->max_per_address, out->network_each);
	out->lowered = out->ipc_each < b->max_connections || out->network_each < b->max_connections;
}
