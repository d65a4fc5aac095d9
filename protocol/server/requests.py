"""What the bundled server answers to one complete packet, byte for byte as uWSGI 2.0.21 does.

Pure functions: bytes in, bytes out, no sockets. The asyncio side (:mod:`protocol.server`) reads
a packet, calls :func:`plan` to learn whether a function must run, runs it off the event loop, and
writes what :func:`answer` returns. An empty answer means "close after sending zero bytes", which
is how uWSGI answers every failure (docs/protocol.md#failures).

Every rule below was checked against a live uWSGI with raw sockets (tests/interop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..wire import (
    HEADER,
    MODIFIER1_PING,
    MODIFIER1_RPC,
    MODIFIER1_SIGNAL,
    MODIFIER2_LARGE,
    encode_vars,
)
from .functions import FunctionTable, Outcome

__all__ = [
    "MAX_ITEMS",
    "MAX_VARS",
    "SIGNAL_QUEUED",
    "WARNING_LIMIT",
    "Plan",
    "answer",
    "answer_parts",
    "http_page",
    "parse_rpc_array",
    "parse_uwsgi_vars",
    "ping_reply",
    "plan",
]

#: uwsgi_parse_array reads at most 255 items (name + 254 args); the rest is never looked at
MAX_ITEMS: Final = 255
#: uwsgi_parse_vars refuses a block with more than 128 pairs (vec_size 261 - 5 slots)
MAX_VARS: Final = 128
#: uWSGI keeps 80 bytes of the warning message (shared->warning_message[81])
WARNING_LIMIT: Final = 80
#: modifier1 0 is the Python (WSGI) plugin; with no WSGI app loaded uWSGI answers a 500 page
MODIFIER1_WSGI: Final = 0
#: what uWSGI with a master answers to every signal packet, registered or not
SIGNAL_QUEUED: Final = b"\xff\x00\x00\x01"
_SERVER_ERROR: Final = b"Internal Server Error"


def _u16(data: bytes, pos: int) -> int:
    return data[pos] | (data[pos + 1] << 8)


def parse_rpc_array(body: bytes) -> list[bytes] | None:
    """uWSGI's ``uwsgi_parse_array``: the items, or None when uWSGI rejects the request.

    Quirks kept on purpose (docs/protocol.md#empty-items): a zero-length item is skipped without
    counting; a length field must be followed by at least one byte (``ptr + 2 < end``), so a
    trailing empty item or a stray odd byte rejects the whole request; after 255 items the rest is
    ignored unparsed.
    """
    items: list[bytes] = []
    pos, end = 0, len(body)
    while pos < end and len(items) < MAX_ITEMS:
        if pos + 2 >= end:
            return None
        start = pos + 2
        pos = start + (body[pos] | (body[pos + 1] << 8))  # one call per request: no _u16 here
        if pos > end:
            return None
        if pos > start:
            items.append(body[start:pos])
    return items


def parse_uwsgi_vars(body: bytes) -> list[tuple[bytes, bytes]] | None:
    """uWSGI's ``uwsgi_parse_vars`` validity rules: the pairs, or None when it rejects them.

    A key needs ``ptr + 2 < end``, may not be empty and must leave at least one byte after it;
    a value may be empty, even at the very end; more than 128 pairs are refused.
    """
    pairs: list[tuple[bytes, bytes]] = []
    pos, end = 0, len(body)
    while pos < end:
        if pos + 2 >= end:
            return None
        size = _u16(body, pos)
        if not size:
            return None
        pos += 2
        if pos + size >= end:
            return None
        key = body[pos : pos + size]
        pos += size
        if pos + 2 > end:
            return None
        size = _u16(body, pos)
        pos += 2
        if pos + size > end:
            return None
        if len(pairs) >= MAX_VARS:
            return None
        pairs.append((key, body[pos : pos + size]))
        pos += size
    return pairs


def _last(pairs: Sequence[tuple[bytes, bytes]], key: bytes) -> bytes | None:
    # uwsgi_parse_vars assigns PATH_INFO and SERVER_PROTOCOL in a loop: the last one wins
    found = None
    for k, v in pairs:
        if k == key:
            found = v
    return found


def _first(pairs: Sequence[tuple[bytes, bytes]], key: bytes) -> bytes | None:
    # uwsgi_get_var returns the first match
    for k, v in pairs:
        if k == key:
            return v
    return None


def http_page(
    protocol: bytes | None, status: bytes, headers: Sequence[bytes], body: bytes
) -> bytes:
    """An HTTP response as uWSGI's uwsgi protocol writes it: the status line uses the request's
    SERVER_PROTOCOL, or ``HTTP/1.0`` when there is none."""
    head = (protocol or b"HTTP/1.0") + b" " + status + b"\r\n"
    return head + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def _error_page(protocol: bytes | None, status: bytes, text: bytes) -> bytes:
    # uwsgi_404 / uwsgi_500: status, Connection: close, Content-Type: text/plain, body
    return http_page(protocol, status, [b"Connection: close", b"Content-Type: text/plain"], text)


def ping_reply(modifier1: int, warning: str | None) -> bytes:
    """``64 00 00 01``, or ``64 LL LL 01`` + the first 80 bytes of the warning
    (docs/protocol.md#ping)."""
    text = (warning or "").encode("utf-8", "surrogateescape")[:WARNING_LIMIT]
    text = text.split(b"\0", 1)[0]  # a C string in uWSGI's shared memory
    return HEADER.pack(modifier1, len(text), 1) + text


@dataclass(slots=True)  # not frozen: one is made per call, and frozen ones cost 3 times more
class Plan:
    """What to do with one packet.

    ``function`` is None when the answer needs no function call: then ``immediate`` is the whole
    answer (empty = the 0-byte close) and ``reason`` says why it is empty. Otherwise run
    ``function(*args)`` off the event loop and pass the outcome to :func:`answer`.
    """

    modifier1: int
    modifier2: int
    function: bytes | None = None
    args: tuple[bytes, ...] = ()
    immediate: bytes = b""
    reason: str | None = None
    kind: str = "rpc"  # rpc | http | ping | signal | wsgi | unserved
    protocol: bytes | None = None
    accept: bytes | None = None


def plan(modifier1: int, modifier2: int, body: bytes, *, warning: str | None = None) -> Plan:
    """Decide how to answer one complete packet (its 4-byte header already removed)."""
    if modifier1 == MODIFIER1_RPC and body and modifier2 not in (2, 3):  # a call: the usual case
        items = parse_rpc_array(body)
        if items is not None:
            return Plan(modifier1, modifier2, items[0], tuple(items[1:]))  # positional: cheaper
    if modifier1 == MODIFIER1_PING:
        # the ping plugin ignores any body and the request modifier2 (docs/protocol.md#ping)
        reply = ping_reply(modifier1, warning)
        text = reply[4:].decode("utf-8", "replace") or None
        return Plan(modifier1, modifier2, immediate=reply, reason=text, kind="ping")
    if modifier1 == MODIFIER1_WSGI:
        return _plan_wsgi(modifier2, body)
    if modifier1 == MODIFIER1_SIGNAL:
        # the body is read and ignored; the signal is queued for the master to route
        return Plan(
            modifier1,
            modifier2,
            immediate=SIGNAL_QUEUED,
            reason=f"signal {modifier2}",
            kind="signal",
        )
    if modifier1 != MODIFIER1_RPC:
        return Plan(
            modifier1,
            modifier2,
            reason=f"modifier1 {modifier1} is not served (uWSGI: unavailable modifier requested)",
            kind="unserved",
        )
    if not body:
        return Plan(modifier1, modifier2, reason="empty RPC request")
    if modifier2 == 2:
        return _plan_http(modifier2, body)
    if modifier2 == 3:
        # XML-RPC: uWSGI 2.0.21 reads no body for it, so it always answers 500
        # (docs/protocol.md#responses)
        page = _error_page(None, b"500 Internal Server Error", _SERVER_ERROR)
        return Plan(modifier1, modifier2, immediate=page, reason="XML-RPC (modifier2 3) is broken")
    items = parse_rpc_array(body)
    if items is None:
        return Plan(
            modifier1,
            modifier2,
            reason="invalid uwsgi array (an empty item at the end, or a cut item)",
        )
    return Plan(modifier1, modifier2, items[0], tuple(items[1:]))  # positional: cheaper


def _plan_wsgi(modifier2: int, body: bytes) -> Plan:
    # uWSGI with the python plugin and no WSGI app: vars are parsed, then a 500 page
    if not body:
        return Plan(MODIFIER1_WSGI, modifier2, reason="empty python request", kind="wsgi")
    pairs = parse_uwsgi_vars(body)
    if pairs is None:
        return Plan(MODIFIER1_WSGI, modifier2, reason="invalid uwsgi vars", kind="wsgi")
    page = _error_page(
        _last(pairs, b"SERVER_PROTOCOL"), b"500 Internal Server Error", _SERVER_ERROR
    )
    return Plan(
        MODIFIER1_WSGI, modifier2, immediate=page, reason="no WSGI application", kind="wsgi"
    )


def _plan_http(modifier2: int, body: bytes) -> Plan:
    """modifier2 2: PATH_INFO ``/func/a/b`` -> an HTTP response (docs/protocol.md#responses)."""
    pairs = parse_uwsgi_vars(body)
    if pairs is None:
        return Plan(MODIFIER1_RPC, modifier2, reason="invalid uwsgi vars", kind="http")
    protocol = _last(pairs, b"SERVER_PROTOCOL") or None
    path = _last(pairs, b"PATH_INFO") or b""
    error = _error_page(protocol, b"500 Internal Server Error", _SERVER_ERROR)
    if not path:
        return Plan(MODIFIER1_RPC, modifier2, immediate=error, reason="no PATH_INFO", kind="http")
    if path.startswith(b"/"):
        path = path[1:]
    # strtok_r over a C string: cut at NUL, split on '/', empty pieces vanish
    pieces = [p for p in path.split(b"\0", 1)[0].split(b"/") if p]
    if not pieces:
        return Plan(
            MODIFIER1_RPC,
            modifier2,
            immediate=error,
            reason="empty PATH_INFO",
            kind="http",
        )
    return Plan(
        MODIFIER1_RPC,
        modifier2,
        function=pieces[0],
        args=tuple(pieces[1:MAX_ITEMS]),
        kind="http",
        protocol=protocol,
        accept=_first(pairs, b"HTTP_ACCEPT"),
    )


def answer_parts(step: Plan, outcome: Outcome) -> tuple[bytes, ...]:
    """The bytes to send after running ``step.function``, in pieces that are sent as they are
    (no piece is the result copied): a big result goes out after its header without being
    joined to it. No pieces = the 0-byte close."""
    result = outcome.result
    if step.kind == "http":
        if not result:
            return (_error_page(step.protocol, b"404 Not Found", b"Not Found"),)
        accept = step.accept
        ctype = b"application/binary" if accept is None or accept in (b"*/*", b"*") else accept
        headers = [b"Content-Length: %d" % len(result), b"Content-Type: " + ctype]
        return http_page(step.protocol, b"200 OK", headers, b""), result
    if not result:
        return ()
    if step.modifier2 != 0:
        return (result,)  # raw: 1 and every other value but 2 and 3 (docs/protocol.md#responses)
    if len(result) > 0xFFFF:
        block = encode_vars([(b"CONTENT_LENGTH", str(len(result)).encode())])
        return HEADER.pack(step.modifier1, len(block), MODIFIER2_LARGE) + block, result
    return (HEADER.pack(step.modifier1, len(result), 0) + result,)  # small: one send


def answer(step: Plan, outcome: Outcome) -> bytes:
    """The bytes to send after running ``step.function``; empty = the 0-byte close."""
    return b"".join(answer_parts(step, outcome))


def run(table: FunctionTable, step: Plan) -> tuple[tuple[bytes, ...], Outcome]:
    """Run a planned call (in a worker thread) and build the answer's pieces."""
    assert step.function is not None
    outcome = table.invoke(step.function, step.args)
    return answer_parts(step, outcome), outcome
