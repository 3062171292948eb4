/*
 * backend_swarm_image.c - the swarm backend's images: with --registry, an
 * image prepared (or rebuilt) on berthd's node is pushed to the registry
 * every node pulls from, and a service runs it pinned to the digest pushed.
 *
 * Threads: any worker; no shared state.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "clock.h"
#include "engine/backend.h"

static int64_t
left(int64_t deadline)
{
	return deadline - clock_monotonic_ms();
}

static bool
has_registry(const struct backend *b)
{
	return b->registry != NULL && b->registry[0] != '\0';
}

/*
 * The name of image t->image under --registry (repo "HOST:PORT/path" and
 * tag): 0; 1 when it names that registry already (its own repo and tag).
 */
static int
registry_name(struct backend *b, const char *image, char repo[300], char tag[160],
    struct error *err)
{
	int rc = docker_registry_reference(b->registry, image, repo, 300, tag, 160);

	if (rc < 0)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "image %s has no name under registry %s", image, b->registry), -1;
	return rc;
}

int
backend_swarm_prepare_image(struct backend *b, const Berth__V1__Template *t, int64_t timeout_ms,
    struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	char repo[300], tag[160], digest[80];
	int code, named;

	/* Present on this node, built here from the build context, or pulled. */
	if ((code = backend_engine_ops.prepare_image(b, t, timeout_ms, err)) != 0 ||
	    !has_registry(b))
		return code;
	/*
	 * Other nodes pull it themselves, so it goes to the registry they all
	 * reach; create pins the service to the digest pushed. Docker sends
	 * only the layers the registry lacks: a second push is quick.
	 */
	if ((named = registry_name(b, t->image, repo, tag, err)) < 0)
		return err->code;
	/*
	 * An image that names the registry already came from there, unless
	 * berthd builds it: then the registry has not seen these bytes yet.
	 */
	if (named == 1 && (t->build_context[0] == '\0' || strchr(t->image, '@') != NULL))
		return 0;
	if (named == 0 && (code = docker_counted(docker_image_tag(b->docker, t->image, repo, tag,
			      left(deadline), err))) != 0)
		return code;
	if ((code = docker_counted(docker_image_push(b->docker, repo, tag, digest, left(deadline),
		 err))) != 0)
		return code;
	log_info("image pushed image=%s repo=%s tag=%s digest=%s", t->image, repo, tag, digest);
	return 0;
}

/*
 * The image a service runs: t->image itself, or with --registry its name
 * there pinned to the digest pushed ("HOST:PORT/path:tag@sha256:..."),
 * from the local image's RepoDigests. So every node runs the same bytes,
 * a later push of the tag changes nothing that runs, and a recreation
 * (restart, rollout) that comes through create finds it without state.
 */
int
backend_swarm_service_image(struct backend *b, const char *image, char *out, size_t len, int64_t timeout_ms,
    struct error *err)
{
	char repo[300], tag[160], digest[80];
	int code, named;

	if (!has_registry(b)) {
		snprintf(out, len, "%s", image); /* nowhere to pin to */
		return 0;
	}
	if ((named = registry_name(b, image, repo, tag, err)) < 0)
		return err->code;
	if (named == 1 && strchr(image, '@') != NULL) {
		snprintf(out, len, "%s", image); /* pinned in the registry already */
		return 0;
	}
	code = docker_counted(docker_image_repo_digest(b->docker, image, repo, digest,
	    sizeof(digest), timeout_ms, err));
	if (code == BERTH__V1__CODE__NOT_FOUND && named == 1) {
		/* The registry's own name, never pulled here: each node resolves it. */
		error_clear(err);
		snprintf(out, len, "%s", image);
		return 0;
	}
	if (code == BERTH__V1__CODE__NOT_FOUND)
		err->code = code = BERTH__V1__CODE__FAILED_PRECONDITION; /* prepare_image did not push it */
	if (code != 0)
		return code;
	if ((size_t)snprintf(out, len, "%s:%s@%s", repo, tag, digest) >= len)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "image name too long");
	return 0;
}

/*
 * A rollout's --rebuild: built again on berthd's node like the engine's.
 * Only with --registry: a node that did not build it reaches the new
 * image there (each instance's update pushes it, prepare_image), and the
 * digest it is pinned to changes, so Swarm replaces the tasks. Without
 * one, the spec would name the same tag: Swarm would change nothing.
 * image_id is "" when the build gave the image the tag named before.
 */
int
backend_swarm_rebuild(struct backend *b, const Berth__V1__Template *t, char *const *build_args,
    size_t n_build_args, bool no_cache, char image_id[80], int64_t timeout_ms, struct error *err)
{
	if (!has_registry(b))
		return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "--rebuild with the swarm backend needs berthd --registry HOST:PORT, where every "
		    "node pulls the rebuilt image from");
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	char before[80] = "";
	struct error ignored = { 0 };
	int code;

	if (docker_image_id(b->docker, t->image, before, sizeof(before), timeout_ms, &ignored) != 0)
		before[0] = '\0';
	code = backend_engine_ops.rebuild(b, t, build_args, n_build_args, no_cache, image_id,
	    left(deadline), err);
	/*
	 * A swarm instance records no image ID (a service has none), so the
	 * rollout cannot compare: the build's own answer says whether the
	 * image changed. The same bytes as before: no new revision.
	 */
	if (code == 0 && before[0] != '\0' && strcmp(before, image_id) == 0) {
		log_info("rebuild made the same image image=%s id=%s", t->image, image_id);
		image_id[0] = '\0';
	}
	return code;
}
