"""TLS for the uwsgi protocol: uWSGI's ``--suwsgi-socket``/``--ssl-socket`` and nginx's
``uwsgi_pass suwsgi://`` carry the same packets inside TLS (docs/tls.md).

Standard library ``ssl`` only. What lives here: the contexts (a client one that verifies by
default, at least TLS 1.2; a server one for ``rpccli serve``), the session cache that lets every
connection after the first to a node resume its TLS session, the blocking TLS round trip the
blocking client uses, what ``-v`` shows about a connection, and the one-line errors for each way
a handshake fails.
"""

from __future__ import annotations

import socket
import ssl
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import failures
from .errors import CallError, ConnectError, ProtocolError, UsageError

if TYPE_CHECKING:
    from .reader import PingReader, ResponseReader, SignalReader

__all__ = [
    "TLSError",
    "TLSInfo",
    "client_context",
    "handshake_failed",
    "info_of",
    "looks_like_tls",
    "nodelay",
    "remember_session",
    "server_context",
    "session_for",
]

_CHUNK = 64 * 1024


class TLSError(ConnectError):
    """The TLS handshake failed (verification, a refused or missing client certificate, a peer
    that does not speak TLS). Nothing was sent, so it is a connect error (exit 3)."""


@dataclass(frozen=True, slots=True)
class TLSInfo:
    """What ``-v`` shows about one TLS connection."""

    version: str
    cipher: str
    subject: str  # the peer certificate's subject, "" when it was not verified (insecure)
    not_after: str
    resumed: bool

    def lines(self) -> list[str]:
        peer = f"{self.subject}, expires {self.not_after}" if self.subject else "not verified"
        return [
            f"* TLS: {self.version}, {self.cipher}, session {'resumed' if self.resumed else 'new'}",
            f"* TLS peer certificate: {peer}",
        ]


def _file_error(what: str, path: str | None, exc: Exception) -> UsageError:
    reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
    return UsageError(f"cannot use the {what} {path}: {str(reason).lower().replace('_', ' ')}")


def client_context(
    *,
    cafile: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    insecure: bool = False,
    max_version: str | None = None,
) -> ssl.SSLContext:
    """A client context: verifying (``cafile``, or the system trust store), TLS 1.2 at least,
    with a client certificate when ``certfile`` is given (``keyfile``: when not in that file).
    ``max_version`` "1.2" offers TLS 1.2 only, whose resumed handshakes cost a fraction of
    TLS 1.3's (docs/tls.md#cost); None offers the highest both sides speak."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if max_version is not None:
        versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
        if max_version not in versions:
            raise UsageError(f"max_version must be 1.2 or 1.3, not {max_version!r}")
        context.maximum_version = versions[max_version]
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif cafile:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise _file_error("CA file", cafile, exc) from None
    else:
        context.load_default_certs()
    if keyfile and not certfile:
        raise UsageError("a client key needs the client certificate it belongs to")
    if certfile:
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise _file_error("client certificate (or its key)", certfile, exc) from None
        _WITH_CERT.add(context)
    return context


#: the contexts made with a client certificate: what a server's refusal is blamed on
_WITH_CERT: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()


def server_context(certfile: str, keyfile: str | None, client_ca: str | None) -> ssl.SSLContext:
    """A server context for ``rpccli serve``: TLS 1.2 at least; with ``client_ca``, a client
    certificate signed by it is required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise _file_error("server certificate (or its key)", certfile, exc) from None
    if client_ca:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise _file_error("client CA file", client_ca, exc) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


# -- sessions ---------------------------------------------------------------------------------
# One full handshake per node and context, then resumed ones: a session belongs to the context
# that made it, so the cache is kept per context (and goes with it).
_SESSIONS: weakref.WeakKeyDictionary[ssl.SSLContext, dict[str, ssl.SSLSession]] = (
    weakref.WeakKeyDictionary()
)


def session_for(context: ssl.SSLContext, node: str, name: str) -> ssl.SSLSession | None:
    """The session to resume with ``node`` under the server ``name`` (a session is never
    offered for another name: its certificate was checked for this one only)."""
    return _SESSIONS.get(context, {}).get(f"{name} {node}")


def remember_session(
    context: ssl.SSLContext, node: str, name: str, sock: ssl.SSLObject | ssl.SSLSocket
) -> None:
    session = sock.session
    if session is not None:
        _SESSIONS.setdefault(context, {})[f"{name} {node}"] = session


def nodelay(sock: socket.socket) -> socket.socket:
    """``sock`` with TCP_NODELAY: the request goes out right after the handshake's last flight.
    A resumed TLS 1.2 handshake ends with the client's flight, so without it the request waits
    for the server's delayed ACK, some 40 ms a call (docs/protocol.md#tls)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def info_of(sock: ssl.SSLObject | ssl.SSLSocket) -> TLSInfo:
    cipher = sock.cipher()
    cert: Any = sock.getpeercert() or {}
    subject = ", ".join(f"{key}={value}" for rdn in cert.get("subject", ()) for key, value in rdn)
    return TLSInfo(
        version=sock.version() or "?",
        cipher=cipher[0] if cipher else "?",
        subject=subject,
        not_after=str(cert.get("notAfter", "")),
        resumed=bool(sock.session_reused),
    )


# -- errors -----------------------------------------------------------------------------------
_VERIFY_REASONS = {
    10: "the certificate has expired",
    9: "the certificate is not yet valid",
    18: "unknown CA: the certificate is self-signed and not trusted",
    19: "unknown CA: the chain ends in a CA that is not trusted",
    20: "unknown CA: the issuer is not trusted",
    21: "unknown CA: the issuer is not trusted",
}


def handshake_failed(
    node: str,
    exc: OSError,
    server_name: str | None,
    context: ssl.SSLContext | None = None,
    *,
    after: bool = False,
) -> CallError:
    """One line for a failed handshake, or (``after``) a failure after it and before any byte
    of the answer: with TLS 1.3 a server checks the client certificate only then, and uWSGI
    sends an alert when none came but just closes on one it refuses."""
    prefix = f"TLS with {node} failed"
    refused = (
        "the server refused the client certificate"
        if context in _WITH_CERT
        else "the server requires a client certificate"
    )
    hints = {
        "unknown CA": "trust its CA with cafile=",
        "wrong host": "the name checked is set with server_name=",
        "requires a": "give one with certfile= and keyfile=",
    }
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code == 62 or "hostname" in (exc.verify_message or "").lower():
            reason = f"wrong host name: the certificate is not for {server_name!r}"
        else:
            reason = _VERIFY_REASONS.get(code) or f"certificate verify failed: {exc.verify_message}"
        return TLSError(node, f"{prefix}: {reason}", hint=_hint(reason, hints))
    if isinstance(exc, ssl.SSLError):
        text = f"{exc.reason or ''} {exc}".upper()
        if "CERTIFICATE_REQUIRED" in text or ("HANDSHAKE_FAILURE" in text and "ALERT" in text):
            reason = refused
        elif any(word in text for word in ("UNKNOWN_CA", "BAD_CERTIFICATE", "DECRYPT_ERROR")):
            reason = "the server refused the client certificate"
        elif "CERTIFICATE_EXPIRED" in text:
            reason = "the server refused the client certificate: it has expired"
        elif "WRONG_VERSION_NUMBER" in text or "RECORD_LAYER" in text or "PACKET_LENGTH" in text:
            reason = "the answer is not TLS: this looks like a plain uwsgi socket (drop tls:)"
        elif "EOF" in text:
            reason = refused if after else _PLAIN
        else:
            reason = (exc.reason or str(exc)).lower().replace("_", " ")
        return TLSError(node, f"{prefix}: {reason}", hint=_hint(reason, hints))
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        reason = refused if after else _PLAIN
        return TLSError(node, f"{prefix}: {reason}", hint=_hint(reason, hints))
    return failures.connect_failed(node, exc)


def _hint(reason: str, hints: dict[str, str]) -> str:
    return next((hint for start, hint in hints.items() if start in reason), "")


_PLAIN = (
    "the node closed the connection during the handshake: this looks like a plain uwsgi "
    "socket, not TLS (drop tls:)"
)


def looks_like_tls(data: bytes) -> bool:
    """True when an answer to a plain request starts like a TLS record (an alert or a
    handshake): the node is a TLS socket."""
    return len(data) >= 3 and data[0] in (0x15, 0x16) and data[1] == 3 and data[2] <= 4


def plain_to_tls(address: Any, node: str, timeout: float) -> ProtocolError | None:
    """After a plain call was reset with nothing back: the error to give instead when the node
    answers a TLS handshake (uWSGI's --suwsgi-socket resets a plain request), else None. One
    more connection, only on this failure, bounded by ``timeout``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection((address.host, address.port), timeout=timeout)
        with raw, context.wrap_socket(raw) as sock:
            sock.version()
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
        return None
    except ssl.SSLError as exc:
        if "WRONG_VERSION" in str(exc).upper() or "RECORD" in str(exc).upper():
            return None  # an answer that is not TLS
    except OSError:
        return None
    return ProtocolError(
        node, f"bad response from {node}: this looks like a TLS socket, use tls:{node}"
    )


# -- the blocking round trip ------------------------------------------------------------------
def roundtrip(
    client: Any,
    request: bytes,
    reader: ResponseReader | PingReader | SignalReader,
    function: str | bytes | None,
    start: float,
) -> tuple[float, float, int, TLSInfo]:
    """Connect, handshake (within the connect timeout), send, read into ``reader``.

    Returns when connected, when the first byte came, how many bytes, and the TLS info.
    """
    context: ssl.SSLContext = client.ssl_context
    node: str = client.node
    deadline = start + client.timeout
    limit = min(start + client.connect_timeout, deadline)
    address = client.address
    name = client.server_name or address.host
    raw: socket.socket | None = None
    try:
        raw = nodelay(
            socket.create_connection(
                (address.host, address.port), timeout=max(limit - time.monotonic(), 1e-6)
            )
        )
    except TimeoutError:
        raise failures.connect_timed_out(node, client.connect_timeout) from None
    except socket.gaierror as exc:
        raise failures.resolve_failed(node, exc) from None
    except OSError as exc:
        raise failures.connect_failed(node, exc) from None
    received = 0
    sock: ssl.SSLSocket | None = None
    try:
        sock = context.wrap_socket(
            raw,
            server_hostname=name if context.check_hostname else None,
            do_handshake_on_connect=False,
            session=session_for(context, node, name),
        )
        try:
            sock.settimeout(max(limit - time.monotonic(), 1e-6))
            sock.do_handshake()
        except TimeoutError:
            raise failures.connect_timed_out(node, client.connect_timeout) from None
        except OSError as exc:
            raise handshake_failed(node, exc, name, context) from None
        info = info_of(sock)
        connected = first = time.monotonic()
        try:
            sock.settimeout(max(deadline - connected, 1e-6))
            sock.sendall(request)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                try:
                    data = sock.recv(_CHUNK)
                except ssl.SSLZeroReturnError:
                    data = b""
                except ssl.SSLEOFError:
                    if not received:
                        raise
                    data = b""  # a close without close_notify: the end of a raw answer
                if not received:
                    first = time.monotonic()
                if not data:
                    break
                received += len(data)
                if reader.feed(data):
                    break
        except CallError:
            raise
        except OSError as exc:
            if not received and isinstance(exc, ssl.SSLError | ConnectionError):
                raise handshake_failed(node, exc, name, context, after=True) from None
            raise client._failed(exc, request, function, received) from None
        remember_session(context, node, name, sock)
        return connected, first, received, info
    finally:
        (sock or raw).close()
