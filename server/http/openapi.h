/*
 * openapi.h - the OpenAPI 3 document of the gateway, GET /v1/openapi.json.
 *
 * Written at build time by tools/gen_openapi.c from the descriptors
 * protoc-c generates (so it always matches the proto this berthd speaks)
 * and compiled in as $(BUILD)/openapi_json.c. Read-only, static storage.
 */
#ifndef BERTH_HTTP_OPENAPI_H
#define BERTH_HTTP_OPENAPI_H

#include <stddef.h>

extern const char openapi_json[];     /* NUL-terminated JSON */
extern const size_t openapi_json_len; /* without the NUL */

#endif
