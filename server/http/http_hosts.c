/*
 * http_hosts.c - Host and Origin checks of the HTTP listeners.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "berth/v1/berth.pb-c.h"
#include "http/http_hosts.h"

/*
 * Splits "NAME[:PORT]" or "[V6][:PORT]" into name (lower case, no
 * brackets) and port (default_port when absent). False when malformed.
 */
static bool
split_host(const char *text, size_t len, uint16_t default_port, char *name, size_t name_len,
    uint16_t *port)
{
	const char *colon = NULL, *name_start = text;
	size_t n;

	if (len == 0)
		return false;
	if (text[0] == '[') {
		const char *close = memchr(text, ']', len);

		if (close == NULL)
			return false;
		name_start = text + 1;
		n = (size_t)(close - name_start);
		if (close + 1 < text + len) {
			if (close[1] != ':')
				return false;
			colon = close + 1;
		}
	} else {
		colon = memrchr(text, ':', len);
		n = colon != NULL ? (size_t)(colon - text) : len;
		if (colon != NULL && memchr(text, ':', n) != NULL)
			return false; /* an IPv6 address without brackets */
	}
	if (n == 0 || n >= name_len)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name_start[i];

		if (c <= ' ' || c >= 0x7f || c == '/' || c == '@')
			return false;
		name[i] = (char)tolower(c);
	}
	name[n] = '\0';
	*port = default_port;
	if (colon != NULL) {
		unsigned long v = 0;
		const char *p = colon + 1, *end = text + len;

		if (p == end || end - p > 5)
			return false;
		for (; p < end; p++) {
			if (!isdigit((unsigned char)*p))
				return false;
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v == 0 || v > 65535)
			return false;
		*port = (uint16_t)v;
	}
	return true;
}

static void
add(struct http_hosts *h, const char *name, uint16_t port)
{
	if (h->n < HTTP_HOSTS_MAX) {
		snprintf(h->items[h->n].name, sizeof(h->items[h->n].name), "%s", name);
		h->items[h->n].port = port;
		h->n++;
	}
}

/*
 * Every address of the machine's interfaces: a listener on every address
 * is reached by any of them (a name an attacker controls never looks like
 * one of our addresses).
 */
static void
add_interface_addresses(struct http_hosts *h, uint16_t port)
{
	struct ifaddrs *list, *i;
	char ip[INET6_ADDRSTRLEN];

	if (getifaddrs(&list) != 0)
		return;
	for (i = list; i != NULL; i = i->ifa_next) {
		const void *a = NULL;

		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6)
			a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		if (a != NULL && inet_ntop(i->ifa_addr->sa_family, a, ip, sizeof(ip)) != NULL &&
		    strchr(ip, '%') == NULL)
			add(h, ip, port);
	}
	freeifaddrs(list);
}

void
http_hosts_init(struct http_hosts *h, const struct http_url *url, uint16_t port)
{
	char name[256];

	memset(h, 0, sizeof(*h));
	h->tls = url->tls;
	h->port = port;
	if (!url->wildcard)
		add(h, url->host, port);
	if (url->loopback || url->wildcard) {
		add(h, "localhost", port);
		add(h, "127.0.0.1", port);
		add(h, "::1", port);
	}
	if (url->wildcard && gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		for (char *p = name; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		add(h, name, port);
	}
	if (url->wildcard)
		add_interface_addresses(h, port);
}

int
http_hosts_add(struct http_hosts *h, const char *entry, struct error *err)
{
	char name[256];
	uint16_t port;

	if (!split_host(entry, strlen(entry), h->port, name, sizeof(name), &port))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "http-allowed-hosts: \"%s\" is not NAME, NAME:PORT or [IPv6]:PORT", entry);
	if (h->n >= HTTP_HOSTS_MAX)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "http-allowed-hosts: at most %d names", HTTP_HOSTS_MAX);
	add(h, name, port);
	return 0;
}

static bool
known(const struct http_hosts *h, const char *name, uint16_t port)
{
	for (unsigned i = 0; i < h->n; i++)
		if (h->items[i].port == port && strcmp(h->items[i].name, name) == 0)
			return true;
	return false;
}

bool
http_hosts_allow_host(const struct http_hosts *h, const char *host)
{
	char name[256];
	uint16_t port;

	if (host == NULL)
		return true;
	return split_host(host, strlen(host), h->port, name, sizeof(name), &port) &&
	    known(h, name, port);
}

bool
http_hosts_allow_origin(const struct http_hosts *h, const char *origin, const char *host)
{
	const char *scheme = h->tls ? "https://" : "http://";
	char origin_name[256], host_name[256];
	uint16_t origin_port, host_port;
	size_t len;

	if (origin == NULL)
		return true;
	len = strlen(scheme);
	if (host == NULL || strncasecmp(origin, scheme, len) != 0)
		return false;
	/* Without a port, both mean the scheme's default: that is what a browser leaves out. */
	if (!split_host(origin + len, strlen(origin + len), h->tls ? 443 : 80, origin_name,
		sizeof(origin_name), &origin_port) ||
	    !split_host(host, strlen(host), h->tls ? 443 : 80, host_name, sizeof(host_name),
		&host_port))
		return false;
	return origin_port == host_port && strcmp(origin_name, host_name) == 0;
}
