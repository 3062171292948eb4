/*
 * http_url.h - the URL an HTTP listener of berthd is given (--http-listen,
 * --metrics-listen): http://HOST:PORT or https://HOST:PORT, HOST an IPv4
 * address, a bracketed IPv6 address or "localhost". No names are looked
 * up: what berthd binds is what the operator wrote.
 */
#ifndef BERTH_HTTP_URL_H
#define BERTH_HTTP_URL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "error.h"

struct http_url {
	bool tls;                     /* https:// */
	char host[64];                /* as written, without brackets, lower case */
	uint16_t port;                /* 0: the kernel chooses */
	struct sockaddr_storage addr; /* what to bind */
	socklen_t addr_len;
	bool loopback; /* 127.0.0.0/8, ::1, localhost */
	bool wildcard; /* 0.0.0.0 or :: (every address) */
};

/*
 * Parses `url` into *out. Returns 0, or INVALID_ARGUMENT with err saying
 * what is wrong ("--NAME URL: ..." with `option` as NAME).
 */
int http_url_parse(const char *option, const char *url, struct http_url *out, struct error *err);

/* True when both name the same address and port (and scheme). */
bool http_url_same(const struct http_url *a, const struct http_url *b);

#endif
