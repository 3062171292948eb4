/*
 * http.h - a minimal HTTP/1.0 client for tests: talks to the demo service
 * on 127.0.0.1 only.
 */
#ifndef BERTH_TEST_HTTP_H
#define BERTH_TEST_HTTP_H

#include <stdint.h>

/*
 * GET http://127.0.0.1:<port><path>, retrying connection failures for up to
 * wait_ms (a container needs a moment to listen). Returns the HTTP status,
 * or -1; *body (malloc'ed, may be NULL) receives the body.
 */
int http_get(uint16_t port, const char *path, int wait_ms, char **body);

#endif
