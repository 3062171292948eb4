/*
 * http_hosts.h - which Host and Origin headers an HTTP listener answers:
 * the defence against DNS rebinding and cross-site requests.
 *
 * A web page elsewhere can make a browser send requests to berthd (a form
 * POST, or a name of its own that it re-points at 127.0.0.1). Such a
 * request names the attacker's host in Host, or carries the attacker's
 * page in Origin. So a listener answers only Host headers naming it: its
 * own address and port, for a loopback listener also localhost,
 * 127.0.0.1 and [::1] with that port, for one on every address also the
 * machine's name and the addresses of its interfaces, and the names
 * --http-allowed-hosts adds; and an Origin
 * header, when there is one, must be this listener's scheme and the very
 * host and port of the Host header.
 *
 * A Host without a port means the listener's own port (browsers always
 * send the port when it is not the scheme's default). Comparisons ignore
 * case. Pure functions of their arguments; any thread.
 */
#ifndef BERTH_HTTP_HOSTS_H
#define BERTH_HTTP_HOSTS_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http_url.h"
#include "error.h"

#define HTTP_HOSTS_MAX 64

struct http_hosts {
	bool tls;      /* the listener's scheme: https */
	uint16_t port; /* the listener's port, as bound */
	struct {
		char name[256]; /* lower case, IPv6 without brackets */
		uint16_t port;
	} items[HTTP_HOSTS_MAX];
	unsigned n;
};

/* The defaults for listener `url` bound on `port` (see above). */
void http_hosts_init(struct http_hosts *h, const struct http_url *url, uint16_t port);

/*
 * Adds "NAME", "NAME:PORT", "[V6]" or "[V6]:PORT" (no port: the listener's).
 * Returns 0, or INVALID_ARGUMENT with the reason in err.
 */
int http_hosts_add(struct http_hosts *h, const char *entry, struct error *err);

/* True when the Host header names this listener (NULL: HTTP/1.0 sent none; allowed). */
bool http_hosts_allow_host(const struct http_hosts *h, const char *host);

/*
 * True when there is no Origin header, or when it is this listener's
 * scheme and the same host and port as the Host header.
 */
bool http_hosts_allow_origin(const struct http_hosts *h, const char *origin, const char *host);

#endif
