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

from google.protobuf.message import DecodeError

from berth.v1 import berth_pb2

__all__ = ["BerthError", "Client", "DEFAULT_URL", "DEFAULT_TIMEOUT_MS", "berth_pb2"]

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
        for fname, restype, argtypes in (
            ("nng_req0_open", ctypes.c_int, [sockp]),
            ("nng_close", ctypes.c_int, [sock]),
            ("nng_dial", ctypes.c_int, [sock, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]),
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


def new_request_id():
    """128 random bits as 32 hex digits."""
    return os.urandom(16).hex()


class Client:
    """One connection to berthd.

    url         ipc://PATH or tcp://HOST:PORT of berthd
    token       bearer token sent in every RpcRequest, or None
    timeout_ms  how long each call may take; also sent to berthd as the
                call's deadline

    The constructor dials at once: a server that does not answer is
    BerthError(UNAVAILABLE). Afterwards nng redials by itself when the
    connection drops. Calls from several threads are serialised (a req0
    socket has one request in flight). close() (or a `with` block) releases
    the socket.
    """

    def __init__(self, url=DEFAULT_URL, token=None, timeout_ms=DEFAULT_TIMEOUT_MS):
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
        rv = self._nng.nng_dial(self._sock, url.encode(), None, 0)
        if rv != 0:
            self.close()
            code = (berth_pb2.INVALID_ARGUMENT if rv in (_NNG_EADDRINVAL, _NNG_ENOTSUP)
                    else berth_pb2.UNAVAILABLE)
            raise BerthError(code, "cannot connect to berthd at %s: %s" % (url, self._err(rv)))

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

    def get_template(self, name):
        return self.call("GetTemplate", berth_pb2.GetTemplateRequest(name=name)).template

    def put_template(self, template):
        """Creates or replaces a template; returns the PutTemplateResponse (template, created)."""
        return self.call("PutTemplate", berth_pb2.PutTemplateRequest(template=template))

    def delete_template(self, name):
        self.call("DeleteTemplate", berth_pb2.DeleteTemplateRequest(name=name))

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
