/*
 * ipc_access.h - who may connect to berthd's ipc:// socket files: their
 * mode and their group (--ipc-mode, --ipc-group).
 *
 * nng sets the mode as it creates the file; the group is set right after
 * the listener starts (and again whenever the ipc watchdog listens anew).
 * Other URLs are left alone. Any thread; no shared state.
 */
#ifndef BERTH_RPC_IPC_ACCESS_H
#define BERTH_RPC_IPC_ACCESS_H

#include <nng/nng.h>

#include "error.h"

struct ipc_access {
	int mode; /* e.g. 0660; 0 = nng's default */
	long gid; /* group of the socket file; -1 = the creator's */
};

/* Before nng_listener_start: the mode. 0 or an nng error. */
int ipc_access_prepare(nng_listener l, const char *url, const struct ipc_access *a);

/* After nng_listener_start: the group. 0, or -1 with err set. */
int ipc_access_finish(const char *url, const struct ipc_access *a, struct error *err);

/*
 * The gid of `group` (a name or a number) into *gid; -1 with err set when
 * no such group exists. "" is -1 (the creator's).
 */
int ipc_access_group(const char *group, long *gid, struct error *err);

#endif
