/*
 * ipc_access.c - mode and group of ipc:// socket files.
 */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/v1/berth.pb-c.h"
#include "rpc/ipc_access.h"

static bool
is_ipc(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0;
}

int
ipc_access_prepare(nng_listener l, const char *url, const struct ipc_access *a)
{
	if (!is_ipc(url) || a == NULL || a->mode == 0)
		return 0;
	return nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, a->mode);
}

int
ipc_access_finish(const char *url, const struct ipc_access *a, struct error *err)
{
	if (!is_ipc(url) || a == NULL || a->gid < 0)
		return 0;
	if (chown(url + strlen("ipc://"), (uid_t)-1, (gid_t)a->gid) != 0) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot give %s to group %ld: %s", url,
		    a->gid, strerror(errno));
		return -1;
	}
	return 0;
}

int
ipc_access_group(const char *group, long *gid, struct error *err)
{
	struct group *g;
	char *end;
	long n;

	*gid = -1;
	if (group == NULL || group[0] == '\0')
		return 0;
	n = strtol(group, &end, 10);
	if (*end == '\0' && n >= 0) {
		*gid = n;
		return 0;
	}
	if ((g = getgrnam(group)) == NULL) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "ipc-group: no group named \"%s\"",
		    group);
		return -1;
	}
	*gid = (long)g->gr_gid;
	return 0;
}
