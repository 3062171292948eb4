/*
 * docker_event_stream.c - GET /events: Docker's event stream, parsed line
 * by line into struct docker_event and handed to the caller's handler.
 *
 * The stream runs on a curl multi handle so that the loop wakes at least
 * every EVENTS_POLL_MS to look at *stop: an idle stream sends nothing for
 * hours, and libcurl's progress callback fires only about once a second.
 * Callbacks here only buffer; lines are parsed and handed to the handler
 * between curl_multi_perform calls, on the caller's thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "engine/docker_internal.h"

#define EVENTS_POLL_MS 200
#define EVENTS_REPLAY_S 1

struct event_stream {
	struct docker_buf data; /* received, not yet handed out: complete lines,
	    then a partial one */
	bool headers_done;      /* the blank line after the headers was seen */
	bool paused;            /* the write callback asked curl to hold data back */
	bool line_too_large;
};

static size_t
events_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct event_stream *s = userdata;
	size_t n = size * nmemb;

	if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n'))
		s->headers_done = true;
	return n;
}

static size_t
events_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct event_stream *s = userdata;
	size_t n = size * nmemb;

	if (s->data.len + n > DOCKER_STREAM_LINE_MAX) {
		/* Hand out what is complete first; curl keeps this chunk for later. */
		if (s->data.len > 0 && memchr(s->data.data, '\n', s->data.len) != NULL) {
			s->paused = true;
			return CURL_WRITEFUNC_PAUSE;
		}
		s->line_too_large = true;
		return 0;
	}
	if (docker_buf_append(&s->data, ptr, n) != 0)
		return 0;
	return n;
}

/* Actor.Attributes.exitCode ("137"), or -1. */
static int
event_exit_code(const char *text)
{
	char *end;
	long v;

	if (text == NULL || *text == '\0')
		return -1;
	v = strtol(text, &end, 10);
	if (*end != '\0' || v < 0 || v > 255)
		return -1;
	return (int)v;
}

/* One line of the stream; false when it is not an event object. */
static bool
event_from_json(const char *line, size_t len, struct docker_event *ev)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	json_t *actor, *attrs;
	const char *id;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(o)) {
		json_decref(o);
		return false;
	}
	actor = json_object_get(o, "Actor");
	attrs = json_object_get(actor, "Attributes");
	id = docker_json_text(actor, "ID");
	if (id == NULL)
		id = docker_json_text(o, "id");
	docker_copy_text(ev->type, sizeof(ev->type), docker_json_text(o, "Type"));
	docker_copy_text(ev->action, sizeof(ev->action), docker_json_text(o, "Action"));
	docker_copy_text(ev->id, sizeof(ev->id), id);
	docker_copy_text(ev->name, sizeof(ev->name), docker_json_text(attrs, "name"));
	docker_copy_text(ev->label_service, sizeof(ev->label_service),
	    docker_json_text(attrs, DOCKER_LABEL_SERVICE));
	docker_copy_text(ev->label_data_dir, sizeof(ev->label_data_dir),
	    docker_json_text(attrs, DOCKER_LABEL_DATA_DIR));
	docker_copy_text(ev->swarm_service_id, sizeof(ev->swarm_service_id),
	    docker_json_text(attrs, "com.docker.swarm.service.id"));
	ev->exit_code = event_exit_code(docker_json_text(attrs, "exitCode"));
	ev->time_nano = (int64_t)json_integer_value(json_object_get(o, "timeNano"));
	/* Podman names a container's removal "remove"; Docker, whose word berth uses, "destroy". */
	if (strcmp(ev->type, "container") == 0 && strcmp(ev->action, "remove") == 0)
		docker_copy_text(ev->action, sizeof(ev->action), "destroy");
	json_decref(o);
	return ev->action[0] != '\0';
}

/*
 * Hands every complete line (every line when `final`) to the handler.
 * Returns non-zero when the handler asked to stop.
 */
static int
events_dispatch(struct event_stream *s, const struct docker_events_handler *h, bool final)
{
	struct docker_buf *b = &s->data;
	size_t start = 0;
	int stop = 0;

	while (stop == 0 && start < b->len) {
		char *nl = memchr(b->data + start, '\n', b->len - start);
		size_t end = nl != NULL ? (size_t)(nl - b->data) : b->len;
		struct docker_event ev;

		if (nl == NULL && !final)
			break;
		if (end > start && event_from_json(b->data + start, end - start, &ev))
			stop = h->on_event(h->arg, &ev);
		start = nl != NULL ? end + 1 : end;
	}
	if (start > 0) {
		memmove(b->data, b->data + start, b->len - start);
		b->len -= start;
		b->data[b->len] = '\0';
	}
	return stop;
}

/* /events?since=...&filters=..., url-encoded. */
static int
events_path(struct docker_path *path, const char *const *types, const char *label_filter,
    struct error *err)
{
	static const char *const containers_only[] = { "container", NULL };
	json_t *filters, *type_list;
	int rc;

	/* {"type":[...],"label":[...]}: jansson keeps the keys in this order. */
	filters = json_object();
	type_list = json_array();
	for (const char *const *t = types != NULL ? types : containers_only; *t != NULL; t++)
		json_array_append_new(type_list, json_string(*t));
	/* json_object_set_new takes type_list, also when it fails. */
	if (filters == NULL || type_list == NULL ||
	    json_object_set_new(filters, "type", json_incref(type_list)) != 0 ||
	    (label_filter != NULL &&
		json_object_set_new(filters, "label", json_pack("[s]", label_filter)) != 0)) {
		json_decref(filters);
		json_decref(type_list);
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "label filter is not UTF-8");
	}
	json_decref(type_list);
	docker_path_add(path, "/events?since=%lld&", (long long)time(NULL) - EVENTS_REPLAY_S);
	rc = docker_path_filters(path, filters, err);
	json_decref(filters);
	if (rc == DOCKER_OK && path->overflow)
		rc = error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "label filter is too long");
	return rc;
}

/* Sets up the easy handle: the common options, then the stream's own. */
static int
events_handle(struct docker *d, CURL *h, const char *url, struct event_stream *s, char *errbuf)
{
	/* No total timeout: the stream lasts as long as the daemon. */
	CURLcode cc = docker_curl_options(d, h, url, 0L, DOCKER_CONNECT_TIMEOUT_MS, errbuf);

#define SET(opt, val)                                           \
	do {                                                    \
		if (cc == CURLE_OK)                             \
			cc = curl_easy_setopt(h, (opt), (val)); \
	} while (0)
	SET(CURLOPT_WRITEFUNCTION, events_write);
	SET(CURLOPT_WRITEDATA, s);
	SET(CURLOPT_HEADERFUNCTION, events_header);
	SET(CURLOPT_HEADERDATA, s);
	/* A remote engine that vanishes without a FIN is noticed within a minute. */
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, 30L);
	SET(CURLOPT_TCP_KEEPINTVL, 10L);
#undef SET
	return cc == CURLE_OK ? 0 : -1;
}

/* Why the transfer ended (it was not stopped by us). */
static int
events_result(struct docker *d, CURLcode cc, long status, bool connected,
    struct event_stream *s, const char *errbuf, struct error *err)
{
	const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);

	if (s->line_too_large)
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "an event from Docker exceeds %zu bytes", DOCKER_STREAM_LINE_MAX);
	if (s->data.no_memory)
		return docker_fail_memory(err);
	if (cc == CURLE_OK && status != 200 && status != 0)
		return docker_http_error(status, s->data.data, s->data.len, err);
	if (cc == CURLE_OK || connected) {
		return error_set(err, BERTH__V1__CODE__UNAVAILABLE,
		    "Docker ended the event stream%s%s",
		    cc != CURLE_OK ? ": " : "", cc != CURLE_OK ? why : "");
	}
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return error_set(err, BERTH__V1__CODE__UNAVAILABLE,
		    "Docker did not accept a connection within %d ms", DOCKER_CONNECT_TIMEOUT_MS);
	if (docker_connect_failure(cc))
		return docker_unreachable(d, why, err);
	return error_set(err, BERTH__V1__CODE__INTERNAL, "docker GET /events: %s", why);
}

int
docker_events_follow(struct docker *d, const char *label_filter,
    const struct docker_events_handler *h, atomic_bool *stop, struct error *err)
{
	return docker_events_follow_types(d, NULL, label_filter, h, stop, err);
}

int
docker_events_follow_types(struct docker *d, const char *const *types,
    const char *label_filter, const struct docker_events_handler *h, atomic_bool *stop,
    struct error *err)
{
	struct event_stream s = { .data = { .limit = DOCKER_STREAM_LINE_MAX } };
	struct docker_path path = { .len = 0 };
	struct docker_buf url = { .limit = 65536 };
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLM *m = NULL;
	CURL *easy = NULL;
	CURLcode cc = CURLE_OK;
	bool connected = false, added = false, stopped = false;
	int64_t deadline = 0, next_tick = 0;
	long status = 0;
	int rc, running = 1;

	if ((rc = docker_begin(d, 2 * DOCKER_CONNECT_TIMEOUT_MS, &deadline, err)) != DOCKER_OK)
		return rc;
	if (h == NULL || h->on_event == NULL || stop == NULL)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "docker_events_follow: no handler");
	if ((rc = docker_negotiate(d, deadline, err)) != DOCKER_OK)
		return rc;
	if ((rc = events_path(&path, types, label_filter, err)) != DOCKER_OK)
		goto out;
	docker_buf_printf(&url, "%s/v%s%s", d->base_url, d->version, path.text);
	if (url.data == NULL || url.no_memory || url.too_large) {
		rc = docker_fail_memory(err);
		goto out;
	}
	if ((easy = curl_easy_init()) == NULL || (m = curl_multi_init()) == NULL) {
		rc = docker_fail_memory(err);
		goto out;
	}
	if (events_handle(d, easy, url.data, &s, errbuf) != 0 ||
	    curl_multi_add_handle(m, easy) != CURLM_OK) {
		rc = error_set(err, BERTH__V1__CODE__INTERNAL, "docker: cannot set up curl");
		goto out;
	}
	added = true;

	while (running) {
		CURLMcode mc;

		if (atomic_load(stop)) {
			stopped = true;
			break;
		}
		if ((mc = curl_multi_perform(m, &running)) != CURLM_OK) {
			rc = error_set(err, BERTH__V1__CODE__INTERNAL, "docker: %s",
			    curl_multi_strerror(mc));
			goto out;
		}
		if (!connected && s.headers_done) {
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
			if (status == 200) {
				connected = true;
				next_tick = clock_monotonic_ms() + EVENTS_POLL_MS;
				if (h->on_connected != NULL && h->on_connected(h->arg) != 0) {
					stopped = true;
					break;
				}
			}
		}
		if (!connected && s.paused) {
			/* An error answer with more than a line's worth of text. */
			s.line_too_large = true;
			rc = events_result(d, cc, status, connected, &s, errbuf, err);
			goto out;
		}
		if (connected) {
			if (events_dispatch(&s, h, false) != 0) {
				stopped = true;
				break;
			}
			if (s.paused) {
				s.paused = false;
				curl_easy_pause(easy,
				    CURLPAUSE_CONT); /* may call events_write again */
				continue;
			}
			if (h->on_tick != NULL && clock_monotonic_ms() >= next_tick) {
				next_tick = clock_monotonic_ms() + EVENTS_POLL_MS;
				if (h->on_tick(h->arg) != 0) {
					stopped = true;
					break;
				}
			}
		}
		if (running && (mc = curl_multi_poll(m, NULL, 0, EVENTS_POLL_MS,
		    NULL)) != CURLM_OK) {
			rc = error_set(err, BERTH__V1__CODE__INTERNAL, "docker: %s",
			    curl_multi_strerror(mc));
			goto out;
		}
	}
	if (stopped) {
		error_clear(err);
		rc = DOCKER_OK;
		goto out;
	}
	for (CURLMsg *msg; (msg = curl_multi_info_read(m, &(int){ 0 })) != NULL;)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy)
			cc = msg->data.result;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (connected && status == 200 && events_dispatch(&s, h, true) != 0) {
		error_clear(err);
		rc = DOCKER_OK;
		goto out;
	}
	rc = events_result(d, cc, status, connected, &s, errbuf, err);
out:
	if (added)
		curl_multi_remove_handle(m, easy);
	curl_easy_cleanup(easy);
	curl_multi_cleanup(m);
	docker_buf_free(&s.data);
	docker_buf_free(&url);
	return rc;
}
