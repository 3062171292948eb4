/*
 * console_assets.h - the web console's static files (server/http/console/),
 * compiled into berthd by server/http/embed-console.sh.
 *
 * The HTTP gateway serves them on GET; what each file may do is bounded by
 * the gateway's Content-Security-Policy (no inline scripts or styles: the
 * console is index.html, console.css and console.js, nothing else).
 */
#ifndef BERTH_CONSOLE_ASSETS_H
#define BERTH_CONSOLE_ASSETS_H

#include <stddef.h>

struct console_asset {
	const char *path;          /* "/index.html", "/console.js", ... */
	const char *content_type;  /* "text/html; charset=utf-8", ... */
	const unsigned char *data; /* the file's bytes (static storage) */
	size_t size;
};

/*
 * The asset served at the URL path `path` (no query string): "/" is
 * index.html, anything else must name a file exactly. NULL when there is
 * none (the caller answers 404). Static data: nothing to free; any thread.
 */
const struct console_asset *console_asset_find(const char *path);

/* Every asset, for tests and listings: the table and its length. */
extern const struct console_asset console_assets[];
extern const size_t console_assets_count;

#endif
