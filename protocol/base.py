"""What the blocking and the asyncio clients share: the node, the deadlines, the response cap,
TLS settings and the checks made before anything is sent (docs/library.md).

The transports live in :mod:`protocol.client` (blocking) and :mod:`protocol.aio` (asyncio).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import failures
from .address import Address, parse_address
from .errors import CallError, NoResult, RequestError
from .limits import check_seconds, check_size
from .reader import ResponseReader
from .results import CallResult, Timings
from .wire import (
    DEFAULT_MAX_RESPONSE,
    Mode,
    RequestEncoder,
    check_mode,
    mode_modifier2,
)

if TYPE_CHECKING:
    import ssl

    from .tls import TLSInfo

__all__ = ["DEFAULT_TIMEOUT", "BaseClient"]

# call() takes no timings (one constant, not three clock readings a call)
_NO_TIMINGS = Timings(0.0, 0.0, 0.0)
#: uWSGI's own client waits --socket-timeout, 4 seconds by default (docs/protocol.md#other-clients)
DEFAULT_TIMEOUT = 4.0


def _decode_name(function: str | bytes) -> str:
    return function if isinstance(function, str) else function.decode("utf-8", "replace")


Target = tuple[socket.AddressFamily, Any]
if TYPE_CHECKING:
    # for the checker only: a bound given as a string is compiled by typing at run time, and
    # the first compile() in a process costs a cold `rpccli call` 10M instructions
    # (docs/design.md#start-up); the annotations that name it are strings anyway
    _Self = TypeVar("_Self", bound="BaseClient")
# The early read: once the whole request is out, both clients read at once, before waiting for
# the answer. When the client and a local server share a core, the send has usually woken the
# server and let it answer already (90-98 % of calls on the bench/ machine), and the wait (a
# poll(); in the AsyncClient a registration with the loop's epoll and the task's wake-up) is
# skipped; on two cores it almost never has, and the read costs a system call and an exception.
# So each client keeps a score (BaseClient._early, kept by _read_early): a read that found the
# answer sets it to _EARLY_ON, one that did not takes _EARLY_MISS off, and once it is used up the
# next -_EARLY_OFF calls wait without trying (counting back up), then one tries again.
_EARLY_ON = 16
_EARLY_MISS = 4
_EARLY_OFF = -32
# under glibc malloc's mmap threshold (128 KiB): a bigger recv() buffer costs an mmap per read
_CHUNK = 64 * 1024
# call()'s whole requests kept per client, as many as RequestEncoder keeps names
_KEEP = 256
#: what a comma in a Client's node means (docs/library.md#node-groups)
_GROUP = "use protocol.GroupClient (or AsyncGroupClient) for several nodes"


class BaseClient:
    """What the blocking and the asyncio client share: settings, request building, verdicts."""

    def __init__(
        self,
        node: str | Address,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        max_response: int = DEFAULT_MAX_RESPONSE,
        mode: Mode = "packet",
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        self.address = node if isinstance(node, Address) else parse_address(node, group=_GROUP)
        self.node = str(self.address)
        if ssl_context is None and self.address.tls:
            from .tls import client_context

            ssl_context = client_context()  # tls: alone verifies against the system store
        #: TLS (docs/tls.md): the context, and the name sent (SNI) and checked, by default the host
        self.ssl_context = ssl_context
        self.server_name = server_name
        self._tls: TLSInfo | None = None
        self.timeout = check_seconds(timeout, "timeout")
        self.connect_timeout = (
            self.timeout
            if connect_timeout is None
            else check_seconds(connect_timeout, "connect_timeout")
        )
        self.max_response = check_size(max_response, "max_response")
        self.mode: Mode = check_mode(mode)
        # literals and sockets need no lookup: work their target out once, not on every call
        address = self.address
        self._targets: list[Target] | None = (
            [(address.family, sockaddr) for sockaddr in address.sockaddrs]
            if address.is_literal
            else None
        )
        self._encode = RequestEncoder()  # each function name checked and encoded once
        # call()'s requests without arguments in packet mode, whole, by name (_call_request)
        self._bare: dict[str | bytes, bytes] = {}
        # whether call() reads before it waits (_EARLY_ON): a hint only, so threads may race on it
        self._early = _EARLY_ON

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.node!r}, timeout={self.timeout:g}, mode={self.mode!r})"

    def close(self) -> None:
        """Release the client. It holds no connection between calls (each call opens and closes
        its own), so this frees nothing and the client stays usable; it is here so that a client
        can live in a ``with`` block and be closed like any other."""

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prepare(
        self,
        function: str | bytes,
        args: Sequence[str | bytes],
        mode: Mode | None,
        modifier2: int | None,
    ) -> tuple[bytes, ResponseReader]:
        if isinstance(args, str | bytes | bytearray | memoryview) or not isinstance(args, Sequence):
            raise RequestError(
                f"args= must be a sequence of arguments (a list or tuple), not "
                f"{type(args).__name__}",
                limit="arg-type",
            )
        if modifier2 is None:
            modifier2 = mode_modifier2(self.mode if mode is None else check_mode(mode))
        request = self._encode(function, args, modifier2=modifier2)
        return request, self._reader_for(request)

    def _call_request(
        self, function: str | bytes, args: tuple[str | bytes, ...], mode: Mode | None
    ) -> bytes:
        """call()'s request. One without arguments in packet mode (the usual call to a local
        uWSGI, bench/) is built once and then found in ``_bare``: the encoder and its checks
        cost 5k instructions a call."""
        modifier2 = mode_modifier2(self.mode if mode is None else check_mode(mode))
        request = self._encode(function, args, modifier2=modifier2)  # raises for a bad name
        bare = self._bare
        if not args and not modifier2 and len(bare) < _KEEP and type(function) in (str, bytes):
            bare[function] = request
        return request

    def _read_early(self, sock: socket.SocketType) -> bytes | None:
        """call()'s early read (_EARLY_ON), once the whole request is out: what ``sock`` has at
        once (b"": the server closed), or None when call() is to wait for it (nothing yet, or
        early reads are off for now). Any other OSError is the caller's."""
        score = self._early
        if score <= 0:
            self._early = score + 1
            return None
        try:
            data = sock.recv(_CHUNK)
        except BlockingIOError:
            self._early = score - _EARLY_MISS if score > _EARLY_MISS else _EARLY_OFF
            return None
        self._early = _EARLY_ON
        return data

    def _body_of(
        self, request: bytes, reader: ResponseReader, function: str | bytes | None
    ) -> bytes:
        """call()'s answer once ``reader`` has read what came: the body, or the error."""
        if reader.done:
            return reader.body
        return self._result(request, reader, function, _NO_TIMINGS).response.body

    def _reader_for(self, request: bytes) -> ResponseReader:
        return ResponseReader.for_request(request, max_size=self.max_response, node=self.node)

    def _result(
        self,
        request: bytes,
        reader: ResponseReader,
        function: str | bytes | None,
        timings: Timings,
    ) -> CallResult:
        try:
            response = reader.response() if reader.done else reader.feed_eof()
        except NoResult:
            # the reader only knows "zero bytes"; say which function and why
            # (docs/protocol.md#failures)
            name = None if function is None else _decode_name(function)
            raise failures.no_result(self.node, name, len(request)) from None
        return CallResult(self.node, request, response, timings, self._tls)

    def _connect_error(self, exc: OSError) -> CallError:
        """The error for one address that could not be connected (TimeoutError: out of time)."""
        if isinstance(exc, TimeoutError):
            return failures.connect_timed_out(self.node, self.connect_timeout)
        return failures.connect_failed(self.node, exc)

    def _failed(
        self, exc: OSError, request: bytes, function: str | bytes | None, received: int
    ) -> CallError:
        """The error for a socket failure after connecting (docs/protocol.md#buffer-size: resets
        after big bodies).

        Out of time is TimeoutError (BlockingIOError too: a read that found nothing in time).
        """
        if isinstance(exc, TimeoutError | BlockingIOError):
            return failures.response_timed_out(self.node, self.timeout, received)
        plain = self.address.kind == "tcp" and self.ssl_context is None
        if plain and not received and not failures.over_buffer(len(request)):
            from .tls import plain_to_tls  # a reset with nothing back: is it a TLS socket?

            tls = plain_to_tls(self.address, self.node, min(self.connect_timeout, 1.0))
            if tls is not None:
                return tls
        name = None if function is None else _decode_name(function)
        return failures.reset(self.node, name, len(request), received)
