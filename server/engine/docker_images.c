/*
 * docker_images.c - images: whether one is present, build (of a tarred
 * context, docker_tar.c), pull, remove.
 *
 * Threads: any; no state here.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/docker_internal.h"

int
docker_image_exists(struct docker *d, const char *image, bool *exists, int64_t timeout_ms,
    struct error *err)
{
	struct docker_request rq = { .method = "GET" };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	*exists = false;
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_image_ref(image))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	docker_path_add(&rq.path, "/images/%s/json", image);
	rc = docker_request(d, &rq, deadline, &resp, err);
	docker_response_free(&resp);
	if (rc == DOCKER_OK) {
		*exists = true;
	} else if (rc == BERTH__V1__CODE__NOT_FOUND) {
		error_clear(err);
		rc = DOCKER_OK;
	}
	return rc;
}

int
docker_image_id(struct docker *d, const char *image, char *out, size_t len, int64_t timeout_ms,
    struct error *err)
{
	struct docker_request rq = { .method = "GET", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	const char *id;
	int64_t deadline;
	int rc;

	out[0] = '\0';
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_image_ref(image))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	docker_path_add(&rq.path, "/images/%s/json", image);
	rc = docker_request(d, &rq, deadline, &resp, err);
	if (rc == DOCKER_OK && (id = docker_json_text(resp.json, "Id")) != NULL)
		docker_copy_text(out, len, id);
	docker_response_free(&resp);
	return rc;
}

int
docker_image_remove(struct docker *d, const char *image, bool force, int64_t timeout_ms,
    struct error *err)
{
	struct docker_request rq = { .method = "DELETE" };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_image_ref(image))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	docker_path_add(&rq.path, "/images/%s?force=%s", image, force ? "true" : "false");
	rc = docker_request(d, &rq, deadline, &resp, err);
	docker_response_free(&resp);
	return rc;
}

/*
 * A build or pull: POST whose answer streams JSON objects. An HTTP error or
 * an "error" object in the stream is FAILED_PRECONDITION with Docker's text.
 */
static int
stream_request(struct docker *d, struct docker_request *rq, int64_t deadline, const char *what,
    struct error *err)
{
	struct docker_response resp;
	int rc;

	rq->answer = DOCKER_ANSWER_STREAM;
	rc = docker_request(d, rq, deadline, &resp, err);
	if (rc == DOCKER_OK && resp.stream_error[0] != '\0') {
		rc = error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION, "%s failed: %s", what,
		    resp.stream_error);
	} else if (rc != DOCKER_OK && resp.status >= 400) {
		/* Refused before it started; Docker's message is in err already. */
		rc = err->code = BERTH__V1__CODE__FAILED_PRECONDITION;
	}
	docker_response_free(&resp);
	return rc;
}

int
docker_image_build(struct docker *d, const char *context_dir, const char *tag,
    int64_t timeout_ms, struct error *err)
{
	return docker_image_build_opts(d, context_dir, tag, NULL, 0, false, timeout_ms, err);
}

/* {"KEY": "VALUE", ...} of "KEY=VALUE" entries, malloc'ed; NULL when one has no '='. */
static char *
build_args_json(char *const *args, size_t n)
{
	json_t *o = json_object();
	char *out = NULL;
	size_t i;

	if (o == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(args[i], '=');
		char key[256];

		if (eq == NULL || eq == args[i] || (size_t)(eq - args[i]) >= sizeof(key))
			break;
		snprintf(key, sizeof(key), "%.*s", (int)(eq - args[i]), args[i]);
		json_object_set_new(o, key, json_string(eq + 1));
	}
	if (i == n)
		out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

int
docker_image_build_opts(struct docker *d, const char *context_dir, const char *tag,
    char *const *build_args, size_t n_build_args, bool no_cache, int64_t timeout_ms,
    struct error *err)
{
	char *args_json = NULL;
	struct docker_request rq = { .method = "POST", .content_type = "application/x-tar" };
	char *tar = NULL;
	size_t len = 0;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (context_dir == NULL || *context_dir == '\0')
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "no build context");
	if (!docker_valid_image_ref(tag))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image tag");
	if ((rc = docker_tar_context(context_dir, &tar, &len, err)) != DOCKER_OK)
		return rc;
	docker_path_add(&rq.path, "/build?t=");
	docker_path_escaped(&rq.path, tag);
	docker_path_add(&rq.path, "&rm=1&forcerm=1");
	if (no_cache)
		docker_path_add(&rq.path, "&nocache=1");
	if (n_build_args > 0) {
		if ((args_json = build_args_json(build_args, n_build_args)) == NULL) {
			free(tar);
			return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "build arguments are KEY=VALUE");
		}
		docker_path_add(&rq.path, "&buildargs=");
		docker_path_escaped(&rq.path, args_json);
		free(args_json);
	}
	rq.data = tar;
	rq.len = len;
	rc = stream_request(d, &rq, deadline, "build", err);
	free(tar);
	return rc;
}

int
docker_image_pull(struct docker *d, const char *image, int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "POST" };
	const char *at, *colon, *slash, *tag = "latest";
	size_t namelen;
	char *name;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_image_ref(image))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	/*
	 * Without a tag the engine would pull every tag. A ':' after the last
	 * '/' starts the tag; one before it belongs to a registry's host:port.
	 */
	namelen = strlen(image);
	if ((at = strchr(image, '@')) != NULL) {
		namelen = (size_t)(at - image);
		tag = at + 1;
	} else {
		colon = strrchr(image, ':');
		slash = strrchr(image, '/');
		if (colon != NULL && (slash == NULL || colon > slash)) {
			namelen = (size_t)(colon - image);
			tag = colon + 1;
		}
	}
	if (namelen == 0 || *tag == '\0')
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	if ((name = strndup(image, namelen)) == NULL)
		return docker_fail_memory(err);
	docker_path_add(&rq.path, "/images/create?fromImage=");
	docker_path_escaped(&rq.path, name);
	docker_path_add(&rq.path, "&tag=");
	docker_path_escaped(&rq.path, tag);
	free(name);
	return stream_request(d, &rq, deadline, "pull", err);
}
