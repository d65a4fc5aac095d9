"""The uwsgi protocol as bytes in, bytes out: no sockets, no clock (sans-IO).

Packets, the array and vars encodings, the limits, and the request builders; the readers of
answers are in :mod:`protocol.reader`. Everything here follows docs/protocol.md.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal, NamedTuple

from .errors import RequestError

__all__ = [
    "DEFAULT_BUFFER_SIZE",
    "DEFAULT_MAX_RESPONSE",
    "HEADER",
    "HEADER_SIZE",
    "MAX_ARGS",
    "MAX_BODY",
    "MAX_ITEM",
    "MAX_NAME",
    "MAX_SIGNAL",
    "MODIFIER1_ECHO",
    "MODIFIER1_PING",
    "MODIFIER1_RPC",
    "MODIFIER1_SIGNAL",
    "MODIFIER2_LARGE",
    "PING_REQUEST",
    "SIGNAL_REPLY_MODIFIER1",
    "Header",
    "Mode",
    "RequestEncoder",
    "check_mode",
    "check_signal",
    "decode_array",
    "decode_vars",
    "encode_array",
    "encode_vars",
    "exceeds_default_buffer",
    "function_item",
    "mode_modifier2",
    "pack_header",
    "request_from_item",
    "rpc_request",
    "signal_request",
    "to_bytes",
    "unpack_header",
    "validate_function",
]

HEADER: Final = struct.Struct("<BHB")
HEADER_SIZE: Final = 4
_LEN: Final = struct.Struct("<H")

MODIFIER1_PING: Final = 100
MODIFIER1_ECHO: Final = 101
MODIFIER1_SIGNAL: Final = 110
MODIFIER1_RPC: Final = 173
#: the modifier1 of a signal reply (docs/protocol.md#other-packets)
SIGNAL_REPLY_MODIFIER1: Final = 255
#: response modifier2 of the large form: a vars block with CONTENT_LENGTH, then the body
#: (docs/protocol.md#responses)
MODIFIER2_LARGE: Final = 5

MAX_ITEM: Final = 65535  # every length is a u16 (docs/protocol.md#packets)
MAX_BODY: Final = 65535
#: uWSGI signals are 0..255: the number travels in modifier2 (docs/protocol.md#other-packets)
MAX_SIGNAL: Final = 255
MAX_NAME: Final = 255  # the function name is a C string of 1..255 bytes (docs/protocol.md#limits)
# 255 array items at most; more are dropped silently (docs/protocol.md#limits)
MAX_ARGS: Final = 254
DEFAULT_BUFFER_SIZE: Final = 4096  # uWSGI's default --buffer-size (docs/protocol.md#buffer-size)
DEFAULT_MAX_RESPONSE: Final = 64 * 1024 * 1024

PING_REQUEST: Final = HEADER.pack(MODIFIER1_PING, 0, 0)

#: "packet": modifier2 0, a framed answer. "raw": modifier2 1, the result bytes until close.
Mode = Literal["packet", "raw"]


def check_mode(mode: str) -> Mode:
    """``mode`` itself when it is a known response mode, else a :class:`RequestError`."""
    if mode == "packet":
        return "packet"
    if mode == "raw":
        return "raw"
    raise RequestError(f"unknown mode {mode!r}: use 'packet' or 'raw'", limit="mode")


def mode_modifier2(mode: Mode) -> int:
    """The request modifier2 that asks for ``mode``."""
    return 0 if mode == "packet" else 1


# the functional form: its field types are objects, where the class form's are strings (this
# module's annotations are) that typing checks with compile() -- whose first call in a process
# costs a cold `rpccli call` 10M instructions, for nothing (docs/design.md#start-up)
Header = NamedTuple("Header", [("modifier1", int), ("size", int), ("modifier2", int)])  # noqa: UP014


def pack_header(modifier1: int, size: int, modifier2: int = 0) -> bytes:
    """The 4-byte header: u8 modifier1, u16 little-endian size, u8 modifier2
    (docs/protocol.md#packets)."""
    if not 0 <= modifier1 <= 255 or not 0 <= modifier2 <= 255:
        raise RequestError("modifier1 and modifier2 must be 0..255", limit="modifier")
    if not 0 <= size <= MAX_BODY:
        raise RequestError(
            f"packet body of {size} bytes is over the protocol limit of {MAX_BODY}", limit="body"
        )
    return HEADER.pack(modifier1, size, modifier2)


def unpack_header(data: bytes | bytearray | memoryview) -> Header:
    if len(data) < HEADER_SIZE:
        raise ValueError(f"a header is {HEADER_SIZE} bytes, got {len(data)}")
    return Header(*HEADER.unpack_from(data))


#: what is sent as it is; text (``str``) is sent as UTF-8. Nothing else is an argument: an int
#: would become NUL bytes (``bytes(5)``) and a list one byte per element
_BYTES_LIKE: Final = (bytes, bytearray, memoryview)


def _text_or_bytes(value: object, what: str, limit: str) -> bytes:
    """``value`` as bytes when it is text or bytes-like, else a :class:`RequestError` that names
    ``what`` and the type (raised before anything is sent)."""
    if isinstance(value, str):
        try:
            # surrogateescape: a str from undecodable bytes (os.fsdecode, argv) sends those bytes
            return value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise RequestError(
                f"{what} is not valid text: {value[exc.start]!r} at index {exc.start} is a lone "
                "surrogate, which has no UTF-8 form; pass bytes to send arbitrary bytes",
                limit=limit,
            ) from None
    if isinstance(value, _BYTES_LIKE):
        return bytes(value)
    raise RequestError(
        f"{what} must be str or bytes-like, not {type(value).__name__} (convert it first: "
        "a str is sent as UTF-8)",
        limit=limit,
    )


def to_bytes(value: str | bytes | bytearray | memoryview) -> bytes:
    """Text is sent as UTF-8; bytes as they are; anything else is a :class:`RequestError`."""
    return _text_or_bytes(value, "the value", "arg-type")


def _item(data: bytes, what: str) -> bytes:
    if len(data) > MAX_ITEM:
        raise RequestError(
            f"{what} is {len(data)} bytes; one item may be at most {MAX_ITEM}", limit="item"
        )
    return _LEN.pack(len(data)) + data


def encode_array(items: Iterable[bytes]) -> bytes:
    """A body of ``len, bytes`` items with no keys (docs/protocol.md#packets)."""
    return b"".join(_item(item, f"item {i}") for i, item in enumerate(items))


def decode_array(body: bytes | bytearray | memoryview) -> list[bytes]:
    """Split an array body; raises ``ValueError`` when an item runs past the end."""
    view = memoryview(body)
    items: list[bytes] = []
    pos, end = 0, len(view)
    while pos < end:
        if end - pos < 2:
            raise ValueError(f"array item length cut short at offset {pos}")
        (size,) = _LEN.unpack_from(view, pos)
        pos += 2
        if end - pos < size:
            raise ValueError(f"array item of {size} bytes at offset {pos - 2} runs past the end")
        items.append(bytes(view[pos : pos + size]))
        pos += size
    return items


def encode_vars(pairs: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]]) -> bytes:
    """A body of ``keylen, key, vallen, value`` pairs; an empty key is invalid
    (docs/protocol.md#packets)."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out = []
    for key, value in items:
        if not key:
            raise RequestError("a vars key may not be empty", limit="vars-key")
        out.append(_item(key, "vars key") + _item(value, f"value of {key!r}"))
    return b"".join(out)


def decode_vars(body: bytes | bytearray | memoryview) -> list[tuple[bytes, bytes]]:
    """Split a vars body into pairs; raises ``ValueError`` on a malformed block."""
    items = decode_array(body)
    if len(items) % 2:
        raise ValueError("vars block has a key without a value")
    pairs = list(zip(items[::2], items[1::2], strict=True))
    if any(not key for key, _ in pairs):
        raise ValueError("vars block has an empty key")
    return pairs


def validate_function(function: str | bytes) -> bytes:
    """The function name as bytes, checked: 1..255 bytes, no NUL (docs/protocol.md#limits)."""
    name = _text_or_bytes(function, "the function name", "name")
    if 0 < len(name) <= MAX_NAME and b"\0" not in name:
        return name
    if not name:
        raise RequestError("the function name is empty", limit="name")
    if b"\0" in name:
        # uWSGI matches the name as a C string: a NUL would silently cut it short
        # (docs/protocol.md#limits)
        raise RequestError("the function name contains a NUL byte", limit="name")
    if len(name) > MAX_NAME:
        raise RequestError(
            f"the function name is {len(name)} bytes; uWSGI allows at most {MAX_NAME}",
            limit="name",
        )
    return name


def function_item(function: str | bytes) -> bytes:
    """The checked function name as the request's first array item: u16 length, then the name."""
    name = validate_function(function)
    return _LEN.pack(len(name)) + name


def rpc_request(
    function: str | bytes,
    args: Sequence[str | bytes] = (),
    *,
    modifier2: int = 0,
) -> bytes:
    """A complete RPC request packet (modifier1 173), checked against every limit of
    docs/protocol.md#limits."""
    return request_from_item(function_item(function), args, modifier2=modifier2)


def request_from_item(
    item: bytes, args: Sequence[str | bytes] = (), *, modifier2: int = 0
) -> bytes:
    """:func:`rpc_request` for a name already encoded by :func:`function_item`.

    A caller that calls the same functions again and again keeps their items: RequestEncoder.
    """
    # written out rather than built from encode_array(): this runs on every call (bench/)
    if modifier2.__class__ is not int or not 0 <= modifier2 <= 255:
        raise RequestError("modifier1 and modifier2 must be 0..255", limit="modifier")
    if not args:  # the body is the name item alone, at most 257 bytes
        return HEADER.pack(MODIFIER1_RPC, len(item), modifier2) + item
    if len(args) > MAX_ARGS:
        raise RequestError(
            f"{len(args)} arguments; uWSGI reads at most {MAX_ARGS} and drops the rest silently",
            limit="args",
        )
    pack_len = _LEN.pack
    parts = [item]
    for i, arg in enumerate(args, 1):
        if isinstance(arg, str):
            try:
                data = arg.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                data = _text_or_bytes(arg, f"argument {i}", "arg-type")  # raises, says why
        elif isinstance(arg, _BYTES_LIKE):
            data = bytes(arg)
        else:
            data = _text_or_bytes(arg, f"argument {i}", "arg-type")  # raises, names the type
        size = len(data)
        if not size:
            # a middle empty item is skipped and a trailing one rejects the request
            # (docs/protocol.md#empty-items)
            raise RequestError(
                f"argument {i} is empty; uWSGI skips or rejects empty arguments", limit="empty-arg"
            )
        if size > MAX_ITEM:
            raise RequestError(
                f"argument {i} is {size} bytes; one item may be at most {MAX_ITEM}", limit="item"
            )
        parts += (pack_len(size), data)
    body = b"".join(parts)
    if len(body) > MAX_BODY:
        raise RequestError(
            f"the request body is {len(body)} bytes; the protocol allows at most {MAX_BODY}",
            limit="body",
        )
    return HEADER.pack(MODIFIER1_RPC, len(body), modifier2) + body


class RequestEncoder:
    """:func:`rpc_request` that checks and encodes each function name once.

    For callers that make many calls to the few functions a server exports (uWSGI: at most 64,
    docs/protocol.md#limits): the name is most of the work of building a small request. At most
    ``keep`` names are remembered, so mistyped ones cannot grow it without bound.
    """

    __slots__ = ("_items", "_keep")

    def __init__(self, keep: int = 256) -> None:
        self._items: dict[str | bytes, bytes] = {}
        self._keep = keep

    def __call__(
        self, function: str | bytes, args: Sequence[str | bytes] = (), *, modifier2: int = 0
    ) -> bytes:
        try:
            item = self._items[function]
        except KeyError:
            item = function_item(function)
            if len(self._items) < self._keep:
                self._items[function] = item
        except TypeError:  # an unhashable name (a bytearray): nothing to remember it by
            item = function_item(function)
        return request_from_item(item, args, modifier2=modifier2)


def exceeds_default_buffer(request: bytes) -> bool:
    """True when a request body is over uWSGI's default ``--buffer-size`` of 4096
    (docs/protocol.md#buffer-size)."""
    return len(request) - HEADER_SIZE > DEFAULT_BUFFER_SIZE


def check_signal(num: int) -> int:
    """``num`` itself when it is a uWSGI signal number (0..255), else a :class:`RequestError`."""
    if isinstance(num, bool) or not isinstance(num, int) or not 0 <= num <= MAX_SIGNAL:
        raise RequestError(
            f"signal {num!r} is out of range: uWSGI signals are 0..{MAX_SIGNAL}", limit="signal"
        )
    return num


def signal_request(num: int) -> bytes:
    """The request that raises uWSGI signal ``num`` on a node: modifier1 110, the number in
    modifier2, an empty body (docs/protocol.md#other-packets)."""
    return HEADER.pack(MODIFIER1_SIGNAL, 0, check_signal(num))
