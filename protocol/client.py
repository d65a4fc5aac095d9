"""The blocking client: one connection per call, as uWSGI serves RPC (facts 2).

Two clocks guard every call: ``connect_timeout`` for making the connection, and ``timeout`` for the
whole call, connect included. The deadline is checked before every read, so a server that
trickles one byte a second still times out on time; ``max_response`` caps what is read. (A DNS
name is resolved by the system's blocking getaddrinfo(), whose own timeouts apply; the asyncio
client bounds the lookup by ``connect_timeout`` too.)

The socket is non-blocking and every wait is a poll() bounded by the deadline: fewer system
calls than socket timeouts, which matters because a call to a local uWSGI takes well under
100 microseconds (bench/bench_client.py measures the client against a bare socket loop).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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
# under glibc malloc's mmap threshold (128 KiB): a bigger recv() buffer costs an mmap per read
_CHUNK = 64 * 1024
#: how long a complete answer waits for the server's close (see _await_close)
CLOSE_GRACE = 0.05
_SOCK_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)  # one system call less on Linux


class Timings(NamedTuple):
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
        self,
        request: bytes,
        reader: ResponseReader,
        function: str | bytes | None,
        timings: Timings,
    ) -> CallResult:
        try:
            response = reader.response() if reader.done else reader.feed_eof()
        except NoResult:
            # the reader only knows "zero bytes"; say which function and why (facts 4)
            name = None if function is None else _decode_name(function)
            raise failures.no_result(self.node, name, len(request)) from None
        return CallResult(self.node, request, response, timings)

    def _connect_error(self, exc: OSError) -> CallError:
        """The error for one address that could not be connected (TimeoutError: out of time)."""
        if isinstance(exc, TimeoutError):
            return failures.connect_timed_out(self.node, self.connect_timeout)
        return failures.connect_failed(self.node, exc)

    def _failed(
        self, exc: OSError, request: bytes, function: str | bytes | None, received: int
    ) -> CallError:
        """The error for a socket failure after connecting (facts 2: resets after big bodies)."""
        if isinstance(exc, TimeoutError):
            return failures.response_timed_out(self.node, self.timeout, received)
        name = None if function is None else _decode_name(function)
        return failures.reset(self.node, name, len(request), received)


class Client(BaseClient):
    """A uwsgi RPC client for one node.

    >>> Client("127.0.0.1:3031").call("hello", "world")  # doctest: +SKIP
    b'Hello, world'
    """

    def call(self, function: str | bytes, *args: str | bytes, mode: Mode | None = None) -> bytes:
        """Call ``function(*args)`` and return the result bytes."""
        # call_full() without building the result objects: the hot path of bench/
        modifier2 = mode_modifier2(self.mode if mode is None else check_mode(mode))
        request = rpc_request(function, args, modifier2=modifier2)
        reader = ResponseReader(
            "raw" if modifier2 else "packet", max_size=self.max_response, node=self.node
        )
        timings = self._roundtrip(request, reader, function)
        if reader.done:
            return reader.body
        return self._result(request, reader, function, timings).response.body

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
        return self.exchange(request, reader, function=function)

    def ping(self) -> PingResult:
        """uWSGI ping (modifier1 100); ``warning`` is the server's warning text, if any."""
        reader = PingReader(node=self.node)
        timings = self._roundtrip(PING_REQUEST, reader, None)
        return PingResult(self.node, reader.feed_eof(), timings)

    def exchange(
        self, request: bytes, reader: ResponseReader, *, function: str | bytes | None = None
    ) -> CallResult:
        """Send already-encoded ``request`` bytes and read the answer with ``reader``."""
        timings = self._roundtrip(request, reader, function)
        return self._result(request, reader, function, timings)

    def _roundtrip(
        self, request: bytes, reader: ResponseReader | PingReader, function: str | bytes | None
    ) -> Timings:
        # Non-blocking socket + poll(): every wait is bounded by the deadline, with fewer system
        # calls than socket timeouts (which poll before AND toggle O_NONBLOCK around each call).
        # Written out flat: this is the hot path that bench/bench_client.py measures.
        monotonic = time.monotonic
        start = monotonic()
        deadline = start + self.timeout
        sock, sent = self._connect(start, deadline, request)
        connected = first = monotonic()
        received = 0
        poller = select.poll()
        try:
            if sent < len(request):
                _send(sock, request, sent, deadline)
            poller.register(sock, select.POLLIN)
            while True:
                # checked before every read, so a trickling peer cannot stretch the call
                remaining = deadline - monotonic()
                if remaining <= 0 or not poller.poll(int(remaining * 1000) + 1):
                    raise TimeoutError
                try:
                    data = sock.recv(_CHUNK)
                except BlockingIOError:
                    continue
                if not received:
                    first = monotonic()
                if not data:
                    break
                received += len(data)
                if reader.feed(data):
                    try:
                        tail = sock.recv(_CHUNK)  # the server's close usually came along
                    except BlockingIOError:
                        _await_close(sock, poller, reader, min(deadline, monotonic() + CLOSE_GRACE))
                    except OSError:
                        pass  # a reset after a complete answer changes nothing
                    else:
                        reader.feed(tail)  # raises if these are bytes after the end
                    break
        except CallError:
            raise
        except OSError as exc:
            raise self._failed(exc, request, function, received) from None
        finally:
            sock.close()
        return Timings(connected - start, first - start, monotonic() - start)

    def _connect(self, start: float, deadline: float, request: bytes) -> tuple[socket.socket, int]:
        """A connected non-blocking socket and how many bytes of ``request`` it has sent.

        The first send() doubles as the check that the connection is up: on loopback and unix
        sockets it always is by then, which saves a poll() and a getsockopt() per call.
        """
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
            sock = _nonblocking_socket(family)
            try:
                code = sock.connect_ex(sockaddr)
                if code == 0 or code == errno.EINPROGRESS:
                    try:
                        return sock, sock.send(request)
                    except BlockingIOError:  # still connecting: wait for it
                        if not _wait(sock, select.POLLOUT, limit):
                            raise TimeoutError from None
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code))
                return sock, 0
            except OSError as exc:  # TimeoutError included
                error = self._connect_error(exc)
            except BaseException:  # interrupted: never leak the socket
                sock.close()
                raise
            sock.close()
        raise error or failures.connect_timed_out(self.node, self.connect_timeout)


def _wait(sock: socket.socket, events: int, until: float) -> bool:
    """poll() one socket for ``events`` until ``until``; False when the time ran out."""
    poller = select.poll()
    poller.register(sock, events)
    return bool(poller.poll(_millis(until - time.monotonic())))


def _send(sock: socket.socket, data: bytes, sent: int, deadline: float) -> None:
    """sendall() for a non-blocking socket, within the deadline."""
    view = memoryview(data)
    while True:
        with contextlib.suppress(BlockingIOError):
            sent += sock.send(view[sent:])
        if sent >= len(data):
            return
        if not _wait(sock, select.POLLOUT, deadline):
            raise TimeoutError


def _await_close(
    sock: socket.socket, poller: select.poll, reader: ResponseReader | PingReader, until: float
) -> None:
    """After a complete answer, wait briefly for the server's close (facts 3: "Then close").

    Letting the server close first keeps TIME_WAIT on its side: a client that closes first
    piles up TIME_WAIT sockets on its own ephemeral ports, and its connects slow down. Bytes
    that arrive meanwhile are a protocol error (raised by the reader); a server that keeps the
    connection open costs at most CLOSE_GRACE and is not an error.
    """
    while True:
        try:
            data = sock.recv(_CHUNK)  # the close usually came with the answer: try first
        except BlockingIOError:
            if not poller.poll(_millis(until - time.monotonic())):
                return
            continue
        except OSError:
            return  # a reset after a complete answer changes nothing
        if not data:
            return
        reader.feed(data)


def _millis(seconds: float) -> int:
    """A poll() timeout: whole milliseconds, rounded up so we never wake before the deadline."""
    return max(math.ceil(seconds * 1000), 0)


def _nonblocking_socket(family: socket.AddressFamily) -> socket.socket:
    if _SOCK_NONBLOCK:
        return socket.socket(family, socket.SOCK_STREAM | _SOCK_NONBLOCK)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock
