/*
 * http_url.c - parsing the URL of an HTTP listener. Main thread, start-up.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/v1/berth.pb-c.h"
#include "http/http_url.h"

static int
bad(struct error *err, const char *option, const char *url, const char *why)
{
	return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
	    "--%s %s: %s (expected http://HOST:PORT or https://HOST:PORT, HOST an IP address "
	    "or localhost)",
	    option, url, why);
}

int
http_url_parse(const char *option, const char *url, struct http_url *out, struct error *err)
{
	const char *p, *host_end, *port_text;
	char *end;
	size_t host_len;
	long port;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		out->tls = true;
		p = url + 8;
	} else {
		return bad(err, option, url, "not an http:// or https:// URL");
	}
	if (*p == '[') {
		host_end = strchr(p, ']');
		if (host_end == NULL || host_end[1] != ':')
			return bad(err, option, url, "an IPv6 address needs [brackets] and a port");
		host_len = (size_t)(host_end - p - 1);
		p++;
		port_text = host_end + 2;
	} else {
		host_end = strchr(p, ':');
		if (host_end == NULL)
			return bad(err, option, url, "no port");
		host_len = (size_t)(host_end - p);
		port_text = host_end + 1;
	}
	if (host_len == 0 || host_len >= sizeof(out->host))
		return bad(err, option, url, "no host, or too long a host");
	for (size_t i = 0; i < host_len; i++)
		out->host[i] = (char)tolower((unsigned char)p[i]);
	out->host[host_len] = '\0';
	errno = 0;
	port = strtol(port_text, &end, 10);
	if (errno != 0 || end == port_text || port < 0 || port > 65535 || !isdigit((unsigned char)*port_text))
		return bad(err, option, url, "the port is not a number from 0 to 65535");
	if (*end != '\0' && strcmp(end, "/") != 0)
		return bad(err, option, url, "a listener URL has no path");
	out->port = (uint16_t)port;

	if (strcmp(out->host, "localhost") == 0 || strchr(out->host, ':') == NULL) {
		struct sockaddr_in *in = (struct sockaddr_in *)&out->addr;
		const char *ip = strcmp(out->host, "localhost") == 0 ? "127.0.0.1" : out->host;

		in->sin_family = AF_INET;
		in->sin_port = htons(out->port);
		if (inet_pton(AF_INET, ip, &in->sin_addr) != 1)
			return bad(err, option, url, "the host is not an IPv4 address or localhost");
		out->addr_len = sizeof(*in);
		out->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
		out->wildcard = in->sin_addr.s_addr == htonl(INADDR_ANY);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->addr;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(out->port);
		if (inet_pton(AF_INET6, out->host, &in6->sin6_addr) != 1)
			return bad(err, option, url, "the host is not an IPv6 address");
		out->addr_len = sizeof(*in6);
		out->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		out->wildcard = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
	}
	return 0;
}

bool
http_url_same(const struct http_url *a, const struct http_url *b)
{
	return a->tls == b->tls && a->addr_len == b->addr_len && a->port == b->port &&
	    memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}
