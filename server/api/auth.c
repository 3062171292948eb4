/*
 * auth.c - listener policy at start-up; the authorize and audit hooks of
 * every call.
 *
 * Threads: auth_configure runs on the main thread before the RPC server
 * starts; the hooks run on worker threads and only read the policy (set
 * once, before the workers exist) and use the worker's own registry.
 */
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>

#include "api/auth.h"
#include "http/http_url.h"
#include "store/audit.h"
#include "core/berthd.h"
#include "base/log.h"
#include "rpc_method.h"
#include "store/tokens.h"

enum listener_kind { LISTEN_IPC, LISTEN_TCP, LISTEN_TLS, LISTEN_OTHER };

static enum listener_kind
listener_kind(const char *url)
{
	static const struct {
		const char *scheme;
		enum listener_kind kind;
	} schemes[] = {
		{ "ipc://", LISTEN_IPC },
		{ "tcp://", LISTEN_TCP },
		{ "tcp4://", LISTEN_TCP },
		{ "tcp6://", LISTEN_TCP },
		{ "tls+tcp://", LISTEN_TLS },
		{ "tls+tcp4://", LISTEN_TLS },
		{ "tls+tcp6://", LISTEN_TLS },
	};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(url, schemes[i].scheme, strlen(schemes[i].scheme)) == 0)
			return schemes[i].kind;
	return LISTEN_OTHER;
}

static bool
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int
auth_configure(struct auth_policy *p, const struct config *c, struct error *err)
{
	bool network = false, tls = false, http_network = false, http_tls = false;
	bool mutual = set(c->tls_client_ca);

	for (size_t i = 0; i < c->listen.n; i++) {
		switch (listener_kind(c->listen.items[i])) {
		case LISTEN_IPC:
			break;
		case LISTEN_TCP:
			network = true;
			break;
		case LISTEN_TLS:
			network = tls = true;
			break;
		case LISTEN_OTHER:
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "cannot listen on %s: berthd serves ipc://, tcp:// and tls+tcp:// only",
			    c->listen.items[i]);
			return -1;
		}
	}
	/* The HTTP gateway is a listener as tcp:// is, unless it is on loopback only. */
	if (c->http_listen[0] != '\0') {
		struct http_url url;

		if (http_url_parse("http-listen", c->http_listen, &url, err) != 0)
			return -1;
		if (url.tls && (!set(c->tls_cert) || !set(c->tls_key))) {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "an https:// --http-listen needs --tls-cert and --tls-key");
			return -1;
		}
		http_network = !url.loopback;
		http_tls = url.tls;
	}
	p->enabled = strcmp(c->auth, "on") == 0 ||
	    (strcmp(c->auth, "auto") == 0 && (network || http_network));
	if (http_network && !p->enabled) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "refusing to serve --http-listen %s without authentication: anyone who reaches "
		    "it could run containers; use --auth on (tokens), preferably over https://",
		    c->http_listen);
		return -1;
	}
	if (c->http_listen[0] != '\0' && !p->enabled)
		log_warn("the HTTP gateway on loopback has no authentication: every local user and "
			 "program is admin url=%s",
		    c->http_listen);
	else if (http_network && strncmp(c->http_listen, "http://", 7) == 0)
		log_warn("tokens travel in clear text on this listener, prefer https:// url=%s",
		    c->http_listen);
	p->ipc_admin = strcmp(c->ipc_admin, "on") == 0;

	if (tls && (!set(c->tls_cert) || !set(c->tls_key))) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "a tls+tcp:// listener needs --tls-cert and --tls-key");
		return -1;
	}
	if (!tls && !http_tls && (set(c->tls_cert) || set(c->tls_key) || mutual))
		log_warn("TLS settings given but no tls+tcp:// listener uses them");
	for (size_t i = 0; i < c->listen.n && !p->enabled; i++) {
		enum listener_kind kind = listener_kind(c->listen.items[i]);

		/* Anyone who reaches it could run containers: root on this host. */
		if (kind == LISTEN_TCP || (kind == LISTEN_TLS && !mutual)) {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "refusing to listen on %s without authentication: anyone who reaches it "
			    "could run containers; use --auth on (tokens)%s",
			    c->listen.items[i],
			    kind == LISTEN_TLS ? " or --tls-client-ca (mutual TLS)"
						   : ", preferably on tls+tcp://");
			return -1;
		}
	}
	for (size_t i = 0; i < c->listen.n; i++) {
		if (listener_kind(c->listen.items[i]) == LISTEN_TCP)
			log_warn("tokens travel in clear text on this listener, prefer tls+tcp:// url=%s",
			    c->listen.items[i]);
		if (listener_kind(c->listen.items[i]) == LISTEN_TLS && !p->enabled)
			log_warn("authentication off: every client with a certificate from the client "
				 "CA is admin url=%s client_ca=%s",
			    c->listen.items[i], c->tls_client_ca);
	}
	log_info("authentication auth=%s ipc_admin=%s", p->enabled ? "on" : "off",
	    p->ipc_admin ? "on" : "off");
	return 0;
}

/*
 * A method anyone may call (Health): never refused, but a token that is
 * sent is still evaluated, so that the handler can tell the caller what
 * it may do (HealthResponse.caller_role; the web console hides the rest).
 * call->role stays RPC_ROLE_PUBLIC when no valid token came; a store error
 * counts as no valid token rather than failing the call.
 */
static int
authorize_public(struct call *call, bool local_admin)
{
	struct token_info who;
	struct error err;

	call->role = RPC_ROLE_PUBLIC;
	if (call->token[0] == '\0') {
		if (local_admin)
			call->role = RPC_ROLE_ADMIN;
		return 0;
	}
	call->principal[0] = '\0';
	if (tokens_verify(call_registry(call), call->token, &who, &err) == 0) {
		snprintf(call->principal, sizeof(call->principal), "%s", who.name);
		call->role = who.role;
	}
	return 0;
}

int
auth_authorize(void *app, struct call *call, const struct rpc_route *route)
{
	struct berthd *d = app;
	enum rpc_role need = route->min_role == RPC_ROLE_UNSET ? RPC_ROLE_ADMIN : route->min_role;
	bool local = call->peer_family == NNG_AF_IPC;
	struct token_info who;
	struct error err;
	int code;

	if (local)
		snprintf(call->principal, sizeof(call->principal), "local");
	if (!d->auth->enabled) {
		call->role = RPC_ROLE_ADMIN; /* no tokens: whoever reaches the socket */
		return 0;
	}
	if (need == RPC_ROLE_PUBLIC)
		return authorize_public(call, local && d->auth->ipc_admin);
	if (call->token[0] == '\0') {
		if (local && d->auth->ipc_admin) {
			call->role = RPC_ROLE_ADMIN; /* "local", as admin: the operator turned that on */
			return 0;
		}
		call->principal[0] = '\0';
		return call_fail(call, BERTH__V1__CODE__UNAUTHENTICATED,
		    "%s needs a token (berth --token, or $BERTH_TOKEN)", call->method);
	}
	/* A token that is sent is checked, also where none would be needed. */
	call->principal[0] = '\0';
	code = tokens_verify(call_registry(call), call->token, &who, &err);
	if (code == BERTH__V1__CODE__UNAUTHENTICATED)
		return call_fail(call, code, "the token is not valid (unknown or revoked)");
	if (code != 0)
		return call_fail(call, code, "cannot check the token: %s", err.message);
	snprintf(call->principal, sizeof(call->principal), "%s", who.name);
	call->role = who.role;
	if (who.role < need)
		return call_fail_detail(call, BERTH__V1__CODE__PERMISSION_DENIED, "token",
		    "ROLE_TOO_LOW", "%s needs the %s role; token '%s' has %s", call->method,
		    token_role_name(need), who.name, token_role_name(who.role));
	return 0;
}

void
auth_finished(void *app, struct call *call, const struct rpc_route *route,
    const ProtobufCBinaryData *payload)
{
	const ProtobufCMessage *request = call->request;
	struct audit_entry e;
	struct error err;
	int index;

	(void)app;
	if (!route->mutating)
		return;
	memset(&e, 0, sizeof(e));
	/*
	 * Refused for want of a valid token: kept apart, so that a flood of
	 * such calls cannot push authenticated history out, and not decoded,
	 * so that it costs nothing to whoever sends it.
	 */
	e.refused_unauthenticated =
	    call->principal[0] == '\0' && call->error.code == BERTH__V1__CODE__UNAUTHENTICATED;
	/* Refused before dispatch: decode the request here, to name its target. */
	if (request == NULL && payload != NULL && !e.refused_unauthenticated &&
	    (index = rpc_method_find(call->method)) >= 0)
		request = protobuf_c_message_unpack(rpc_method((unsigned)index)->input,
		    &call->arena.allocator, payload->len, payload->data);
	audit_sanitize(e.token_name, sizeof(e.token_name), call->principal);
	audit_sanitize(e.peer, sizeof(e.peer), call->peer);
	audit_sanitize(e.method, sizeof(e.method), call->method);
	audit_sanitize(e.target, sizeof(e.target), audit_target(request));
	audit_sanitize(e.request_id, sizeof(e.request_id), call->request_id);
	e.code = call->error.code;
	if (audit_record(call_registry(call), &e, &err) != 0)
		log_warn("audit record lost method=%s error=\"%s\"", e.method, err.message);
}
