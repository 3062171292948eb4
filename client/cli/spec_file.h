/*
 * spec_file.h - a berth.yaml file read into a berth.v1.Spec, with the line
 * of every value, so that a field path berthd names
 * ("templates.web.port_range_start") is reported at its line
 * ("berth.yaml:12: ...").
 *
 * The file:
 *
 *     templates:
 *       web:                      # the template's name
 *         image: berth-demo:latest
 *         container_port: 8080    # every Template field, spelled as in
 *         port_range_start: 18000 # the proto, with its proto type
 *         env: [GREETING=hello]
 *         health: {kind: http, http_path: /health}   # timings: template add's
 *         instances: 3            # or [blue, green]; absent: 1
 *
 * libyaml parses it; each value is typed by the proto field it is for and
 * handed to the shared JSON codec (common/json_codec.c) to make the
 * message, so every field of Template works without code here. Unknown
 * keys, wrong types and values out of range are errors at their line.
 */
#ifndef BERTH_CLI_SPEC_FILE_H
#define BERTH_CLI_SPEC_FILE_H

#include <stddef.h>

#include "berth/v1/berth.pb-c.h"
#include "error.h"

struct spec_line {
	char *path; /* "templates.web.env[1]" */
	int line;   /* 1-based */
};

struct spec_file {
	char *name;              /* as given, for messages */
	Berth__V1__Spec *spec;   /* protobuf-c's allocator */
	struct spec_line *lines; /* every key and value read */
	size_t n_lines;
};

/*
 * Parses text[0..len) read from the file `name`. Returns 0 with *out
 * filled (release with spec_file_free), or INVALID_ARGUMENT with err's
 * message "NAME:LINE: path: what" (and err->field the path), or
 * RESOURCE_EXHAUSTED.
 */
int spec_file_parse(const char *text, size_t len, const char *name, struct spec_file *out,
    struct error *err);

/* Reads the file at `path` and parses it. NOT_FOUND when it cannot be read. */
int spec_file_load(const char *path, struct spec_file *out, struct error *err);

/*
 * The line of `path` in the file: its own, or that of the closest value
 * above it ("templates.web.env[7]" -> "templates.web.env"); 0 if none.
 */
int spec_file_line(const struct spec_file *f, const char *path);

/* Frees what spec_file_parse made. NULL and a zeroed struct are fine. */
void spec_file_free(struct spec_file *f);

#endif
