/*
 * spec_file.c - berth.yaml into a berth.v1.Spec (spec_file.h).
 *
 * libyaml loads the document; each template's mapping is turned into a
 * jansson object, every scalar typed by the proto field it is for (so that
 * `user: 1000` stays the string Template.user wants and `container_port:
 * 8080` is a number), then json_codec_to_message makes the Template. The
 * line of every key and value is kept under its path.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "json_codec.h"
#include "spec_file.h"
#include "supervision.h"

/* Nesting a spec may have (templates.web.health.kind is 4). */
#define SPEC_DEPTH_MAX 16
/* The one document's size: far above any real spec. */
#define SPEC_FILE_MAX (4 << 20)

struct reader {
	yaml_document_t *doc;
	struct spec_file *f;
	struct error *err;
	bool oom;
};

static int
fail_at(struct reader *r, const yaml_node_t *node, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* INVALID_ARGUMENT "NAME:LINE: path: what" at node's line. */
static int
fail_at(struct reader *r, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return error_set_field(r->err, BERTH__V1__CODE__INVALID_ARGUMENT, path, "INVALID_SPEC",
	    "%s:%lu: %s%s%s", r->f->name, node != NULL ? (unsigned long)node->start_mark.line + 1 : 0,
	    path, path[0] != '\0' ? ": " : "", what);
}

/* Keeps the line of path. */
static void
note_line(struct reader *r, const char *path, const yaml_node_t *node)
{
	struct spec_file *f = r->f;
	struct spec_line *grown;

	if ((f->n_lines & (f->n_lines - 1)) == 0) {
		grown = realloc(f->lines, (f->n_lines ? f->n_lines * 2 : 16) * sizeof(*grown));
		if (grown == NULL) {
			r->oom = true;
			return;
		}
		f->lines = grown;
	}
	f->lines[f->n_lines].path = strdup(path);
	if (f->lines[f->n_lines].path == NULL) {
		r->oom = true;
		return;
	}
	f->lines[f->n_lines++].line = (int)node->start_mark.line + 1;
}

static const char *
scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool
plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool
is_null(const yaml_node_t *n)
{
	return plain(n) && (strcmp(scalar(n), "~") == 0 || strcmp(scalar(n), "null") == 0 || scalar(n)[0] == '\0');
}

static int to_json(struct reader *r, const yaml_node_t *node, const ProtobufCFieldDescriptor *fd,
    bool element, const char *path, int depth, json_t **out);

/* A mapping as a message of type desc: keys are its field names. */
static int
message_to_json(struct reader *r, const yaml_node_t *node, const ProtobufCMessageDescriptor *desc,
    const char *path, int depth, json_t **out)
{
	json_t *obj;

	if (node->type != YAML_MAPPING_NODE)
		return fail_at(r, node, path, "must be a mapping of %s's fields", desc->short_name);
	if (depth > SPEC_DEPTH_MAX)
		return fail_at(r, node, path, "nested too deeply");
	if ((obj = json_object()) == NULL)
		return error_set(r->err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(r->doc, p->value);
		const ProtobufCFieldDescriptor *fd;
		char sub[256];
		json_t *value;
		int code;

		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
			json_decref(obj);
			return fail_at(r, k, path, "keys must be field names");
		}
		snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] != '\0' ? "." : "", scalar(k));
		fd = protobuf_c_message_descriptor_get_field_by_name(desc, scalar(k));
		if (fd == NULL) {
			json_decref(obj);
			return fail_at(r, k, sub, "unknown field (%s has no field '%s')",
			    desc->short_name, scalar(k));
		}
		if (json_object_get(obj, scalar(k)) != NULL) {
			json_decref(obj);
			return fail_at(r, k, sub, "given twice");
		}
		note_line(r, sub, k);
		if ((code = to_json(r, v, fd, false, sub, depth + 1, &value)) != 0) {
			json_decref(obj);
			return code;
		}
		json_object_set_new(obj, scalar(k), value);
	}
	*out = obj;
	return 0;
}

/* A scalar typed by the field's type: strings stay strings, numbers become numbers. */
static int
scalar_to_json(struct reader *r, const yaml_node_t *node, const ProtobufCFieldDescriptor *fd,
    const char *path, json_t **out)
{
	const char *s = scalar(node);
	char *end;

	if (node->type != YAML_SCALAR_NODE)
		return fail_at(r, node, path, "must be a single value");
	if (is_null(node)) {
		*out = json_null();
		return 0;
	}
	switch (fd->type) {
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
			*out = json_boolean(s[0] == 't');
			return 0;
		}
		return fail_at(r, node, path, "must be true or false, not '%s'", s);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		errno = 0;
		double d = strtod(s, &end);
		if (s[0] == '\0' || *end != '\0' || errno != 0)
			return fail_at(r, node, path, "must be a number, not '%s'", s);
		*out = json_real(d);
		return 0;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_ENUM:
		*out = json_string(s);
		return 0;
	default:
		/* Integers: as text, which the codec checks against the field's range. */
		if (!plain(node) || s[0] == '\0' || strspn(s + (s[0] == '-'), "0123456789") != strlen(s + (s[0] == '-')))
			return fail_at(r, node, path, "must be a whole number, not '%s'", s);
		*out = json_string(s);
		return 0;
	}
}

static int
to_json(struct reader *r, const yaml_node_t *node, const ProtobufCFieldDescriptor *fd,
    bool element, const char *path, int depth, json_t **out)
{
	int code;

	note_line(r, path, node);
	if (fd->label == PROTOBUF_C_LABEL_REPEATED && !element) {
		json_t *arr;
		size_t i = 0;

		if (is_null(node)) {
			*out = json_array();
			return 0;
		}
		if (node->type != YAML_SEQUENCE_NODE)
			return fail_at(r, node, path, "must be a list ([a, b] or one '- ' per line)");
		if ((arr = json_array()) == NULL)
			return error_set(r->err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++, i++) {
			yaml_node_t *item = yaml_document_get_node(r->doc, *it);
			char sub[256];
			json_t *value;

			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if ((code = to_json(r, item, fd, true, sub, depth + 1, &value)) != 0) {
				json_decref(arr);
				return code;
			}
			json_array_append_new(arr, value);
		}
		*out = arr;
		return 0;
	}
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		if (is_null(node)) {
			*out = json_null();
			return 0;
		}
		return message_to_json(r, node, fd->descriptor, path, depth, out);
	}
	return scalar_to_json(r, node, fd, path, out);
}

/* `instances: N` or `instances: [names]`. */
static int
read_instances(struct reader *r, const yaml_node_t *v, const char *path,
    Berth__V1__SpecTemplate *st)
{
	size_t n, i = 0;

	note_line(r, path, v);
	if (v->type == YAML_SCALAR_NODE) {
		char *end;
		unsigned long count;

		errno = 0;
		count = strtoul(scalar(v), &end, 10);
		if (!plain(v) || scalar(v)[0] == '\0' || scalar(v)[0] == '-' || *end != '\0' ||
		    errno != 0 || count > UINT32_MAX)
			return fail_at(r, v, path, "must be a number of instances or a list of names");
		st->instances = (uint32_t)count;
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return fail_at(r, v, path, "must be a number of instances or a list of names");
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	st->instance_names = calloc(n + 1, sizeof(char *));
	if (st->instance_names == NULL)
		return error_set(r->err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *item = yaml_document_get_node(r->doc, *it);
		char sub[320];

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		note_line(r, sub, item);
		if (item->type != YAML_SCALAR_NODE)
			return fail_at(r, item, sub, "must be an instance name");
		if ((st->instance_names[i] = strdup(scalar(item))) == NULL)
			return error_set(r->err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		st->n_instance_names = i + 1;
	}
	return 0;
}

/*
 * A health check's timings left out take `template add`'s defaults
 * (supervision.h), the timeout never above the interval: a spec says
 * `health: {kind: http, http_path: /health}` and means what the flags mean.
 */
static void
fill_health_timings(json_t *health)
{
	json_int_t interval = CLI_HEALTH_INTERVAL_S;
	json_t *given;

	if (!json_is_object(health))
		return;
	given = json_object_get(health, "interval_s");
	if (given == NULL || json_is_null(given))
		json_object_set_new(health, "interval_s", json_integer(interval));
	else if (json_is_string(given))
		interval = strtoll(json_string_value(given), NULL, 10);
	given = json_object_get(health, "timeout_s");
	if (given == NULL || json_is_null(given))
		json_object_set_new(health, "timeout_s",
		    json_integer(interval > 0 && interval < CLI_HEALTH_TIMEOUT_S ? interval
										 : CLI_HEALTH_TIMEOUT_S));
	given = json_object_get(health, "retries");
	if (given == NULL || json_is_null(given))
		json_object_set_new(health, "retries", json_integer(CLI_HEALTH_RETRIES));
}

/* One entry of `templates:` into a SpecTemplate (protobuf-c's allocator). */
static int
read_template(struct reader *r, const yaml_node_t *k, const yaml_node_t *v,
    Berth__V1__SpecTemplate *st)
{
	const char *name = scalar(k);
	char path[256], ipath[300];
	json_t *obj = NULL;
	struct error cerr;
	int code;

	snprintf(path, sizeof(path), "templates.%s", name);
	note_line(r, path, k);
	st->instances = 1;
	if (v->type == YAML_MAPPING_NODE) {
		/* instances is the spec's, not the Template's: read it apart. */
		yaml_node_pair_t *p = v->data.mapping.pairs.start;

		for (; p < v->data.mapping.pairs.top; p++) {
			yaml_node_t *pk = yaml_document_get_node(r->doc, p->key);

			if (pk->type == YAML_SCALAR_NODE && strcmp(scalar(pk), "instances") == 0) {
				snprintf(ipath, sizeof(ipath), "%s.instances", path);
				if ((code = read_instances(r, yaml_document_get_node(r->doc, p->value),
					 ipath, st)) != 0)
					return code;
				/* Hidden from the Template's reader below. */
				p->key = 0;
			}
		}
	}
	if (is_null(v)) {
		obj = json_object();
	} else if (v->type == YAML_MAPPING_NODE) {
		/* The mapping without the instances key (whose key was set to 0). */
		yaml_node_t copy = *v;
		yaml_node_pair_t pairs[512];
		size_t n = 0;

		for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
		     p < v->data.mapping.pairs.top && n < 512; p++)
			if (p->key != 0)
				pairs[n++] = *p;
		copy.data.mapping.pairs.start = pairs;
		copy.data.mapping.pairs.top = pairs + n;
		if ((code = message_to_json(r, &copy, &berth__v1__template__descriptor, path, 1,
			 &obj)) != 0)
			return code;
	} else {
		return fail_at(r, v, path, "must be a mapping of the template's fields");
	}
	if (obj == NULL)
		return error_set(r->err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	{
		json_t *given = json_object_get(obj, "name");

		if (given != NULL && json_is_string(given) && strcmp(json_string_value(given), name) != 0) {
			json_decref(obj);
			return fail_at(r, v, path, "name '%s' is not the key '%s'",
			    json_string_value(given), name);
		}
		json_object_set_new(obj, "name", json_string(name));
	}
	fill_health_timings(json_object_get(obj, "health"));
	code = json_codec_to_message(obj, &berth__v1__template__descriptor,
	    (ProtobufCMessage **)&st->template_, &cerr);
	json_decref(obj);
	if (code != 0) {
		char full[300];
		const char *what = cerr.message;
		size_t flen = strlen(cerr.field);

		/* A path longer than any real spec's is cut, and marked so. */
		if (snprintf(full, sizeof(full), "%s%s%s", path, flen ? "." : "", cerr.field) >=
		    (int)sizeof(full))
			memcpy(full + sizeof(full) - 4, "...", 4);
		if (flen > 0 && strncmp(what, cerr.field, flen) == 0)
			what += flen + (what[flen] == ':' ? 1 : 0);
		while (*what == ' ')
			what++;
		return error_set_field(r->err, code, full, "INVALID_SPEC", "%s:%d: %s: %s",
		    r->f->name, spec_file_line(r->f, full), full, what);
	}
	return 0;
}

static int
read_document(struct reader *r, yaml_node_t *root, Berth__V1__Spec *spec)
{
	yaml_node_t *templates = NULL;
	size_t n, i = 0;
	int code;

	if (root == NULL)
		return fail_at(r, NULL, "", "the file is empty: it needs 'templates:'");
	if (root->type != YAML_MAPPING_NODE)
		return fail_at(r, root, "", "the file must be a mapping with 'templates:'");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, p->key);

		if (k->type != YAML_SCALAR_NODE || strcmp(scalar(k), "templates") != 0)
			return fail_at(r, k, k->type == YAML_SCALAR_NODE ? scalar(k) : "",
			    "unknown key (the file has only 'templates:')");
		if (templates != NULL)
			return fail_at(r, k, "templates", "given twice");
		templates = yaml_document_get_node(r->doc, p->value);
		note_line(r, "templates", k);
	}
	if (templates == NULL)
		return fail_at(r, root, "", "'templates:' is missing");
	if (is_null(templates))
		return 0;
	if (templates->type != YAML_MAPPING_NODE)
		return fail_at(r, templates, "templates", "must map template names to their fields");
	n = (size_t)(templates->data.mapping.pairs.top - templates->data.mapping.pairs.start);
	spec->templates = calloc(n + 1, sizeof(*spec->templates));
	if (spec->templates == NULL)
		return error_set(r->err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	for (yaml_node_pair_t *p = templates->data.mapping.pairs.start;
	     p < templates->data.mapping.pairs.top; p++, i++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
		Berth__V1__SpecTemplate *st;

		if (k->type != YAML_SCALAR_NODE)
			return fail_at(r, k, "templates", "keys must be template names");
		for (size_t j = 0; j < i; j++)
			if (strcmp(spec->templates[j]->template_->name, scalar(k)) == 0)
				return fail_at(r, k, "templates", "template '%s' given twice",
				    scalar(k));
		if ((st = malloc(sizeof(*st))) == NULL)
			return error_set(r->err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		berth__v1__spec_template__init(st);
		spec->templates[i] = st;
		spec->n_templates = i + 1;
		if ((code = read_template(r, k, yaml_document_get_node(r->doc, p->value), st)) != 0)
			return code;
		if (r->oom)
			return error_set(r->err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	return 0;
}

int
spec_file_parse(const char *text, size_t len, const char *name, struct spec_file *out,
    struct error *err)
{
	struct reader r = { .f = out, .err = err };
	yaml_parser_t parser;
	yaml_document_t doc;
	int code;

	memset(out, 0, sizeof(*out));
	out->name = strdup(name);
	out->spec = malloc(sizeof(*out->spec));
	if (out->name == NULL || out->spec == NULL) {
		spec_file_free(out);
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	berth__v1__spec__init(out->spec);
	if (!yaml_parser_initialize(&parser)) {
		spec_file_free(out);
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		code = error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "%s:%lu: %s%s%s", name,
		    (unsigned long)parser.problem_mark.line + 1,
		    parser.problem != NULL ? parser.problem : "not YAML",
		    parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
		yaml_parser_delete(&parser);
		spec_file_free(out);
		return code;
	}
	r.doc = &doc;
	code = read_document(&r, yaml_document_get_root_node(&doc), out->spec);
	if (code == 0 && r.oom)
		code = error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (code != 0)
		spec_file_free(out);
	return code;
}

int
spec_file_load(const char *path, struct spec_file *out, struct error *err)
{
	FILE *f = fopen(path, "r");
	char *text;
	size_t len;
	int code;

	memset(out, 0, sizeof(*out));
	if (f == NULL)
		return error_set(err, BERTH__V1__CODE__NOT_FOUND, "%s: %s", path, strerror(errno));
	text = malloc(SPEC_FILE_MAX + 1);
	if (text == NULL) {
		fclose(f);
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	len = fread(text, 1, SPEC_FILE_MAX + 1, f);
	if (ferror(f) || len > SPEC_FILE_MAX) {
		code = error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "%s: %s", path,
		    ferror(f) ? "cannot be read" : "larger than 4 MiB");
	} else {
		code = spec_file_parse(text, len, path, out, err);
	}
	fclose(f);
	free(text);
	return code;
}

int
spec_file_line(const struct spec_file *f, const char *path)
{
	char key[300];

	snprintf(key, sizeof(key), "%s", path);
	while (key[0] != '\0') {
		char *cut;

		for (size_t i = 0; i < f->n_lines; i++)
			if (strcmp(f->lines[i].path, key) == 0)
				return f->lines[i].line;
		cut = strrchr(key, '[');
		if (cut == NULL || strrchr(key, '.') > cut)
			cut = strrchr(key, '.');
		if (cut == NULL)
			break;
		*cut = '\0';
	}
	return 0;
}

void
spec_file_free(struct spec_file *f)
{
	if (f == NULL)
		return;
	if (f->spec != NULL)
		protobuf_c_message_free_unpacked(&f->spec->base, NULL);
	for (size_t i = 0; i < f->n_lines; i++)
		free(f->lines[i].path);
	free(f->lines);
	free(f->name);
	memset(f, 0, sizeof(*f));
}
