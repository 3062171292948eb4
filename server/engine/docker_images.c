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

/* --- a registry: tag, push, and the reference every node pulls ------------- */

/*
 * Whether the first component of a reference names a registry host
 * (Docker's rule: it holds a '.' or a ':' or is "localhost"), as in
 * "host:5000/x/web"; "library/web" has none.
 */
static bool
names_registry_host(const char *image, size_t first_len)
{
	return memchr(image, '.', first_len) != NULL || memchr(image, ':', first_len) != NULL ||
	    (first_len == 9 && strncmp(image, "localhost", 9) == 0);
}

int
docker_registry_reference(const char *registry, const char *image, char *repo, size_t repo_len,
    char *tag, size_t tag_len)
{
	const char *path = image, *slash = strchr(image, '/'), *at, *colon, *last;
	size_t path_len, reg_len = strlen(registry);
	int n, there = 0;

	repo[0] = tag[0] = '\0';
	if (reg_len == 0 || image[0] == '\0')
		return -1;
	if (slash != NULL && names_registry_host(image, (size_t)(slash - image))) {
		if ((size_t)(slash - image) == reg_len && strncmp(image, registry, reg_len) == 0)
			there = 1; /* already there: its own name */
		path = slash + 1;
	}
	/* path[:tag][@digest]: a ':' after the last '/' starts the tag. */
	at = strchr(path, '@');
	path_len = at != NULL ? (size_t)(at - path) : strlen(path);
	last = memrchr(path, '/', path_len);
	last = last != NULL ? last + 1 : path; /* the last component */
	colon = memchr(last, ':', path_len - (size_t)(last - path));
	if (colon != NULL) {
		n = snprintf(tag, tag_len, "%.*s", (int)(path_len - (size_t)(colon - path) - 1), colon + 1);
		path_len = (size_t)(colon - path);
	} else if (at != NULL && strncmp(at + 1, "sha256:", 7) == 0) {
		/* Only a digest: a tag that says which ("sha256-<hex>"), not a "latest" it is not. */
		n = snprintf(tag, tag_len, "sha256-%s", at + 8);
	} else {
		n = snprintf(tag, tag_len, "latest");
	}
	if (n <= 0 || (size_t)n >= tag_len || path_len == 0)
		return repo[0] = tag[0] = '\0', -1;
	n = snprintf(repo, repo_len, "%s/%.*s", registry, (int)path_len, path);
	if (n <= 0 || (size_t)n >= repo_len)
		return repo[0] = tag[0] = '\0', -1;
	return there;
}

void
docker_push_line(struct docker_push_progress *p, const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *text;

	if (!json_is_object(o)) {
		json_decref(o);
		return;
	}
	text = docker_json_text(o, "error");
	if (text == NULL)
		text = docker_json_text(json_object_get(o, "errorDetail"), "message");
	if (text != NULL && p->error[0] == '\0')
		docker_copy_text(p->error, sizeof(p->error), text);
	if ((text = docker_json_text(json_object_get(o, "aux"), "Digest")) != NULL)
		docker_copy_text(p->digest, sizeof(p->digest), text);
	json_decref(o);
}

/* DOCKER_ANSWER_SINK of a push: each complete line to docker_push_line. */
static int
push_sink(void *arg, struct docker_buf *b, bool final)
{
	struct docker_push_progress *p = arg;
	size_t start = 0;
	char *nl;

	while (start < b->len && (nl = memchr(b->data + start, '\n', b->len - start)) != NULL) {
		docker_push_line(p, b->data + start, (size_t)(nl - b->data) - start);
		start = (size_t)(nl - b->data) + 1;
	}
	if (final && start < b->len) {
		docker_push_line(p, b->data + start, b->len - start);
		start = b->len;
	}
	if (start > 0) {
		memmove(b->data, b->data + start, b->len - start);
		b->len -= start;
		b->data[b->len] = '\0';
	}
	return 0;
}

int
docker_push_error_code(const char *message)
{
	/* The registry did not answer (down, unreachable): may work later. */
	static const char *const unreachable[] = { "connection refused", "no such host",
		"i/o timeout", "connection reset", "no route to host", "network is unreachable",
		"dial tcp", "EOF" };

	for (size_t i = 0; i < sizeof(unreachable) / sizeof(unreachable[0]); i++)
		if (strstr(message, unreachable[i]) != NULL)
			return BERTH__V1__CODE__UNAVAILABLE;
	return BERTH__V1__CODE__FAILED_PRECONDITION;
}

int
docker_image_tag(struct docker *d, const char *image, const char *repo, const char *tag,
    int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "POST" };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_image_ref(image))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	docker_path_add(&rq.path, "/images/%s/tag?repo=", image);
	docker_path_escaped(&rq.path, repo);
	docker_path_add(&rq.path, "&tag=");
	docker_path_escaped(&rq.path, tag);
	rc = docker_request(d, &rq, deadline, &resp, err);
	docker_response_free(&resp);
	return rc;
}

int
docker_image_push(struct docker *d, const char *repo, const char *tag, char digest[80],
    int64_t timeout_ms, struct error *err)
{
	/* base64url of "{}": no credentials, as an open registry wants; Docker requires the header. */
	struct docker_push_progress p = { .error = "", .digest = "" };
	struct docker_request rq = { .method = "POST", .answer = DOCKER_ANSWER_SINK,
		.sink = push_sink, .sink_arg = &p, .header = "X-Registry-Auth: e30=" };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	digest[0] = '\0';
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_image_ref(repo))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	docker_path_add(&rq.path, "/images/%s/push?tag=", repo);
	docker_path_escaped(&rq.path, tag);
	rc = docker_request(d, &rq, deadline, &resp, err);
	docker_response_free(&resp);
	if (rc == DOCKER_OK && p.error[0] != '\0')
		return error_set(err, docker_push_error_code(p.error), "push of %s:%s failed: %s",
		    repo, tag, p.error);
	if (rc != DOCKER_OK)
		return rc;
	if (p.digest[0] == '\0')
		return error_set(err, BERTH__V1__CODE__INTERNAL,
		    "push of %s:%s: Docker told no digest", repo, tag);
	docker_copy_text(digest, 80, p.digest);
	return DOCKER_OK;
}

int
docker_image_repo_digest(struct docker *d, const char *image, const char *repo, char *out,
    size_t len, int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "GET", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	size_t repo_len = strlen(repo), i;
	json_t *digests, *v;
	int64_t deadline;
	int rc;

	out[0] = '\0';
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_image_ref(image))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	docker_path_add(&rq.path, "/images/%s/json", image);
	if ((rc = docker_request(d, &rq, deadline, &resp, err)) != DOCKER_OK)
		return rc;
	digests = json_object_get(resp.json, "RepoDigests");
	json_array_foreach(digests, i, v) {
		const char *s = json_string_value(v);
		/* "HOST:PORT/path@sha256:..." of exactly this repository. */
		if (s != NULL && strncmp(s, repo, repo_len) == 0 && s[repo_len] == '@') {
			docker_copy_text(out, len, s + repo_len + 1);
			break;
		}
	}
	docker_response_free(&resp);
	if (out[0] == '\0')
		return error_set(err, BERTH__V1__CODE__NOT_FOUND, "%s was never pushed to %s", image,
		    repo);
	return DOCKER_OK;
}
