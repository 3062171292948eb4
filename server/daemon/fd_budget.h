/*
 * fd_budget.h - berthd's open-file limit, and the connections it allows.
 *
 * Every connection holds a descriptor, and so do the registry (a database
 * file, its WAL and shared memory per connection: one per worker), the
 * calls to Docker, the log and nng itself. When they run out nng accepts
 * nothing more, on ipc:// either: a flood of tcp:// connections locked the
 * local admin out. So berthd raises its soft limit to the hard one at
 * start-up, and when the listeners' caps (--max-connections each) do not
 * fit in what is left, it lowers them: ipc:// listeners keep a share of
 * their own (a quarter of what is left, at least 8 each), the network
 * listeners share the rest.
 */
#ifndef BERTH_FD_BUDGET_H
#define BERTH_FD_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fd_budget {
	uint64_t limit;           /* RLIMIT_NOFILE, soft */
	uint64_t in_use;          /* descriptors open before the listeners */
	int64_t workers;          /* each may hold a registry connection and a Docker call */
	size_t ipc_listeners;     /* RPC and events together */
	size_t network_listeners; /* tcp:// and tls+tcp:// */
	int64_t max_connections;  /* per listener, as configured */
	int64_t max_per_address;  /* as configured */
};

struct fd_shares {
	int64_t ipc_each;     /* cap of each ipc:// listener */
	int64_t network_each; /* cap of each network listener */
	int64_t per_address;  /* at most network_each */
	bool lowered;         /* below what was configured */
};

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (nothing to do under
 * systemd, whose LimitNOFILE= sets both). Returns the soft limit in force;
 * *before gets the one found. Main thread, at start-up.
 */
uint64_t fd_budget_raise_limit(uint64_t *before);

/* Descriptors open now (entries of /proc/self/fd); 0 when unknown. */
uint64_t fd_budget_in_use(void);

/* The caps that fit in b's limit. Pure. */
void fd_budget_share(const struct fd_budget *b, struct fd_shares *out);

#endif
