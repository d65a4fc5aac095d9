"""The blocking client: one connection per call, as uWSGI serves RPC (facts 2).

Two clocks guard every call: ``connect_timeout`` for making the connection, and ``timeout`` for the
whole call, connect included. The deadline is checked before every read, so a server that
trickles one byte a second still times out on time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import failures
from .address import Address, parse_address
from .errors import CallError, NoResult
from .wire import (
    DEFAULT_MAX_RESPONSE,
    PING_REQUEST,
    Mode,
    PingReader,
    Response,
    ResponseReader,
    check_mode,
    mode_modifier2,
    rpc_request,
)

__all__ = ["DEFAULT_TIMEOUT", "BaseClient", "CallResult", "Client", "PingResult", "Timings"]

#: uWSGI's own client waits --socket-timeout, 4 seconds by default (facts 6)
DEFAULT_TIMEOUT = 4.0
_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds from the start of the call: connected, first response byte, done."""

    connect: float
    first_byte: float
    total: float


@dataclass(frozen=True, slots=True)
class CallResult:
    node: str
    request: bytes
    response: Response
    timings: Timings

    @property
    def body(self) -> bytes:
        return self.response.body


@dataclass(frozen=True, slots=True)
class PingResult:
    node: str
    warning: str | None
    timings: Timings


def _decode_name(function: str | bytes) -> str:
    return function if isinstance(function, str) else function.decode("utf-8", "replace")


Target = tuple[socket.AddressFamily, Any]


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
    ) -> None:
        self.address = node if isinstance(node, Address) else parse_address(node)
        self.node = str(self.address)
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.max_response = max_response
        self.mode: Mode = check_mode(mode)
        # literals and sockets need no lookup: work their target out once, not on every call
        address = self.address
        self._targets: list[Target] | None = (
            [(address.family, sockaddr) for sockaddr in address.sockaddrs]
            if address.is_literal
            else None
        )

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.node!r}, timeout={self.timeout:g}, mode={self.mode!r})"

    def _prepare(
        self,
        function: str | bytes,
        args: Sequence[str | bytes],
        mode: Mode | None,
        modifier2: int | None,
    ) -> tuple[bytes, ResponseReader]:
        if isinstance(args, str | bytes):
            raise TypeError("args must be a sequence of arguments, not one str or bytes")
        if modifier2 is None:
            modifier2 = mode_modifier2(self.mode if mode is None else check_mode(mode))
        request = rpc_request(function, args, modifier2=modifier2)
        reader = ResponseReader(
            "packet" if modifier2 == 0 else "raw", max_size=self.max_response, node=self.node
        )
        return request, reader

    def _result(
        self, request: bytes, reader: ResponseReader, function: str | None, timings: Timings
    ) -> CallResult:
        try:
            response = reader.response() if reader.done else reader.feed_eof()
        except NoResult:
            # the reader only knows "zero bytes"; say which function and why (facts 4)
            raise failures.no_result(self.node, function, len(request)) from None
        return CallResult(self.node, request, response, timings)

    def _failed(
        self, exc: OSError, request: bytes, function: str | None, received: int
    ) -> CallError:
        """The error for a socket failure after connecting (facts 2: resets after big bodies)."""
        if isinstance(exc, TimeoutError):
            return failures.response_timed_out(self.node, self.timeout, received)
        return failures.reset(self.node, function, len(request), received)


class Client(BaseClient):
    """A uwsgi RPC client for one node.

    >>> Client("127.0.0.1:3031").call("hello", "world")  # doctest: +SKIP
    b'Hello world'
    """

    def call(self, function: str | bytes, *args: str | bytes, mode: Mode | None = None) -> bytes:
        """Call ``function(*args)`` and return the result bytes."""
        return self.call_full(function, args, mode=mode).response.body

    def call_full(
        self,
        function: str | bytes,
        args: Sequence[str | bytes] = (),
        *,
        mode: Mode | None = None,
        modifier2: int | None = None,
    ) -> CallResult:
        """Call and return the response with its header and timings.

        ``modifier2`` overrides ``mode`` for the request; any value but 0 is read raw (facts 3).
        """
        request, reader = self._prepare(function, args, mode, modifier2)
        return self.exchange(request, reader, function=_decode_name(function))

    def ping(self) -> PingResult:
        """uWSGI ping (modifier1 100); ``warning`` is the server's warning text, if any."""
        reader = PingReader(node=self.node)
        timings = self._roundtrip(PING_REQUEST, reader, None)
        return PingResult(self.node, reader.feed_eof(), timings)

    def exchange(
        self, request: bytes, reader: ResponseReader, *, function: str | None = None
    ) -> CallResult:
        """Send already-encoded ``request`` bytes and read the answer with ``reader``."""
        timings = self._roundtrip(request, reader, function)
        return self._result(request, reader, function, timings)

    def _roundtrip(
        self, request: bytes, reader: ResponseReader | PingReader, function: str | None
    ) -> Timings:
        monotonic = time.monotonic
        start = monotonic()
        deadline = start + self.timeout
        sock = self._connect(start, deadline)
        connected = first = monotonic()
        received = 0
        try:
            sock.settimeout(deadline - connected)
            sock.sendall(request)
            while True:
                # the deadline covers the whole call, so a trickling peer cannot stretch it
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise failures.response_timed_out(self.node, self.timeout, received)
                sock.settimeout(remaining)
                data = sock.recv(_CHUNK)
                if not received:
                    first = monotonic()
                if not data or reader.feed(data):
                    break
                received += len(data)
        except CallError:
            raise
        except OSError as exc:
            raise self._failed(exc, request, function, received) from None
        finally:
            sock.close()
        return Timings(connected - start, first - start, monotonic() - start)

    def _connect(self, start: float, deadline: float) -> socket.socket:
        targets = self._targets
        if targets is None:
            address = self.address
            try:
                infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise failures.resolve_failed(self.node, exc) from None
            targets = [(info[0], info[4]) for info in infos]
        limit = min(start + self.connect_timeout, deadline)
        error: CallError | None = None
        for family, sockaddr in targets:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(remaining)
                sock.connect(sockaddr)
                return sock
            except TimeoutError:
                sock.close()
                error = failures.connect_timed_out(self.node, self.connect_timeout)
            except OSError as exc:
                sock.close()
                error = failures.connect_failed(self.node, exc)
        raise error or failures.connect_timed_out(self.node, self.connect_timeout)
