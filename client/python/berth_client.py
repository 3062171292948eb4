"""berth_client - a Python client of berthd, the berth service manager.

It speaks the protocol of proto/berth/v1/berth.proto with nothing of berth's
C code: the messages come from `protoc --python_out` (Debian's
python3-protobuf runs them) and the transport is nng's req0 socket, reached
through ctypes in libnng.so.1 (Debian's libnng1).

    from berth.v1 import berth_pb2
    import berth_client

    with berth_client.Client("ipc:///run/berth/berthd.sock") as c:
        print(c.health().status == berth_pb2.HealthResponse.SERVING)
        rep = c.call("GetTemplate", berth_pb2.GetTemplateRequest(name="buckets"))
        print(rep.template.image)

The generated module `berth/v1/berth_pb2.py` must be importable: `make`
writes it to $(BUILD)/python and `make install` next to this file (see the
README's "Install" section), so PYTHONPATH names that directory.

Every call sends one berth.v1.RpcRequest and waits for the RpcResponse; a
code other than OK raises BerthError. Failures on the client's side have
codes too: no answer in time is DEADLINE_EXCEEDED, no server UNAVAILABLE.
"""

import ctypes
import ctypes.util
import os
import threading
import time

from google.protobuf.message import DecodeError

from berth.v1 import berth_pb2

__all__ = ["BerthError", "Client", "DEFAULT_URL", "DEFAULT_TIMEOUT_MS", "DEFAULT_TLS_CA", "berth_pb2"]

DEFAULT_URL = "ipc:///run/berth/berthd.sock"
DEFAULT_TIMEOUT_MS = 60000
METHOD_PREFIX = "/berth.v1.Berth/"

# The server's deadline is timeout_ms; the reply may still be on its way when
# it passes, so the client waits a little longer (as libberth does).
_DEADLINE_GRACE_MS = 1000
_REPLY_MAX_BYTES = 64 << 20

# From <nng/nng.h>.
_NNG_FLAG_ALLOC = 1
_NNG_ETIMEDOUT = 5
_NNG_ENOTSUP = 9
_NNG_EADDRINVAL = 15
_NNG_ECRYPTO = 26
_NNG_EPEERAUTH = 27
_NNG_ECONNSHUT = 31
# From <nng/supplemental/tls/tls.h>.
_NNG_TLS_MODE_CLIENT = 0
_NNG_TLS_AUTH_MODE_REQUIRED = 2

# The CA bundle a tls+tcp:// client trusts when given none (as libberth).
DEFAULT_TLS_CA = "/etc/ssl/certs/ca-certificates.crt"


class BerthError(Exception):
    """A call that did not end with code OK.

    code       the berth.v1.Code number (gRPC's), e.g. 5
    code_name  its name, e.g. "NOT_FOUND"
    message    berthd's (or the client's) explanation
    details    the RpcResponse's ErrorDetail messages (field, reason,
               description); empty for client-side failures
    """

    def __init__(self, code, message, details=()):
        self.code = int(code)
        self.code_name = _code_name(self.code)
        self.message = message
        self.details = list(details)
        super().__init__("%s: %s" % (self.code_name, message))


def _code_name(code):
    try:
        return berth_pb2.Code.Name(code)
    except ValueError:
        return "CODE_%d" % code


class _Socket(ctypes.Structure):
    # nng_socket is a struct holding one uint32_t, passed by value.
    _fields_ = [("id", ctypes.c_uint32)]


class _Dialer(ctypes.Structure):
    # nng_dialer: the same shape.
    _fields_ = [("id", ctypes.c_uint32)]


_lib = None
_lib_lock = threading.Lock()


def _nng():
    """Loads libnng once and declares the few functions used."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        name = os.environ.get("BERTH_LIBNNG") or ctypes.util.find_library("nng") or "libnng.so.1"
        lib = ctypes.CDLL(name)
        sock, sockp = _Socket, ctypes.POINTER(_Socket)
        dialer, dialerp, cfg = _Dialer, ctypes.POINTER(_Dialer), ctypes.c_void_p
        for fname, restype, argtypes in (
            ("nng_dialer_create", ctypes.c_int, [dialerp, sock, ctypes.c_char_p]),
            ("nng_dialer_start", ctypes.c_int, [dialer, ctypes.c_int]),
            ("nng_dialer_close", ctypes.c_int, [dialer]),
            ("nng_dialer_set_ptr", ctypes.c_int, [dialer, ctypes.c_char_p, ctypes.c_void_p]),
            ("nng_tls_config_alloc", ctypes.c_int, [ctypes.POINTER(cfg), ctypes.c_int]),
            ("nng_tls_config_free", None, [cfg]),
            ("nng_tls_config_ca_file", ctypes.c_int, [cfg, ctypes.c_char_p]),
            ("nng_tls_config_auth_mode", ctypes.c_int, [cfg, ctypes.c_int]),
            ("nng_tls_config_server_name", ctypes.c_int, [cfg, ctypes.c_char_p]),
            ("nng_tls_config_own_cert", ctypes.c_int,
             [cfg, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]),
            ("nng_req0_open", ctypes.c_int, [sockp]),
            ("nng_close", ctypes.c_int, [sock]),
            ("nng_socket_set_ms", ctypes.c_int, [sock, ctypes.c_char_p, ctypes.c_int32]),
            ("nng_socket_set_size", ctypes.c_int, [sock, ctypes.c_char_p, ctypes.c_size_t]),
            ("nng_send", ctypes.c_int, [sock, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]),
            ("nng_recv", ctypes.c_int,
             [sock, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_int]),
            ("nng_free", None, [ctypes.c_void_p, ctypes.c_size_t]),
            ("nng_strerror", ctypes.c_char_p, [ctypes.c_int]),
        ):
            f = getattr(lib, fname)
            f.restype = restype
            f.argtypes = argtypes
        _lib = lib
        return lib


def _method_path(method):
    return method if method.startswith("/") else METHOD_PREFIX + method


def _service_method(method):
    """The proto's MethodDescriptor of `method`, or BerthError UNIMPLEMENTED."""
    name = method[len(METHOD_PREFIX):] if method.startswith(METHOD_PREFIX) else method
    svc = berth_pb2.DESCRIPTOR.services_by_name["Berth"]
    m = svc.methods_by_name.get(name)
    if m is None:
        raise BerthError(berth_pb2.UNIMPLEMENTED, "no method %r in berth.v1.Berth" % method)
    return m


def _message_class(descriptor):
    return getattr(berth_pb2, descriptor.name)


def _url_host(url):
    """"example.org" of "tls+tcp://example.org:7000", "::1" of "tls+tcp://[::1]:7000"."""
    host = url.split("://", 1)[-1]
    if host.startswith("[") and "]" in host:
        return host[1:host.index("]")]
    return host.rsplit(":", 1)[0]


def new_request_id():
    """128 random bits as 32 hex digits."""
    return os.urandom(16).hex()


# Long polls (logs, events): the call's deadline beyond the wait, and the
# pauses of a generator after a failure that may pass.
_LONG_POLL_MARGIN_MS = 10000
_TRANSIENT = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "ABORTED")
_RETRY_FIRST_S, _RETRY_MAX_S = 0.25, 10.0
_QUICK_S, _PAUSE_S = 0.2, 0.25


def _oldest_sequence(err):
    """The oldest sequence kept, from an OUT_OF_RANGE's details; 0 when absent."""
    for d in getattr(err, "details", ()):
        desc = getattr(d, "description", "")
        if desc.startswith("oldest_sequence="):
            try:
                return int(desc.split("=", 1)[1])
            except ValueError:
                return 0
    return 0


class Client:
    """One connection to berthd.

    url         ipc://PATH, tcp://HOST:PORT or tls+tcp://HOST:PORT of berthd
    token       bearer token sent in every RpcRequest, or None
    timeout_ms  how long each call may take; also sent to berthd as the
                call's deadline
    tls_ca      tls+tcp:// only: the CA file (PEM) berthd's certificate must
                chain to (default: the system's bundle, DEFAULT_TLS_CA)
    tls_cert, tls_key
                tls+tcp:// only: this client's certificate and key (PEM
                files), for a berthd with --tls-client-ca
    tls_server_name
                tls+tcp:// only: the name berthd's certificate must carry
                (default: the URL's host)

    The constructor dials at once: a server that does not answer is
    BerthError(UNAVAILABLE); one whose certificate is not trusted
    BerthError(UNAUTHENTICATED). Afterwards nng redials by itself when the
    connection drops. Calls from several threads are serialised (a req0
    socket has one request in flight). close() (or a `with` block) releases
    the socket.
    """

    def __init__(self, url=DEFAULT_URL, token=None, timeout_ms=DEFAULT_TIMEOUT_MS, tls_ca=None,
                 tls_cert=None, tls_key=None, tls_server_name=None):
        self.url = url
        self.token = token or ""
        self.timeout_ms = int(timeout_ms) if timeout_ms else DEFAULT_TIMEOUT_MS
        self._lock = threading.Lock()
        self._nng = _nng()
        self._sock = _Socket()
        rv = self._nng.nng_req0_open(ctypes.byref(self._sock))
        if rv != 0:
            raise BerthError(berth_pb2.INTERNAL, "cannot open req0 socket: " + self._err(rv))
        self._open = True
        self._nng.nng_socket_set_size(self._sock, b"recv-size-max", _REPLY_MAX_BYTES)
        # Reconnect quickly after berthd restarts.
        self._nng.nng_socket_set_ms(self._sock, b"reconnect-time-min", 50)
        self._nng.nng_socket_set_ms(self._sock, b"reconnect-time-max", 1000)
        try:
            self._dial(url, tls_ca, tls_cert, tls_key, tls_server_name)
        except BerthError:
            self.close()
            raise

    def _dial(self, url, tls_ca, tls_cert, tls_key, tls_server_name):
        tls = url.startswith("tls+")
        dialer = _Dialer()
        rv = self._nng.nng_dialer_create(ctypes.byref(dialer), self._sock, url.encode())
        if rv != 0:
            code = (berth_pb2.INVALID_ARGUMENT if rv in (_NNG_EADDRINVAL, _NNG_ENOTSUP)
                    else berth_pb2.UNAVAILABLE)
            raise BerthError(code, "cannot connect to berthd at %s: %s" % (url, self._err(rv)))
        try:
            if tls:
                self._setup_tls(dialer, url, tls_ca, tls_cert, tls_key, tls_server_name)
        except BerthError:
            self._nng.nng_dialer_close(dialer)
            raise
        rv = self._nng.nng_dialer_start(dialer, 0)
        if rv != 0:
            self._nng.nng_dialer_close(dialer)
            # A berthd we cannot trust is an authentication failure, not an outage.
            untrusted = rv in (_NNG_ECRYPTO, _NNG_EPEERAUTH)
            hint = (" (TLS handshake failed: check the CA, the server name and the client "
                    "certificate)" if tls and rv in (_NNG_ECRYPTO, _NNG_EPEERAUTH, _NNG_ECONNSHUT)
                    else "")
            raise BerthError(berth_pb2.UNAUTHENTICATED if untrusted else berth_pb2.UNAVAILABLE,
                             "cannot connect to berthd at %s: %s%s" % (url, self._err(rv), hint))

    def _setup_tls(self, dialer, url, ca, cert, key, server_name):
        """Verify berthd against the CA; present our certificate when given (as libberth)."""
        nng = self._nng
        cfg = ctypes.c_void_p()
        rv = nng.nng_tls_config_alloc(ctypes.byref(cfg), _NNG_TLS_MODE_CLIENT)
        if rv != 0:
            raise BerthError(berth_pb2.INTERNAL, "cannot set up TLS: " + self._err(rv))
        try:
            ca = ca or DEFAULT_TLS_CA
            rv = nng.nng_tls_config_ca_file(cfg, ca.encode())
            if rv != 0:
                raise BerthError(berth_pb2.INVALID_ARGUMENT,
                                 "cannot use the CA file %s: %s" % (ca, self._err(rv)))
            name = server_name or _url_host(url)
            rv = nng.nng_tls_config_auth_mode(cfg, _NNG_TLS_AUTH_MODE_REQUIRED) or \
                nng.nng_tls_config_server_name(cfg, name.encode())
            if rv != 0:
                raise BerthError(berth_pb2.INTERNAL, "cannot set up TLS: " + self._err(rv))
            if cert or key:
                if not (cert and key):
                    raise BerthError(berth_pb2.INVALID_ARGUMENT,
                                     "a client certificate needs its key (tls_cert and tls_key)")
                try:
                    with open(cert, "rb") as f:
                        cert_pem = f.read()
                    with open(key, "rb") as f:
                        key_pem = f.read()
                except OSError as e:
                    raise BerthError(berth_pb2.INVALID_ARGUMENT,
                                     "cannot read %s: %s" % (e.filename, e.strerror)) from None
                rv = nng.nng_tls_config_own_cert(cfg, cert_pem, key_pem, None)
                if rv != 0:
                    raise BerthError(berth_pb2.INVALID_ARGUMENT,
                                     "cannot use the certificate %s with the key %s: %s"
                                     % (cert, key, self._err(rv)))
            rv = nng.nng_dialer_set_ptr(dialer, b"tls-config", cfg)
            if rv != 0:
                raise BerthError(berth_pb2.INVALID_ARGUMENT,
                                 "cannot use TLS on %s: %s" % (url, self._err(rv)))
        finally:
            nng.nng_tls_config_free(cfg)  # the dialer keeps its own reference

    def _err(self, rv):
        return self._nng.nng_strerror(rv).decode(errors="replace")

    def close(self):
        """Closes the socket; later calls raise CANCELLED. Closing twice is fine."""
        with self._lock:
            if self._open:
                self._open = False
                self._nng.nng_close(self._sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_open", False):
            self.close()

    def call(self, method, request=None, request_id=None, timeout_ms=None):
        """Calls `method` ("Health" or "/berth.v1.Berth/Health").

        request     that method's request message (None: all fields default)
        request_id  the idempotency key; None draws a fresh random one.
                    Pass the same id again to retry a call whose outcome is
                    unknown: berthd answers a repeated mutating call from
                    its first run.
        timeout_ms  this call's deadline instead of the client's

        Returns the typed reply message (e.g. berth_pb2.HealthResponse).
        Raises BerthError for any code other than OK, also INVALID_ARGUMENT
        when `request` is of the wrong type.
        """
        m = _service_method(method)
        req_cls, rep_cls = _message_class(m.input_type), _message_class(m.output_type)
        if request is None:
            request = req_cls()
        elif request.DESCRIPTOR.full_name != m.input_type.full_name:
            raise BerthError(berth_pb2.INVALID_ARGUMENT, "%s takes %s, not %s" % (
                m.name, m.input_type.full_name, request.DESCRIPTOR.full_name))
        timeout = int(timeout_ms) if timeout_ms else self.timeout_ms
        env = berth_pb2.RpcRequest(
            method=METHOD_PREFIX + m.name,
            payload=request.SerializeToString(),
            token=self.token,
            timeout_ms=timeout,
            request_id=request_id if request_id is not None else new_request_id(),
        )
        data = self._exchange(env.SerializeToString(), timeout)
        resp = berth_pb2.RpcResponse()
        try:
            resp.ParseFromString(data)
        except DecodeError:
            raise BerthError(berth_pb2.INTERNAL, "berthd sent a malformed reply") from None
        if resp.code != berth_pb2.OK:
            raise BerthError(resp.code, resp.message, resp.details)
        reply = rep_cls()
        try:
            reply.ParseFromString(resp.payload)
        except DecodeError:
            raise BerthError(berth_pb2.INTERNAL,
                             "berthd sent a malformed " + m.output_type.full_name) from None
        return reply

    def _exchange(self, data, timeout_ms):
        """Sends one request and returns the reply's bytes."""
        with self._lock:
            if not self._open:
                raise BerthError(berth_pb2.CANCELLED, "the client is closed")
            lib, wait = self._nng, timeout_ms + _DEADLINE_GRACE_MS
            lib.nng_socket_set_ms(self._sock, b"send-timeout", wait)
            lib.nng_socket_set_ms(self._sock, b"recv-timeout", wait)
            buf = ctypes.create_string_buffer(data, len(data))
            rv = lib.nng_send(self._sock, buf, len(data), 0)
            if rv == 0:
                ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
                rv = lib.nng_recv(self._sock, ctypes.byref(ptr), ctypes.byref(size),
                                  _NNG_FLAG_ALLOC)
                if rv == 0:
                    try:
                        return ctypes.string_at(ptr, size.value)
                    finally:
                        lib.nng_free(ptr, size)
        if rv == _NNG_ETIMEDOUT:
            raise BerthError(berth_pb2.DEADLINE_EXCEEDED,
                             "no answer from berthd within %d ms" % timeout_ms)
        raise BerthError(berth_pb2.UNAVAILABLE, "berthd: " + self._err(rv))

    # --- convenience: the common calls ------------------------------------

    def health(self, service=""):
        """HealthResponse: status (SERVING...), version, docker_available, event_urls."""
        return self.call("Health", berth_pb2.HealthRequest(service=service))

    def list_templates(self):
        """The templates (berth_pb2.Template), sorted by name."""
        return list(self.call("ListTemplates").templates)

    def get_template(self, name, revision=0):
        """The template, or as it was at `revision` (0: the current one)."""
        return self.call("GetTemplate", berth_pb2.GetTemplateRequest(
            name=name, revision=revision)).template

    def put_template(self, template):
        """Creates or replaces a template; returns the PutTemplateResponse
        (template, created, reset_fields)."""
        return self.call("PutTemplate", berth_pb2.PutTemplateRequest(template=template))

    def update_template(self, template, fields):
        """Changes only `fields` (proto field names) of template.name to
        template's values; returns the UpdateTemplateResponse (template, changed)."""
        return self.call("UpdateTemplate", berth_pb2.UpdateTemplateRequest(
            template=template, fields=list(fields)))

    def template_revisions(self, name):
        """The template's revisions (berth_pb2.TemplateRevision), newest first."""
        return list(self.call("ListTemplateRevisions", berth_pb2.ListTemplateRevisionsRequest(
            name=name)).revisions)

    def start_rollout(self, template, max_parallel=0, rebuild=False, build_args=(),
                      no_cache=False, on_failure="", min_ready_s=0):
        """Starts a rollout of the template's outdated instances; returns the
        berth_pb2.Rollout at once (get_rollout follows it)."""
        return self.call("StartRollout", berth_pb2.StartRolloutRequest(
            template=template, max_parallel=max_parallel, rebuild=rebuild,
            build_args=list(build_args), no_cache=no_cache, on_failure=on_failure,
            min_ready_s=min_ready_s)).rollout

    def get_rollout(self, id="", template=""):
        """A rollout by id, or the template's newest (berth_pb2.Rollout)."""
        return self.call("GetRollout", berth_pb2.GetRolloutRequest(
            id=id, template=template)).rollout

    def control_rollout(self, id, action):
        """action "resume" or "abort" for a paused rollout; the Rollout after."""
        return self.call("ControlRollout", berth_pb2.ControlRolloutRequest(
            id=id, action=action)).rollout

    def delete_template(self, name):
        self.call("DeleteTemplate", berth_pb2.DeleteTemplateRequest(name=name))

    def plan_spec(self, spec, prune=False):
        """The PlanSpecResponse (changes, fingerprint) of a berth_pb2.Spec;
        nothing changes. A spec with mistakes raises BerthError
        INVALID_ARGUMENT with one detail per mistake
        (field "templates.NAME.FIELD")."""
        return self.call("PlanSpec", berth_pb2.PlanSpecRequest(spec=spec, prune=prune))

    def apply_spec(self, spec, fingerprint, prune=False):
        """Applies the plan named by `fingerprint` (from plan_spec; "" applies
        the plan of now); returns the ApplySpecResponse (applied, rollouts).
        FAILED_PRECONDITION when the plan changed since."""
        return self.call("ApplySpec", berth_pb2.ApplySpecRequest(
            spec=spec, prune=prune, fingerprint=fingerprint))

    def launch(self, template, instance="", port=0, request_id=None):
        """Launches an instance; returns the LaunchServiceResponse (service, skipped_ports)."""
        return self.call("LaunchService", berth_pb2.LaunchServiceRequest(
            template=template, instance=instance, port=port), request_id=request_id)

    def list_services(self, template="", status=""):
        return list(self.call("ListServices", berth_pb2.ListServicesRequest(
            template=template, status=status)).services)

    def get_service(self, service_id):
        """The Service, with its container's live state."""
        return self.call("GetService", berth_pb2.GetServiceRequest(
            service_id=service_id)).service

    def stop_service(self, service_id, timeout_s=0):
        return self.call("StopService", berth_pb2.StopServiceRequest(
            service_id=service_id, timeout_s=timeout_s)).service

    def restart_service(self, service_id):
        return self.call("RestartService", berth_pb2.RestartServiceRequest(
            service_id=service_id)).service

    def remove_service(self, service_id, purge=False, keep_container=False, request_id=None):
        """Removes a service; returns the RemoveServiceResponse
        (service, container_removed, directory_removed)."""
        return self.call("RemoveService", berth_pb2.RemoveServiceRequest(
            service_id=service_id, purge=purge, keep_container=keep_container),
            request_id=request_id)

    # --- logs, exec, events -------------------------------------------------

    def service_logs(self, service_id, tail=0, since="", timestamps=False,
                     stream=berth_pb2.LOG_STREAM_BOTH, cursor="", follow=False, wait_ms=0):
        """GetServiceLogsResponse (logs, cursor, ended). since: RFC 3339 or
        Unix seconds; cursor: the last answer's, for the lines after it;
        follow: wait up to wait_ms (capped at 30000) when there is none yet."""
        return self.call("GetServiceLogs", berth_pb2.GetServiceLogsRequest(
            service_id=service_id, tail=tail, since=since, timestamps=timestamps,
            stream=stream, cursor=cursor, follow=follow, wait_ms=wait_ms),
            timeout_ms=max(self.timeout_ms, wait_ms + _LONG_POLL_MARGIN_MS) if follow else None)

    def logs(self, service_id, follow=False, tail=0, since="", timestamps=False,
             stream=berth_pb2.LOG_STREAM_BOTH, wait_ms=25000):
        """Yields the service's log lines (str, without the newline). With
        follow, goes on with long polls and the cursor (no line lost or
        repeated) until the container has stopped; a failure that may pass
        (UNAVAILABLE, DEADLINE_EXCEEDED) is retried with the same cursor."""
        cursor, retry = "", _RETRY_FIRST_S
        while True:
            started = time.monotonic()
            try:
                r = self.service_logs(service_id, tail=tail, since=since,
                                      timestamps=timestamps, stream=stream, cursor=cursor,
                                      follow=follow, wait_ms=wait_ms if follow else 0)
            except BerthError as e:
                if not follow or e.code_name not in _TRANSIENT:
                    raise
                time.sleep(retry)
                retry = min(retry * 2, _RETRY_MAX_S)
                continue
            retry = _RETRY_FIRST_S
            for line in r.logs.splitlines():
                yield line
            if not follow or r.ended:
                return
            cursor = r.cursor
            if not r.logs and time.monotonic() - started < _QUICK_S:
                time.sleep(_PAUSE_S)  # berthd answered at once: do not spin

    def exec_service(self, service_id, command, timeout_ms=0):
        """ExecServiceResponse (exit_code, stdout, stderr, truncated) of
        `command` (a list: argv, no shell) run in the service's container.
        On timeout BerthError DEADLINE_EXCEEDED: the command may go on."""
        wait = timeout_ms or 30000
        return self.call("ExecService", berth_pb2.ExecServiceRequest(
            service_id=service_id, command=list(command), timeout_ms=timeout_ms),
            timeout_ms=max(self.timeout_ms, wait + _LONG_POLL_MARGIN_MS))

    def list_nodes(self):
        """The swarm's nodes (berth_pb2.Node), sorted by host name. The
        engine backend answers BerthError FAILED_PRECONDITION."""
        return list(self.call("ListNodes", berth_pb2.ListNodesRequest()).nodes)

    def set_node_availability(self, node, availability):
        """availability "active", "pause" or "drain" for the node named by
        id, unique id prefix or host name (admin); the Node after."""
        return self.call("SetNodeAvailability", berth_pb2.SetNodeAvailabilityRequest(
            node=node, availability=availability)).node

    def watch_events(self, after_sequence=0, max_events=0, wait_ms=0, service="", template=""):
        """WatchEventsResponse (events, cursor, oldest_sequence, last_sequence):
        the events after `after_sequence`, waiting up to wait_ms for one."""
        return self.call("WatchEvents", berth_pb2.WatchEventsRequest(
            after_sequence=after_sequence, max_events=max_events, wait_ms=wait_ms,
            service_id=service, template=template),
            timeout_ms=max(self.timeout_ms, wait_ms + _LONG_POLL_MARGIN_MS))

    def events(self, after=None, service="", template="", wait_ms=25000):
        """Yields berth_pb2.Event as they happen, for ever (break out of the
        loop to stop): after sequence `after`, or from now when None. Long
        polls resume with their cursor after a failure that may pass; events
        berthd no longer keeps (OUT_OF_RANGE) are skipped to the oldest kept."""
        if after is None:
            after = self.watch_events(max_events=1, service=service,
                                      template=template).last_sequence
        retry = _RETRY_FIRST_S
        while True:
            started = time.monotonic()
            try:
                r = self.watch_events(after_sequence=after, wait_ms=wait_ms, service=service,
                                      template=template)
            except BerthError as e:
                oldest = _oldest_sequence(e)
                if e.code_name == "OUT_OF_RANGE" and oldest > after + 1:
                    after = oldest - 1
                    continue
                if e.code_name not in _TRANSIENT:
                    raise
                time.sleep(retry)
                retry = min(retry * 2, _RETRY_MAX_S)
                continue
            retry = _RETRY_FIRST_S
            for ev in r.events:
                yield ev
            after = max(after, r.cursor)
            if not r.events and time.monotonic() - started < _QUICK_S:
                time.sleep(_PAUSE_S)
