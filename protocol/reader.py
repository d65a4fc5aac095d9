"""Readers of answers, fed bytes as they arrive: an RPC answer in every form, a ping reply and a
signal reply.

Sans-IO like :mod:`protocol.wire`: no sockets, no clock, and one verdict however the bytes are
split. Everything here follows docs/protocol.md#responses, docs/protocol.md#ping and
docs/protocol.md#other-packets.
"""

from __future__ import annotations

from typing import Final

from .errors import NoResult, ProtocolError, ResponseTooLarge
from .record import Record
from .visible import counted
from .wire import (
    DEFAULT_MAX_RESPONSE,
    HEADER,
    HEADER_SIZE,
    MODIFIER1_PING,
    MODIFIER2_LARGE,
    SIGNAL_REPLY_MODIFIER1,
    Header,
    Mode,
    decode_vars,
)

__all__ = ["PingReader", "Response", "ResponseReader", "SignalReader"]

_unpack_header: Final = HEADER.unpack_from


def whole_body(data: bytes, max_size: int) -> bytes | None:
    """The body when ``data``, the first bytes of an answer in packet mode, is one whole plain
    packet (modifier2 0, a body of 1 to ``max_size`` bytes, nothing after it); else None.

    uWSGI's usual answer comes so, in one read, and the clients take it with this alone: a
    ResponseReader, fed the same bytes, says the same (tests/protocol/test_reader.py), but
    building and feeding one cost a third of the blocking client's own instructions a call
    (bench/README.md). Anything else goes to a reader.
    """
    if len(data) > HEADER_SIZE:
        _, size, modifier2 = _unpack_header(data)
        if not modifier2 and size == len(data) - HEADER_SIZE and size <= max_size:
            return data[HEADER_SIZE:]
    return None


# one message however the bytes were split, so a reader's verdict never depends on chunking
_TRAILING: Final = "unexpected bytes after the end of the response"


class Response(Record):
    """A complete answer. ``header`` is None in raw mode; ``large`` marks the modifier2-5 form."""

    __match_args__ = ("body", "header", "large", "vars")
    __slots__ = __match_args__
    body: bytes
    header: Header | None
    large: bool
    vars: tuple[tuple[bytes, bytes], ...]

    def __init__(
        self,
        body: bytes,
        header: Header | None = None,
        large: bool = False,
        vars: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        init = object.__setattr__
        init(self, "body", body)
        init(self, "header", header)
        init(self, "large", large)
        init(self, "vars", vars)


class ResponseReader:
    """Incremental reader of one RPC answer, fed bytes as they arrive and then EOF.

    ``feed`` returns True once the answer is complete; then ``response()`` returns it. In packet
    mode completion comes from the header's size (or CONTENT_LENGTH in the large form), in raw
    mode only from EOF. Data past the end of a packet is a protocol error. A packet announcing
    an empty body (either form) raises :class:`NoResult` ("empty answer") as soon as its header
    is in: no answer is ever an empty success. In raw mode an empty answer is the 0-byte close,
    which is :class:`NoResult` already. The reader never holds more than ``max_size`` body
    bytes plus one header and one vars block.
    """

    __slots__ = (
        "_buf",
        "_done",
        "_expect",
        "_header",
        "_large",
        "_max",
        "_mode",
        "_node",
        "_total",
        "_vars",
    )

    def __init__(
        self, mode: Mode = "packet", *, max_size: int = DEFAULT_MAX_RESPONSE, node: str = "node"
    ) -> None:
        self._mode = mode
        self._max = max_size
        self._node = node
        self._buf: bytearray | bytes = bytearray()  # bytes once a whole packet came in one read
        self._header: Header | None = None
        self._large = False
        self._vars: tuple[tuple[bytes, bytes], ...] = ()
        self._expect = -1  # body bytes still awaited in packet mode; -1 until known
        self._done = False
        self._total = 0  # every byte fed, header and vars block included

    @classmethod
    def for_request(
        cls, request: bytes, *, max_size: int = DEFAULT_MAX_RESPONSE, node: str = "node"
    ) -> ResponseReader:
        """The reader of the answer to ``request``: its modifier2 0 asks for a packet, any
        other value for raw bytes (docs/protocol.md#responses)."""
        return cls("raw" if request[3] else "packet", max_size=max_size, node=node)

    @property
    def done(self) -> bool:
        return self._done

    @property
    def body(self) -> bytes:
        """The body bytes so far: all of them once ``done``."""
        return bytes(self._buf)

    @property
    def received(self) -> int:
        """Bytes fed so far, header and vars block included."""
        return self._total

    def feed(self, data: bytes | bytearray | memoryview) -> bool:
        if self._done:
            if data:
                raise self._bad(_TRAILING)
            return True
        size = len(data)
        self._total += size
        if self._mode == "raw":
            self._buf += data
            if len(self._buf) > self._max:
                # raw answers end only at EOF: the size so far is all we know
                # (docs/protocol.md#responses)
                raise self._too_large(None)
            return False
        if self._expect >= 0:  # the body, its size known: uWSGI writes header and body apart
            return self._body(data)
        if self._total == size and size >= HEADER_SIZE:
            # the usual start, a plain packet's header at the start of the first read
            m1, body_size, m2 = _unpack_header(data)
            if not m2 and 0 < body_size <= self._max:
                self._header = Header(m1, body_size, m2)
                self._expect = body_size
                return self._body(data[HEADER_SIZE:])
        self._buf += data
        return self._advance()

    def _body(self, data: bytes | bytearray | memoryview) -> bool:
        """Take body bytes once the body's size is known (``_expect``)."""
        # bytes only once done, and then feed() returns early (no typing.cast: a call each time)
        buf: bytearray = self._buf  # type: ignore[assignment]
        if not buf and len(data) == self._expect:
            self._buf = bytes(data)  # the whole body in one read: no bytearray to grow
            self._done = True
            return True
        buf += data
        return self._checked_body()

    def _checked_body(self) -> bool:
        if len(self._buf) > self._expect:
            raise self._bad(_TRAILING)
        self._done = len(self._buf) == self._expect
        return self._done

    def feed_eof(self) -> Response:
        """The peer closed the connection: return the answer or raise why there is none."""
        if self._done:
            return self.response()
        if self._mode == "raw" and self._buf:
            self._done = True
            return self.response()
        if not self._total:
            raise NoResult(self._node, f"no result from {self._node}")
        raise self._bad(
            f"response truncated: connection closed after {counted(self._total, 'byte')}"
        )

    def response(self) -> Response:
        if not self._done:
            raise RuntimeError("response() before the response is complete")
        return Response(bytes(self._buf), self._header, self._large, self._vars)

    def _bad(self, detail: str) -> ProtocolError:
        return ProtocolError(self._node, f"bad response from {self._node}: {detail}")

    def _empty(self, what: str) -> NoResult:
        # uWSGI never frames an empty result: it closes without a byte. An empty body is no
        # result either, never an empty success: its bytes would be exactly the failure
        # markers of batch output (an empty line, "0:,")
        return NoResult(
            self._node,
            f"empty answer from {self._node}: {what}, which uWSGI never sends "
            "(no result is a close without a byte)",
        )

    def _too_large(self, size: int | None) -> ResponseTooLarge:
        what = "over the limit" if size is None else f"{size} bytes, over the limit"
        return ResponseTooLarge(
            self._node,
            f"response from {self._node} is {what} of {self._max} bytes",
            hint="raise it with max_response=",
        )

    def _advance(self) -> bool:
        buf: bytearray = self._buf  # type: ignore[assignment]  # bytes only once done: not here
        if self._header is None:
            if len(buf) < HEADER_SIZE:
                return False
            header = Header(*HEADER.unpack_from(buf))
            del buf[:HEADER_SIZE]
            self._header = header
            if header.modifier2 == MODIFIER2_LARGE:
                self._large = True
                self._expect = -1
            elif header.modifier2 == 0:
                if not header.size:
                    raise self._empty("a packet with a 0-byte body")
                if header.size > self._max:
                    raise self._too_large(header.size)
                self._expect = header.size
            else:
                raise self._bad(_unexpected(header))
        if self._large and self._expect < 0:
            size = self._header.size
            if len(buf) < size:
                return False
            self._expect = self._content_length(bytes(buf[:size]))
            del buf[:size]
        return self._checked_body()

    def _content_length(self, block: bytes) -> int:
        try:
            self._vars = tuple(decode_vars(block))
            text = dict(self._vars)[b"CONTENT_LENGTH"]
        except (ValueError, KeyError):
            raise self._bad("large response without a valid CONTENT_LENGTH vars block") from None
        if not text.isdigit() or len(text) > 19:
            raise self._bad(f"large response with CONTENT_LENGTH {text!r}")
        size = int(text)
        if not size:
            raise self._empty("a large-form packet with CONTENT_LENGTH 0")
        if size > self._max:
            raise self._too_large(size)
        return size


def _unexpected(header: Header) -> str:
    if HEADER.pack(*header) == b"HTTP":
        # the usual mistake: pointing a client at uWSGI's --http-socket, or at a web server
        return "it answered with HTTP, not the uwsgi protocol: call uWSGI's --socket instead"
    return f"unexpected response modifier2 {header.modifier2} (want 0 or 5)"


class PingReader:
    """Reader of a ping reply: ``64 00 00 01``, or ``64 LL LL 01`` + warning text
    (docs/protocol.md#ping)."""

    __slots__ = ("_buf", "_node")

    def __init__(self, *, node: str = "node") -> None:
        self._buf = bytearray()
        self._node = node

    def feed(self, data: bytes | bytearray | memoryview) -> bool:
        # bounded: once the header is in, anything past its size raises in _complete()
        self._buf += data
        return len(self._buf) >= HEADER_SIZE and self._complete()

    def _complete(self) -> bool:
        header = Header(*HEADER.unpack_from(self._buf))
        if header.modifier1 != MODIFIER1_PING and _unexpected(header).startswith("it answered"):
            # an HTTP port: say so at once, as a call does, not "cut at 309 bytes" at the close
            raise ProtocolError(
                self._node, f"bad ping reply from {self._node}: {_unexpected(header)}"
            )
        if len(self._buf) > HEADER_SIZE + header.size:
            raise ProtocolError(self._node, f"bad ping reply from {self._node}: {_TRAILING}")
        return len(self._buf) == HEADER_SIZE + header.size

    def feed_eof(self) -> str | None:
        """The warning text (None when the node is healthy), or raise why there is no reply."""
        if not self._buf:
            raise NoResult(
                self._node,
                f"no ping reply from {self._node}",
                hint="the server may lack --plugin ping",
            )
        if len(self._buf) < HEADER_SIZE or not self._complete():
            raise ProtocolError(
                self._node, f"bad ping reply from {self._node}: cut at {len(self._buf)} bytes"
            )
        return self.warning()

    def warning(self) -> str | None:
        header = Header(*HEADER.unpack_from(self._buf))
        if header.modifier1 != MODIFIER1_PING or header.modifier2 != 1:
            raise ProtocolError(
                self._node,
                f"bad ping reply from {self._node}: "
                f"modifier1 {header.modifier1}, modifier2 {header.modifier2}",
            )
        text = bytes(self._buf[HEADER_SIZE:])
        return text.decode("utf-8", "replace") if text else None


class SignalReader:
    """Reader of the reply to a signal request (docs/protocol.md#other-packets): ``ff 00 00 01``
    when the node queued the signal, ``ff 00 00 00`` when it could not (no master process, or a
    full signal queue). Nothing else is a reply: no bytes at all is :class:`NoResult` (a server
    without the signal plugin closes so), anything but those four bytes a protocol error."""

    __slots__ = ("_buf", "_node", "_signal")

    def __init__(self, signal: int, *, node: str = "node") -> None:
        self._buf = bytearray()
        self._node = node
        self._signal = signal

    def feed(self, data: bytes | bytearray | memoryview) -> bool:
        self._buf += data
        if len(self._buf) > HEADER_SIZE:
            raise self._bad(_TRAILING)
        return len(self._buf) == HEADER_SIZE

    def feed_eof(self) -> None:
        """Return when the node queued the signal; else raise why it did not."""
        node, num = self._node, self._signal
        if not self._buf:
            raise NoResult(
                node,
                f"no answer to signal {num} from {node}",
                hint="the server may lack the signal plugin: uwsgi --plugins signal",
            )
        if len(self._buf) < HEADER_SIZE:
            raise self._bad(f"cut at {len(self._buf)} bytes")
        modifier1, size, modifier2 = HEADER.unpack_from(self._buf)
        if modifier1 != SIGNAL_REPLY_MODIFIER1 or size or modifier2 not in (0, 1):
            raise self._bad(f"modifier1 {modifier1}, size {size}, modifier2 {modifier2}")
        if not modifier2:
            raise NoResult(
                node,
                f"{node} did not queue signal {num}",
                hint="uWSGI answers so without --master, or when its signal queue is full",
            )

    def _bad(self, detail: str) -> ProtocolError:
        return ProtocolError(self._node, f"bad signal reply from {self._node}: {detail}")
