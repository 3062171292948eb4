/*
 * berth.h - libberth, the C client of berthd. This header is the whole
 * public surface of the library; the `berth` CLI uses nothing else.
 *
 * A call sends one berth.v1.RpcRequest over an nng req0 socket and waits
 * for the RpcResponse. Requests and replies are the protobuf-c messages
 * generated from proto/berth/v1/berth.proto (included below), so every RPC
 * of the proto can be called without hand-written marshalling:
 *
 *     berth_client *c;
 *     berth_status st;
 *     Berth__V1__GetTemplateRequest req = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
 *     Berth__V1__GetTemplateResponse *rep;
 *
 *     if (berth_open(&c, "ipc:///run/berth/berthd.sock", NULL, &st) != 0) ...
 *     req.name = "buckets";
 *     if (berth_call(c, "GetTemplate", &req.base, (ProtobufCMessage **)&rep, &st) != 0)
 *         fprintf(stderr, "%s: %s\n", berth_code_name(st.code), st.message);
 *     ...
 *     berth_reply_free(&rep->base);
 *     berth_close(c);
 *
 * Thread safety: one berth_client may be used by many threads at once;
 * each call runs on its own nng context.
 */
#ifndef BERTH_H
#define BERTH_H

#include <stddef.h>
#include <stdint.h>

#include "berth/v1/berth.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BERTH_DEFAULT_URL "ipc:///run/berth/berthd.sock"

/*
 * Where a local berthd listens by default: BERTH_DEFAULT_URL for root;
 * for an ordinary user with $XDG_RUNTIME_DIR (a rootless berthd, e.g. for
 * rootless Podman) ipc://$XDG_RUNTIME_DIR/berth/berthd.sock, as berthd's
 * own default is then. berth_open(NULL url) uses it.
 */
const char *berth_default_url(void);
#define BERTH_DEFAULT_TIMEOUT_MS 60000
/*
 * The longest a call waits in berthd for something to happen (WatchEvents'
 * wait_ms is capped there). A long poll's call timeout must exceed its
 * wait: berth_set_timeout(c, wait_ms + a few seconds) before the call, or
 * keep the default of 60 s, which is above every wait; berthd ends a wait
 * a little before the call's deadline in any case.
 */
#define BERTH_LONGEST_WAIT_MS 30000
#define BERTH_DEFAULT_TLS_CA "/etc/ssl/certs/ca-certificates.crt"

typedef struct berth_client berth_client;

/*
 * Options of a connection; NULL fields and zeros mean the defaults. The
 * tls_* options apply to tls+tcp:// URLs only: the server's certificate is
 * always verified, against tls_ca_file (default BERTH_DEFAULT_TLS_CA) for
 * the name tls_server_name (default: the URL's host); tls_cert_file and
 * tls_key_file are this client's own certificate and key (PEM), which a
 * berthd with a client CA (mutual TLS) requires. The strings are copied
 * or read during berth_open.
 */
typedef struct berth_options {
	const char *token;       /* sent in every RpcRequest.token */
	uint32_t timeout_ms;     /* per call; 0 = BERTH_DEFAULT_TIMEOUT_MS */
	const char *tls_ca_file;     /* CA certificate(s) to verify berthd with (PEM) */
	const char *tls_cert_file;   /* client certificate (PEM), for mutual TLS */
	const char *tls_key_file;    /* its private key (PEM, unencrypted) */
	const char *tls_server_name; /* name berthd's certificate must carry */
} berth_options;

/* Outcome of a call: a gRPC status code (berth.v1.Code) and why. */
typedef struct berth_status {
	int code;                /* BERTH__V1__CODE__OK (0) on success */
	char message[512];
	char field[64];          /* first ErrorDetail's field, "" if none */
	char reason[64];         /* first ErrorDetail's reason, "" if none */
} berth_status;

/*
 * Connects to berthd at `url` (ipc://, tcp://, tls+tcp://). A server that
 * does not answer the first dial is UNAVAILABLE, and so is one that closes
 * the TLS handshake (it wants a client certificate it trusts); a berthd
 * whose certificate we cannot verify is UNAUTHENTICATED; an unreadable
 * certificate or key file is INVALID_ARGUMENT. Once
 * connected, nng redials by itself whenever the connection drops (a
 * restarted berthd is found again).
 * Returns 0, or a status code with `status` filled (may be NULL).
 * The caller owns *out and frees it with berth_close().
 */
int berth_open(berth_client **out, const char *url, const berth_options *opts,
    berth_status *status);

/* Closes the connection; calls in flight fail with CANCELLED. NULL is fine. */
void berth_close(berth_client *c);

/* Changes the per-call timeout of later calls. */
void berth_set_timeout(berth_client *c, uint32_t timeout_ms);

/*
 * Calls `method` ("ListTemplates" or "/berth.v1.Berth/ListTemplates") with
 * `request`, which must be that method's request message. On success
 * returns 0 and *reply is the decoded reply, owned by the caller (free it
 * with berth_reply_free). Otherwise returns the status code (also in
 * status->code) and *reply is NULL. Client-side failures have codes too:
 * no answer in time is DEADLINE_EXCEEDED, no server UNAVAILABLE, a request
 * of the wrong type INVALID_ARGUMENT.
 *
 * Each call sends a fresh random request_id; nng's own resend of an
 * unanswered request reuses it, so berthd runs a mutating call once.
 */
int berth_call(berth_client *c, const char *method, const ProtobufCMessage *request,
    ProtobufCMessage **reply, berth_status *status);

/* As berth_call, with the caller's request_id (for retries across connections). */
int berth_call_with_id(berth_client *c, const char *method, const char *request_id,
    const ProtobufCMessage *request, ProtobufCMessage **reply, berth_status *status);

/*
 * Every ErrorDetail of the calling thread's last berth_call that failed
 * with details (berth_status names only the first): a spec's PlanSpec
 * lists each of its mistakes this way. *out points into libberth's memory
 * for this thread, valid until the thread's next berth_call; returns how
 * many (0 and *out NULL when the last call had none).
 */
size_t berth_last_error_details(const Berth__V1__ErrorDetail *const **out);

/* Frees a reply from berth_call. NULL is fine. */
void berth_reply_free(ProtobufCMessage *reply);

/*
 * A ProtobufCService whose invoke() goes over this connection, for the
 * typed callers protoc-c generates:
 *
 *     berth__v1__berth__health(berth_service(c), &req, on_reply, arg);
 *
 * The closure runs before the call returns, with the reply or NULL on
 * failure (then berth_last_status() says why). The service belongs to the
 * client: do not destroy it.
 */
ProtobufCService *berth_service(berth_client *c);

/* Status of the calling thread's last call through berth_service(). */
const berth_status *berth_last_status(void);

/*
 * Events: berthd publishes a berth.v1.Event per change on an nng pub0
 * socket. berth_events_open subscribes to it: at `url`, or when url is NULL
 * at the first of the event_urls that Health reports with the scheme of the
 * client's own URL, else the first (a wildcard host in it is replaced by
 * the host of the client's own URL). A tls+tcp:// events
 * URL is dialed with the client's TLS options (berthd publishes there only
 * with mutual TLS when authentication is on). A subscriber that falls
 * behind loses events; Event.sequence shows the gap.
 * The caller owns *out and frees it with berth_events_close().
 */
typedef struct berth_events berth_events;

int berth_events_open(berth_events **out, berth_client *c, const char *url,
    berth_status *status);

/*
 * Waits up to timeout_ms (-1: forever) for the next event. Returns 0 with
 * *event owned by the caller (berth_reply_free(&(*event)->base)), or
 * DEADLINE_EXCEEDED when none came, or another code.
 */
int berth_events_next(berth_events *e, Berth__V1__Event **event, int timeout_ms,
    berth_status *status);

void berth_events_close(berth_events *e);

/* "NOT_FOUND" for 5. */
const char *berth_code_name(int code);

/* The library's version ("0.2.0"; BERTH_VERSION when built). */
const char *berth_version(void);

#ifdef __cplusplus
}
#endif

#endif
