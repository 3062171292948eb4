/*
 * docker_util.c - the small helpers every file of the Engine API client
 * uses: a growing buffer, request paths, jansson readers and builders, and
 * the checks of the ids and names that go into a path.
 *
 * Threads: no shared state; any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/docker_internal.h"

/* --- the buffer -------------------------------------------------------------- */

int
docker_buf_reserve(struct docker_buf *b, size_t more)
{
	size_t need, cap;
	char *p;

	if (b->no_memory || b->too_large)
		return -1;
	if (more > b->limit || b->len > b->limit - more) {
		b->too_large = true;
		return -1;
	}
	need = b->len + more + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap != 0 ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->no_memory = true;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
docker_buf_append(struct docker_buf *b, const void *data, size_t len)
{
	if (docker_buf_reserve(b, len) != 0)
		return -1;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
docker_buf_printf(struct docker_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || docker_buf_reserve(b, (size_t)n) != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
docker_buf_free(struct docker_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* --- request paths ------------------------------------------------------------ */

void
docker_path_add(struct docker_path *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(p->text + p->len, sizeof(p->text) - p->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(p->text) - p->len) {
		p->overflow = true;
		p->text[p->len] = '\0';
		return;
	}
	p->len += (size_t)n;
}

void
docker_path_escaped(struct docker_path *p, const char *value)
{
	char *e = curl_easy_escape(NULL, value, 0);

	if (e == NULL) {
		p->overflow = true;
		return;
	}
	docker_path_add(p, "%s", e);
	curl_free(e);
}

int
docker_path_filters(struct docker_path *p, const json_t *filters, struct error *err)
{
	char *text;

	if (filters == NULL || json_object_size(filters) == 0)
		return DOCKER_OK;
	/* jansson keeps the keys in the order they were set. */
	if ((text = json_dumps(filters, JSON_COMPACT)) == NULL)
		return docker_fail_memory(err);
	docker_path_add(p, "filters=");
	docker_path_escaped(p, text);
	free(text);
	return DOCKER_OK;
}

int
docker_filters(json_t **out, const char *k1, const char *v1, const char *k2, const char *v2,
    struct error *err)
{
	json_t *f;

	*out = NULL;
	if (v1 == NULL && v2 == NULL)
		return DOCKER_OK;
	if ((f = json_object()) == NULL)
		return docker_fail_memory(err);
	if ((v1 != NULL && json_object_set_new(f, k1, json_pack("[s]", v1)) != 0) ||
	    (v2 != NULL && json_object_set_new(f, k2, json_pack("[s]", v2)) != 0)) {
		json_decref(f);
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "filter is not UTF-8 (or out of memory)");
	}
	*out = f;
	return DOCKER_OK;
}

int
docker_fail_memory(struct error *err)
{
	return error_set(err, BERTH__V1__CODE__INTERNAL, "docker: out of memory");
}

/* --- checks -------------------------------------------------------------------- */

bool
docker_valid_ref(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

bool
docker_valid_image_ref(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 512 || strstr(s, "..") != NULL || s[0] == '/' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '.' || c == '-' || c == '/' || c == ':' || c == '@'))
			return false;
	}
	return true;
}

/* --- jansson ------------------------------------------------------------------- */

json_t *
docker_json_strings(const char *const *items, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (items[i] == NULL || json_array_append_new(a, json_string(items[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
docker_json_labels(const struct docker_label *labels, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; o != NULL && i < n; i++) {
		if (labels[i].key == NULL ||
		    json_object_set_new(o, labels[i].key,
			json_string(labels[i].value != NULL ? labels[i].value : "")) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

uint64_t
docker_json_u64(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* --- for the backends (docker.h) ----------------------------------------------- */

bool
docker_port_taken(const char *message)
{
	/*
	 * The engine's start: "port is already allocated", "bind: address
	 * already in use"; Swarm: "port '8080' is already in use by service".
	 */
	if (message == NULL)
		return false;
	return strstr(message, "already allocated") != NULL ||
	    strstr(message, "already in use") != NULL;
}

int
docker_fail_port_in_use(struct error *err)
{
	err->code = BERTH__V1__CODE__ABORTED;
	docker_copy_text(err->reason, sizeof(err->reason), DOCKER_REASON_PORT_IN_USE);
	return err->code;
}
