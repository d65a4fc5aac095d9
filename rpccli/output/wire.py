"""The wire view: hexdumps, the annotated request of ``--dry-run``, the ``-v`` header lines and the
equivalents printed by ``--explain`` (its nginx block is :mod:`rpccli.output.nginx`). Pure
functions from bytes to text (no IO, no rich).
"""

from __future__ import annotations

from collections.abc import Iterable

from protocol import CallResult, parse_address
from protocol.errors import AddressError
from protocol.visible import counted
from protocol.wire import HEADER_SIZE, MAX_ARGS, MODIFIER1_RPC, decode_array, unpack_header

__all__ = [
    "annotate_request",
    "hexdump",
    "timing_line",
    "uwsgi_rpc_call",
    "verbose_lines",
]

_PER_LINE = 16


def _printable(data: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "." for b in data)


def hexdump(data: bytes, *, start: int = 0, limit: int | None = None) -> str:
    """``xxd``-style lines: offset, 16 hex bytes, the printable ASCII; ``limit`` caps the bytes."""
    shown = data if limit is None else data[:limit]
    lines = []
    for pos in range(0, len(shown), _PER_LINE):
        chunk = shown[pos : pos + _PER_LINE]
        hex_part = " ".join(f"{b:02x}" for b in chunk)
        lines.append(f"{start + pos:08x}  {hex_part:<47}  {_printable(chunk)}")
    if limit is not None and len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes")
    return "\n".join(lines)


def _preview(data: bytes, width: int = 40) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{len(data)} binary bytes"
    shown = text if len(text) <= width else text[: width - 1] + "…"
    return '"' + shown.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _segment(offset: int, data: bytes, note: str) -> list[str]:
    lines = []
    for pos in range(0, max(len(data), 1), _PER_LINE):
        chunk = data[pos : pos + _PER_LINE]
        hex_part = " ".join(f"{b:02x}" for b in chunk)
        lines.append(f"{offset + pos:04x}  {hex_part:<47}  {note if pos == 0 else ''}".rstrip())
    return lines


def _mode_name(modifier2: int) -> str:
    if modifier2 == 0:
        return "packet: a framed answer"
    if modifier2 == 2:
        return "HTTP-style vars request"
    return "raw: the result bytes until close"


def annotate_request(request: bytes) -> str:
    """An annotated hexdump of an RPC request: the header, then each item's length and bytes."""
    header = unpack_header(request)
    body = request[HEADER_SIZE:]
    m1 = "RPC" if header.modifier1 == MODIFIER1_RPC else "?"
    lines = _segment(
        0,
        request[:HEADER_SIZE],
        f"header: modifier1 {header.modifier1} ({m1}), size {header.size} (u16 little endian), "
        f"modifier2 {header.modifier2} ({_mode_name(header.modifier2)})",
    )
    offset = HEADER_SIZE
    items = decode_array(body)
    for index, item in enumerate(items):
        what = "function" if index == 0 else f"arg {index}"
        lines += _segment(offset, request[offset : offset + 2], f"{what} length {len(item)}")
        offset += 2
        if item:
            lines += _segment(offset, item, f"{what} {_preview(item)}")
        offset += len(item)
    total = f"{len(request)} bytes: 4-byte header + {len(body)}-byte body"
    return "\n".join([f"# {total}, {counted(len(items), 'item')}", *lines])


def _pyrepr(data: bytes) -> str:
    return repr(data)


def uwsgi_rpc_call(node: str, function: bytes, args: Iterable[bytes]) -> str:
    """The same call from inside a uWSGI worker (Python 3: name and args are bytes,
    docs/protocol.md#other-clients)."""
    note = ""
    try:
        address = parse_address(node)
    except AddressError:
        address = None
    target = node
    if address is not None:
        if address.kind == "tcp":
            target = f"{address.host}:{address.port}"
            if not address.is_literal or ":" in address.host:
                note = "  # uwsgi.rpc takes IPv4 literals only: no DNS names, no IPv6"
        elif address.kind == "abstract":
            target = f"@{address.path}"
        else:
            target = address.path
    parts = [repr(target), _pyrepr(function), *(_pyrepr(a) for a in args)]
    return f"uwsgi.rpc({', '.join(parts)}){note}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def timing_line(result: CallResult) -> str:
    t = result.timings
    return (
        f"* timing: connect {_ms(t.connect)}, first byte {_ms(t.first_byte)}, total {_ms(t.total)}"
    )


def verbose_lines(result: CallResult) -> list[str]:
    """The ``-v`` view: the request and response headers decoded, then the timings."""
    request = result.request
    head = unpack_header(request)
    items = decode_array(request[HEADER_SIZE:])
    lines = [
        f"> {result.node}",
        f"> request: modifier1 {head.modifier1}, size {head.size}, modifier2 {head.modifier2} "
        f"({_mode_name(head.modifier2)})",
        f"> items: function {_preview(items[0])}, {counted(len(items) - 1, 'arg')} "
        f"(at most {MAX_ARGS})",
    ]
    response = result.response
    if response.header is None:
        lines.append(
            f"< response: raw, no header; {counted(len(response.body), 'byte')} until close"
        )
    elif response.large:
        h = response.header
        length = dict(response.vars).get(b"CONTENT_LENGTH", b"?").decode("ascii", "replace")
        lines.append(
            f"< response: modifier1 {h.modifier1}, size {h.size}, modifier2 {h.modifier2} "
            f"(large form: vars block CONTENT_LENGTH={length}, then the body)"
        )
    else:
        h = response.header
        lines.append(f"< response: modifier1 {h.modifier1}, size {h.size}, modifier2 {h.modifier2}")
    lines.append(f"< body: {counted(len(response.body), 'byte')}")
    if result.tls is not None:
        lines[1:1] = result.tls.lines()
    lines.append(timing_line(result))
    return lines


def resolved_lines(nodes: Iterable[str]) -> list[str]:
    """``-v``: the addresses each DNS name resolves to, in the order they are tried (curl -v
    says the same); nothing for IP literals and sockets, nor when the name does not resolve
    (the call itself says so)."""
    import socket

    lines = []
    for node in nodes:
        address = parse_address(node)
        if address.is_literal:
            continue
        try:
            infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
        except OSError:
            continue
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        lines.append(f"* {address.host} resolves to {', '.join(found)}")
    return lines
