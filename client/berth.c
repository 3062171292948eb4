/*
 * berth.c - libberth: RPC calls to berthd over an nng req0 socket.
 *
 * Encoding and decoding are driven by the generated service descriptor:
 * the method's input and output descriptors say what to pack and unpack.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "berth.h"
#include "pem.h"
#include "reply_arena.h"
#include "rpc_method.h"
#include "status.h"

/* Replies can be large (ListServices of 10,000 rows); requests are small. */
#define REPLY_MAX_BYTES (64u << 20)
/* Extra wait past the call's deadline, so berthd's own answer arrives. */
#define DEADLINE_GRACE_MS 1000
/*
 * berthd runs a few calls per connection at once and answers the rest
 * RESOURCE_EXHAUSTED (reason TOO_MANY_IN_FLIGHT) without running them:
 * such a call is sent again after a pause that grows from the first to the
 * last of these, with jitter, until its deadline.
 */
#define BUSY_RETRY_FIRST_MS 2
#define BUSY_RETRY_MAX_MS 100

struct berth_client {
	ProtobufCService service; /* first: berth_service() hands out its address */
	nng_socket sock;
	char *url;
	char *token;
	_Atomic uint32_t timeout_ms;
	/* The TLS options of berth_open, for the events socket (NULL: not given). */
	char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_server_name;
};

/* Frees a client whose socket is closed or was never opened. */
static void
client_free(berth_client *c)
{
	free(c->token);
	free(c->url);
	free(c->tls_ca_file);
	free(c->tls_cert_file);
	free(c->tls_key_file);
	free(c->tls_server_name);
	free(c);
}

/* A copy of an optional string: NULL stays NULL; *ok turns false when out of memory. */
static char *
copy_option(const char *s, bool *ok)
{
	char *copy;

	if (s == NULL)
		return NULL;
	if ((copy = strdup(s)) == NULL)
		*ok = false;
	return copy;
}

static __thread berth_status last_status;

static int __attribute__((format(printf, 3, 4)))
set_status(berth_status *st, int code, const char *fmt, ...)
{
	va_list ap;

	if (st == NULL)
		return code;
	memset(st, 0, sizeof(*st));
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return code;
}

const char *
berth_code_name(int code)
{
	return status_code_name(code);
}

const char *
berth_version(void)
{
	return BERTH_VERSION;
}

static void service_invoke(ProtobufCService *service, unsigned method_index,
    const ProtobufCMessage *input, ProtobufCClosure closure, void *closure_data);

/* "example.org" of "tls+tcp://example.org:7000", "::1" of "tls+tcp://[::1]:7000". */
static void
url_host(const char *url, char *out, size_t len)
{
	const char *host = strstr(url, "://"), *end;

	host = host != NULL ? host + 3 : url;
	if (host[0] == '[' && (end = strchr(host, ']')) != NULL) {
		snprintf(out, len, "%.*s", (int)(end - host - 1), host + 1);
		return;
	}
	end = strrchr(host, ':');
	snprintf(out, len, "%.*s", (int)(end != NULL ? end - host : (ptrdiff_t)strlen(host)), host);
}

/*
 * The TLS side of a tls+tcp:// dialer: verify berthd against the CA, and
 * present our own certificate when given. Returns 0 or a status code.
 */
static int
setup_tls(nng_dialer dialer, const char *url, const berth_options *opts, berth_status *st)
{
	const char *ca = opts != NULL && opts->tls_ca_file != NULL && opts->tls_ca_file[0] != '\0'
	    ? opts->tls_ca_file : BERTH_DEFAULT_TLS_CA;
	nng_tls_config *tls = NULL;
	char *cert = NULL, *key = NULL, name[256];
	struct error pem_err;
	int rv, code = 0;

	if (opts != NULL && opts->tls_server_name != NULL && opts->tls_server_name[0] != '\0')
		snprintf(name, sizeof(name), "%s", opts->tls_server_name);
	else
		url_host(url, name, sizeof(name));
	if ((rv = nng_tls_config_alloc(&tls, NNG_TLS_MODE_CLIENT)) != 0)
		return set_status(st, BERTH__V1__CODE__INTERNAL, "cannot set up TLS: %s",
		    nng_strerror(rv));
	if ((rv = nng_tls_config_ca_file(tls, ca)) != 0) {
		code = set_status(st, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "cannot use the CA file %s: %s", ca, nng_strerror(rv));
		goto out;
	}
	if ((rv = nng_tls_config_auth_mode(tls, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
	    (rv = nng_tls_config_server_name(tls, name)) != 0) {
		code = set_status(st, BERTH__V1__CODE__INTERNAL, "cannot set up TLS: %s",
		    nng_strerror(rv));
		goto out;
	}
	if (opts != NULL && opts->tls_cert_file != NULL && opts->tls_cert_file[0] != '\0') {
		if (opts->tls_key_file == NULL || opts->tls_key_file[0] == '\0') {
			code = set_status(st, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "a client certificate needs its key (tls_key_file)");
			goto out;
		}
		if (pem_read_file("certificate", opts->tls_cert_file, &cert, &pem_err) != 0 ||
		    pem_read_file("key", opts->tls_key_file, &key, &pem_err) != 0) {
			code = set_status(st, pem_err.code, "%s", pem_err.message);
			goto out;
		}
		if ((rv = nng_tls_config_own_cert(tls, cert, key, NULL)) != 0) {
			code = set_status(st, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "cannot use the certificate %s with the key %s: %s", opts->tls_cert_file,
			    opts->tls_key_file, nng_strerror(rv));
			goto out;
		}
	}
	if ((rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, tls)) != 0)
		code = set_status(st, BERTH__V1__CODE__INVALID_ARGUMENT, "cannot use TLS on %s: %s",
		    url, nng_strerror(rv));
out:
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	nng_tls_config_free(tls); /* the dialer keeps its own reference */
	return code;
}

/* True when the host of a tls+tcp:// URL is an IPv4 or IPv6 address. */
static bool
host_is_address(const char *url)
{
	const char *host = strstr(url, "://"), *end;
	char buf[64];
	unsigned char addr[16];

	if (host == NULL)
		return false;
	host += 3;
	if (*host == '[')
		return true;
	end = strrchr(host, ':');
	if (end == NULL || (size_t)(end - host) >= sizeof(buf))
		return false;
	memcpy(buf, host, (size_t)(end - host));
	buf[end - host] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1;
}

/* UNAUTHENTICATED for a failed handshake, naming what to check. */
static int
tls_refused(const char *url, const berth_options *opts, int rv, berth_status *st)
{
	const char *cert = opts != NULL ? opts->tls_cert_file : NULL;

	if (cert == NULL || cert[0] == '\0')
		return set_status(st, BERTH__V1__CODE__UNAUTHENTICATED,
		    "TLS handshake with berthd at %s failed (%s): it may require a client "
		    "certificate (--tls-cert FILE --tls-key FILE, or $BERTH_TLS_CERT and "
		    "$BERTH_TLS_KEY); else check the CA%s",
		    url, nng_strerror(rv),
		    host_is_address(url) && (opts == NULL || opts->tls_server_name == NULL)
			? " and the name: dialled by IP address, and the TLS library does not check "
			  "addresses in certificates: dial by name or pass --tls-server-name"
			: " and the server name");
	return set_status(st, BERTH__V1__CODE__UNAUTHENTICATED,
	    "TLS handshake with berthd at %s failed (%s): check that the client certificate %s "
	    "is signed by the CA berthd trusts, the CA that signed berthd's, and the server name%s",
	    url, nng_strerror(rv), cert,
	    host_is_address(url) && opts->tls_server_name == NULL
		? " (dialled by IP address, which the TLS library does not check in certificates: "
		  "dial by name or pass --tls-server-name)"
		: "");
}

/* Dials url: plain, or with TLS for tls+tcp://. Returns 0 or a status code. */
static int
dial(nng_socket sock, const char *url, const berth_options *opts, berth_status *st)
{
	nng_dialer dialer;
	int rv, code;

	if ((rv = nng_dialer_create(&dialer, sock, url)) != 0)
		return set_status(st,
		    rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? BERTH__V1__CODE__INVALID_ARGUMENT
							      : BERTH__V1__CODE__UNAVAILABLE,
		    "cannot connect to berthd at %s: %s", url, nng_strerror(rv));
	if (strncmp(url, "tls+", 4) == 0 && (code = setup_tls(dialer, url, opts, st)) != 0) {
		nng_dialer_close(dialer);
		return code;
	}
	if ((rv = nng_dialer_start(dialer, 0)) != 0) {
		bool tls = strncmp(url, "tls+", 4) == 0;

		nng_dialer_close(dialer);
		/*
		 * A handshake that fails, or that berthd ends (mutual TLS and no
		 * certificate it accepts), is an authentication failure, not an
		 * outage: say which certificate is missing or refused.
		 */
		if (tls && (rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH || rv == NNG_ECONNSHUT ||
			       rv == NNG_ECONNRESET))
			return tls_refused(url, opts, rv, st);
		return set_status(st, BERTH__V1__CODE__UNAVAILABLE,
		    "cannot connect to berthd at %s: %s", url, nng_strerror(rv));
	}
	return 0;
}

/*
 * nng's REQ sends a request again when no reply came within its resend
 * time (a lost connection resends at once, whatever the timer). berthd
 * parks a long poll (WatchEvents waits up to 30 s) and any call may take
 * until its timeout: a resend before then would only run the call twice.
 * So the timer is past both, with room for the reply to travel.
 */
static void
set_resend_time(berth_client *c)
{
	uint32_t t = c->timeout_ms > BERTH_LONGEST_WAIT_MS ? c->timeout_ms : BERTH_LONGEST_WAIT_MS;

	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, (nng_duration)t + DEADLINE_GRACE_MS + 5000);
}

const char *
berth_default_url(void)
{
	static char url[4200];
	const char *run = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0 || run == NULL || run[0] != '/' || strlen(run) > 4000)
		return BERTH_DEFAULT_URL;
	snprintf(url, sizeof(url), "ipc://%s/berth/berthd.sock", run);
	return url;
}

int
berth_open(berth_client **out, const char *url, const berth_options *opts, berth_status *st)
{
	berth_client *c;
	bool ok = true;
	int rv;

	*out = NULL;
	if (url == NULL || url[0] == '\0')
		url = berth_default_url();
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return set_status(st, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	c->service.descriptor = RPC_SERVICE;
	c->service.invoke = service_invoke;
	c->service.destroy = NULL;
	c->timeout_ms = opts != NULL && opts->timeout_ms ? opts->timeout_ms : BERTH_DEFAULT_TIMEOUT_MS;
	c->token = strdup(opts != NULL && opts->token != NULL ? opts->token : "");
	c->url = strdup(url);
	if (opts != NULL) {
		c->tls_ca_file = copy_option(opts->tls_ca_file, &ok);
		c->tls_cert_file = copy_option(opts->tls_cert_file, &ok);
		c->tls_key_file = copy_option(opts->tls_key_file, &ok);
		c->tls_server_name = copy_option(opts->tls_server_name, &ok);
	}
	if (c->token == NULL || c->url == NULL || !ok) {
		client_free(c);
		return set_status(st, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		client_free(c);
		return set_status(st, BERTH__V1__CODE__INTERNAL, "cannot open req0 socket: %s",
		    nng_strerror(rv));
	}
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, REPLY_MAX_BYTES);
	/* Reconnect quickly after berthd restarts. */
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	set_resend_time(c);
	if ((rv = dial(c->sock, url, opts, st)) != 0) {
		nng_close(c->sock);
		client_free(c);
		return rv;
	}
	*out = c;
	return set_status(st, BERTH__V1__CODE__OK, "%s", "");
}

void
berth_close(berth_client *c)
{
	if (c == NULL)
		return;
	nng_close(c->sock);
	client_free(c);
}

void
berth_set_timeout(berth_client *c, uint32_t timeout_ms)
{
	c->timeout_ms = timeout_ms ? timeout_ms : BERTH_DEFAULT_TIMEOUT_MS;
	set_resend_time(c);
}

void
berth_reply_free(ProtobufCMessage *reply)
{
	/* Replies of berth_call live in an arena; events were decoded by protobuf-c. */
	if (reply != NULL && !reply_arena_release(reply))
		protobuf_c_message_free_unpacked(reply, NULL);
}

/* 128 random bits as 32 hex digits. */
static void
new_request_id(char out[33])
{
	unsigned char bytes[16];
	size_t got = 0;

	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(out + 2 * i, 3, "%02x", got == sizeof(bytes) ? bytes[i] : (unsigned)rand() & 0xff);
}

/* One request/reply exchange on its own context. Returns 0 or a status code. */
static int
exchange(berth_client *c, nng_msg *request, nng_msg **reply, uint32_t timeout_ms, berth_status *st)
{
	nng_ctx ctx;
	nng_aio *aio;
	int rv;

	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
		nng_msg_free(request);
		return set_status(st, rv == NNG_ECLOSED ? BERTH__V1__CODE__CANCELLED
							: BERTH__V1__CODE__INTERNAL,
		    "cannot open an nng context: %s", nng_strerror(rv));
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_ctx_close(ctx);
		nng_msg_free(request);
		return set_status(st, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	nng_aio_set_timeout(aio, (nng_duration)(timeout_ms + DEADLINE_GRACE_MS));
	nng_aio_set_msg(aio, request);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) == 0) {
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (rv == 0)
			*reply = nng_aio_get_msg(aio);
	} else {
		nng_msg_free(request);
	}
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	switch (rv) {
	case 0:
		return 0;
	case NNG_ETIMEDOUT:
		return set_status(st, BERTH__V1__CODE__DEADLINE_EXCEEDED,
		    "no answer from berthd within %u ms", timeout_ms);
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return set_status(st, BERTH__V1__CODE__CANCELLED, "the connection was closed");
	default:
		return set_status(st, BERTH__V1__CODE__UNAVAILABLE, "berthd: %s", nng_strerror(rv));
	}
}

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 to max_ms, different for threads retrying together. */
static int64_t
jitter_ms(int64_t max_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)(((uint64_t)ts.tv_nsec * 2654435761u) >> 7) % (max_ms + 1);
}

/* True when berthd refused the call unrun because the connection had too many in flight. */
static bool
st_busy(const berth_status *st)
{
	return st != NULL && strcmp(st->reason, "TOO_MANY_IN_FLIGHT") == 0;
}

/*
 * The calling thread's last failed answer with ErrorDetails, kept for
 * berth_last_error_details until the thread's next call (its envelope's
 * arena; NULL when none).
 */
static _Thread_local struct reply_arena *last_failure_arena;
static _Thread_local Berth__V1__RpcResponse *last_failure;

static void
forget_last_failure(void)
{
	reply_arena_free(last_failure_arena);
	last_failure_arena = NULL;
	last_failure = NULL;
}

size_t
berth_last_error_details(const Berth__V1__ErrorDetail *const **out)
{
	*out = NULL;
	if (last_failure == NULL)
		return 0;
	*out = (const Berth__V1__ErrorDetail *const *)last_failure->details;
	return last_failure->n_details;
}

/*
 * Decodes berthd's answer (freed here) into *reply (an arena; NULL unless
 * OK) and *st. Returns the call's code.
 */
static int
decode_reply(const ProtobufCMethodDescriptor *m, nng_msg *answer, ProtobufCMessage **reply,
    berth_status *st)
{
	Berth__V1__RpcResponse *resp;
	struct reply_arena *envelope, *result;
	int code;

	forget_last_failure();
	/* The envelope (with its copy of the payload) and the reply: an arena each. */
	envelope = reply_arena_new();
	result = reply_arena_new();
	if (envelope == NULL || result == NULL) {
		nng_msg_free(answer);
		reply_arena_free(envelope);
		reply_arena_free(result);
		return set_status(st, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	resp = berth__v1__rpc_response__unpack(reply_arena_allocator(envelope), nng_msg_len(answer),
	    nng_msg_body(answer));
	nng_msg_free(answer);
	if (resp == NULL) {
		code = set_status(st, BERTH__V1__CODE__INTERNAL, "berthd sent a malformed reply");
	} else if (resp->code != BERTH__V1__CODE__OK) {
		code = set_status(st, (int)resp->code, "%s", resp->message);
		if (st != NULL && resp->n_details > 0) {
			snprintf(st->field, sizeof(st->field), "%s", resp->details[0]->field);
			snprintf(st->reason, sizeof(st->reason), "%s", resp->details[0]->reason);
		}
		if (resp->n_details > 0) {
			last_failure_arena = envelope; /* kept for berth_last_error_details */
			last_failure = resp;
			envelope = NULL;
		}
	} else if ((*reply = protobuf_c_message_unpack(m->output, reply_arena_allocator(result),
			resp->payload.len, resp->payload.data)) == NULL) {
		code = set_status(st, BERTH__V1__CODE__INTERNAL, "berthd sent a malformed %s",
		    m->output->name);
	} else {
		reply_arena_file(result, *reply);
		result = NULL;
		code = set_status(st, BERTH__V1__CODE__OK, "%s", "");
	}
	reply_arena_free(envelope);
	reply_arena_free(result);
	return code;
}

int
berth_call_with_id(berth_client *c, const char *method, const char *request_id,
    const ProtobufCMessage *request, ProtobufCMessage **reply, berth_status *st)
{
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;
	const ProtobufCMethodDescriptor *m;
	char path[RPC_METHOD_PATH_MAX];
	uint32_t timeout_ms = c->timeout_ms;
	int64_t deadline_ms, left, pause_ms, backoff_ms = BUSY_RETRY_FIRST_MS;
	nng_msg *msg, *answer;
	uint8_t *payload;
	berth_status own;
	size_t len;
	int index, code;

	if (st == NULL)
		st = &own; /* the retry below reads the reason */
	*reply = NULL;
	forget_last_failure();
	index = rpc_method_find(method);
	if (index < 0)
		return set_status(st, BERTH__V1__CODE__UNIMPLEMENTED, "unknown method \"%s\"", method);
	m = rpc_method((unsigned)index);
	if (request == NULL || request->descriptor != m->input)
		return set_status(st, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "%s takes a %s, not a %s", m->name, m->input->name,
		    request != NULL ? request->descriptor->name : "NULL");
	rpc_method_path((unsigned)index, path, sizeof(path));

	len = protobuf_c_message_get_packed_size(request);
	payload = malloc(len ? len : 1);
	if (payload == NULL)
		return set_status(st, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	protobuf_c_message_pack(request, payload);
	env.method = path;
	env.payload.data = payload;
	env.payload.len = len;
	env.token = c->token;
	env.timeout_ms = timeout_ms;
	env.request_id = (char *)request_id;

	deadline_ms = monotonic_ms() + timeout_ms;
	for (;;) {
		len = berth__v1__rpc_request__get_packed_size(&env);
		if (nng_msg_alloc(&msg, len) != 0) {
			free(payload);
			return set_status(st, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		}
		berth__v1__rpc_request__pack(&env, nng_msg_body(msg));
		answer = NULL;
		if ((code = exchange(c, msg, &answer, env.timeout_ms, st)) != 0) {
			free(payload);
			return code;
		}
		code = decode_reply(m, answer, reply, st);
		if (!(code == BERTH__V1__CODE__RESOURCE_EXHAUSTED && st_busy(st)))
			break;
		/* Not run: send it again, same request_id, within the deadline. */
		left = deadline_ms - monotonic_ms();
		pause_ms = backoff_ms / 2 + jitter_ms(backoff_ms / 2);
		if (left <= pause_ms + 1)
			break;
		nanosleep(&(struct timespec){ 0, (long)pause_ms * 1000000L }, NULL);
		left -= pause_ms;
		env.timeout_ms = (uint32_t)left;
		if (backoff_ms < BUSY_RETRY_MAX_MS)
			backoff_ms = backoff_ms * 2 < BUSY_RETRY_MAX_MS ? backoff_ms * 2 : BUSY_RETRY_MAX_MS;
	}
	free(payload);
	return code;
}

int
berth_call(berth_client *c, const char *method, const ProtobufCMessage *request,
    ProtobufCMessage **reply, berth_status *st)
{
	char id[33];

	new_request_id(id);
	return berth_call_with_id(c, method, id, request, reply, st);
}

static void
service_invoke(ProtobufCService *service, unsigned method_index, const ProtobufCMessage *input,
    ProtobufCClosure closure, void *closure_data)
{
	berth_client *c = (berth_client *)service;
	const ProtobufCMethodDescriptor *m = rpc_method(method_index);
	ProtobufCMessage *reply = NULL;

	if (m == NULL)
		set_status(&last_status, BERTH__V1__CODE__UNIMPLEMENTED, "no method %u", method_index);
	else
		(void)berth_call(c, m->name, input, &reply, &last_status);
	closure(reply, closure_data);
	berth_reply_free(reply);
}

ProtobufCService *
berth_service(berth_client *c)
{
	return &c->service;
}

const berth_status *
berth_last_status(void)
{
	return &last_status;
}

/* --- events ----------------------------------------------------------------- */

struct berth_events {
	nng_socket sock;
};

/*
 * berthd reports the URL it listens on; "tcp://0.0.0.0:P" or "tcp://:P"
 * means every address, which a client cannot dial: use the host it
 * reached berthd at instead.
 */
static void
dialable_url(const char *event_url, const char *client_url, char *out, size_t len)
{
	const char *host, *port, *client_host, *client_port;
	size_t scheme;

	snprintf(out, len, "%s", event_url);
	if (strncmp(event_url, "tcp://", 6) == 0)
		scheme = 6;
	else if (strncmp(event_url, "tls+tcp://", 10) == 0)
		scheme = 10;
	else
		return;
	if (strncmp(client_url, event_url, scheme) != 0)
		return;
	host = event_url + scheme;
	port = strrchr(host, ':');
	if (port == NULL)
		return;
	if (!(port == host || strncmp(host, "0.0.0.0:", 8) == 0 || strncmp(host, "[::]:", 5) == 0 ||
		strncmp(host, "*:", 2) == 0))
		return;
	client_host = client_url + scheme;
	client_port = strrchr(client_host, ':');
	if (client_port == NULL)
		return;
	snprintf(out, len, "%.*s%.*s%s", (int)scheme, event_url, (int)(client_port - client_host),
	    client_host, port);
}

/*
 * The index of the first URL with the scheme of client_url (a remote
 * client of tls+tcp:// wants the tls+tcp:// events, not the ipc:// ones),
 * else 0.
 */
static size_t
same_scheme(char *const *urls, size_t n, const char *client_url)
{
	const char *end = strstr(client_url, "://");
	size_t len = end != NULL ? (size_t)(end - client_url) + 3 : 0;

	for (size_t i = 0; i < n && len > 0; i++)
		if (strncmp(urls[i], client_url, len) == 0)
			return i;
	return 0;
}

int
berth_events_open(berth_events **out, berth_client *c, const char *url, berth_status *st)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *health = NULL;
	berth_options tls = { 0 };
	char target[512];
	berth_events *e;
	int rv, code;

	*out = NULL;
	if (url == NULL) {
		code = berth_call(c, "Health", &req.base, (ProtobufCMessage **)&health, st);
		if (code != 0)
			return code;
		if (health->n_event_urls == 0) {
			berth_reply_free(&health->base);
			return set_status(st, BERTH__V1__CODE__UNIMPLEMENTED,
			    "berthd publishes no events");
		}
		dialable_url(health->event_urls[same_scheme(health->event_urls, health->n_event_urls,
				 c->url)],
		    c->url, target, sizeof(target));
		berth_reply_free(&health->base);
	} else {
		snprintf(target, sizeof(target), "%s", url);
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return set_status(st, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = nng_sub0_open(&e->sock)) != 0) {
		free(e);
		return set_status(st, BERTH__V1__CODE__INTERNAL, "cannot open sub0 socket: %s",
		    nng_strerror(rv));
	}
	nng_socket_set(e->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_ms(e->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(e->sock, NNG_OPT_RECONNMAXT, 1000);
	/* A tls+tcp:// events socket is verified, and verifies us, as the RPC socket does. */
	tls.tls_ca_file = c->tls_ca_file;
	tls.tls_cert_file = c->tls_cert_file;
	tls.tls_key_file = c->tls_key_file;
	tls.tls_server_name = c->tls_server_name;
	if ((code = dial(e->sock, target, &tls, st)) != 0) {
		nng_close(e->sock);
		free(e);
		return code;
	}
	*out = e;
	return set_status(st, BERTH__V1__CODE__OK, "%s", "");
}

int
berth_events_next(berth_events *e, Berth__V1__Event **event, int timeout_ms, berth_status *st)
{
	nng_msg *msg;
	int rv;

	*event = NULL;
	nng_socket_set_ms(e->sock, NNG_OPT_RECVTIMEO, timeout_ms < 0 ? NNG_DURATION_INFINITE : timeout_ms);
	for (;;) {
		if ((rv = nng_recvmsg(e->sock, &msg, 0)) != 0) {
			if (rv == NNG_ETIMEDOUT)
				return set_status(st, BERTH__V1__CODE__DEADLINE_EXCEEDED,
				    "no event within %d ms", timeout_ms);
			return set_status(st, BERTH__V1__CODE__UNAVAILABLE, "events: %s", nng_strerror(rv));
		}
		*event = berth__v1__event__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
		nng_msg_free(msg);
		if (*event != NULL)
			return set_status(st, BERTH__V1__CODE__OK, "%s", "");
		/* Not an Event: skip it rather than end the stream. */
	}
}

void
berth_events_close(berth_events *e)
{
	if (e == NULL)
		return;
	nng_close(e->sock);
	free(e);
}
