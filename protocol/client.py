"""The blocking client: one connection per call, as uWSGI serves RPC (docs/protocol.md#requests).

Two clocks guard every call: ``connect_timeout`` for making the connection, and ``timeout`` for the
whole call, connect included. The deadline is checked before every read, so a server that
trickles one byte a second still times out on time; ``max_response`` caps what is read. (A DNS
name is resolved by the system's blocking getaddrinfo(), whose own timeouts apply; the asyncio
client bounds the lookup by ``connect_timeout`` too.)

The request goes out with the connection (Client._open): the socket starts non-blocking, connect()
does not wait, and the send right after it finds the connection made whenever the server is
local; only a connection still in progress is waited for, under poll() and the connect timeout.
Then the socket is a plain blocking one and every read waits in the kernel, its SO_RCVTIMEO set
to what is left of the deadline just before: two system calls a read (setsockopt, recv) instead
of the three (ioctl, poll, recv) of Python's timeouts. That matters because a call to a local
uWSGI takes about 100 microseconds and every step on the way shows (bench/bench_client.py
measures the client against a bare socket loop, bench/bench_phases.py where the difference
lies). One imprecision comes with it: a signal whose Python handler returns makes CPython retry
the read with the timeout armed before it, so each such signal can stretch the call by what that
read had already waited. POSIX only (poll, a struct timeval for SO_RCVTIMEO, MSG_DONTWAIT).
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import struct
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar, overload

from . import failures
from .base import DEFAULT_TIMEOUT, BaseClient
from .errors import CallError
from .reader import PingReader, ResponseReader, SignalReader
from .results import CallResult, PingResult, SignalResult, Timings
from .wire import (
    PING_REQUEST,
    Mode,
    check_mode,
    mode_modifier2,
    signal_request,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_TIMEOUT",
    "BaseClient",
    "CallResult",
    "Client",
    "PingResult",
    "SignalResult",
    "Timings",
]

# under glibc malloc's mmap threshold (128 KiB): a bigger recv() buffer costs an mmap per read
_CHUNK = 64 * 1024
#: how long a complete answer waits for the server's close (see _await_close)
CLOSE_GRACE = 0.05
# sockets start non-blocking (in one system call where the flag exists): see Client._open
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
# what a non-blocking connect() may say while the connection is still being made, or made
_CONNECTING = (0, errno.EINPROGRESS, errno.EINTR)
# what a send() says before the connection is made: Linux EAGAIN, the BSDs and macOS ENOTCONN
_NOT_YET = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOTCONN)
_SOL_SOCKET, _SO_RCVTIMEO = socket.SOL_SOCKET, socket.SO_RCVTIMEO
_MSG_DONTWAIT = socket.MSG_DONTWAIT
_TIMEVAL = struct.Struct("@ll")  # struct timeval: seconds, microseconds (both C longs)
# the C socket type under socket.socket: the same methods and errors, without the Python-level
# __init__ and close() that socket.socket wraps around every socket (bench/: about 4% a call)
_Socket = socket.SocketType


R = TypeVar("R", ResponseReader, PingReader, SignalReader)


class Client(BaseClient):
    """A uwsgi RPC client for one node.

    Thread-safe: one Client may serve any number of threads at once. Fork-safe: it holds no
    socket between calls, so a Client made before ``fork()`` works in the child too.

    >>> Client("127.0.0.1:3031").call("hello", "world")  # doctest: +SKIP
    b'Hello, world'
    """

    def call(self, function: str | bytes, *args: str | bytes, mode: Mode | None = None) -> bytes:
        """Call ``function(*args)`` and return the result bytes."""
        # call_full() without the timings and result objects: the hot path of bench/
        modifier2 = mode_modifier2(self.mode if mode is None else check_mode(mode))
        request = self._encode(function, args, modifier2=modifier2)
        reader, _ = self._roundtrip(request, None, function, timed=False)
        if reader.done:
            return reader.body
        return self._result(request, reader, function, _NO_TIMINGS).response.body

    def call_full(
        self,
        function: str | bytes,
        args: Sequence[str | bytes] = (),
        *,
        mode: Mode | None = None,
        modifier2: int | None = None,
    ) -> CallResult:
        """Call and return the response with its header and timings.

        ``modifier2`` overrides ``mode`` for the request; any value but 0 is read raw
        (docs/protocol.md#responses).
        """
        request, reader = self._prepare(function, args, mode, modifier2)
        return self.exchange(request, reader, function=function)

    def ping(self) -> PingResult:
        """uWSGI ping (modifier1 100); ``warning`` is the server's warning text, if any."""
        reader, timings = self._roundtrip(PING_REQUEST, PingReader(node=self.node), None)
        return PingResult(self.node, reader.feed_eof(), timings)

    def signal(self, num: int) -> SignalResult:
        """Raise uWSGI signal ``num`` (0..255) on the node (modifier1 110). Returns once the node
        has queued it; :class:`NoResult` when it did not (no signal plugin, no master)."""
        request = signal_request(num)
        reader, timings = self._roundtrip(request, SignalReader(num, node=self.node), None)
        reader.feed_eof()
        return SignalResult(self.node, num, timings)

    def exchange(
        self,
        request: bytes,
        reader: ResponseReader | None = None,
        *,
        function: str | bytes | None = None,
    ) -> CallResult:
        """Send already-encoded ``request`` bytes and read the answer with ``reader`` (by default
        the one its modifier2 asks for, with this client's response cap)."""
        done, timings = self._roundtrip(request, reader, function)
        return self._result(request, done, function, timings)

    @overload
    def _roundtrip(
        self, request: bytes, reader: None, function: str | bytes | None, *, timed: bool = ...
    ) -> tuple[ResponseReader, Timings]: ...

    @overload
    def _roundtrip(
        self, request: bytes, reader: R, function: str | bytes | None, *, timed: bool = ...
    ) -> tuple[R, Timings]: ...

    def _roundtrip(
        self,
        request: bytes,
        reader: ResponseReader | PingReader | SignalReader | None,
        function: str | bytes | None,
        *,
        timed: bool = True,
    ) -> tuple[ResponseReader | PingReader | SignalReader, Timings]:
        """Connect, send ``request``, feed the answer to ``reader`` until it is complete or EOF.

        Every read waits in the kernel for at most what is left of the deadline (SO_RCVTIMEO,
        set before each read). With ``reader`` None, a ResponseReader for the request's
        modifier2 is made while the server works on the request. Written out flat:
        bench/bench_client.py measures this path, and against a local server every Python step
        shows.
        """
        monotonic = time.monotonic
        start = monotonic()
        if reader is None:
            reader = self._reader_for(request)
        if self.ssl_context is not None:
            from .tls import roundtrip

            connected, first, _, self._tls = roundtrip(self, request, reader, function, start)
            return reader, Timings(connected - start, first - start, monotonic() - start)
        deadline = start + self.timeout
        sock, sent = self._open(request, start, deadline)
        connected = first = monotonic() if timed else start
        received = 0
        try:
            if sent < len(request):  # a big request, more than the kernel took at once
                _send_by(sock, memoryview(request)[sent:], deadline)
            sock.setblocking(True)  # reads wait in the kernel, under SO_RCVTIMEO
            while True:
                # armed before every read, so a trickling peer cannot stretch the call
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.setsockopt(_SOL_SOCKET, _SO_RCVTIMEO, _timeval(remaining))
                data = sock.recv(_CHUNK)
                if timed and not received:
                    first = monotonic()
                if not data:
                    break
                received += len(data)
                if reader.feed(data):
                    _await_close(sock, reader, deadline)
                    break
        except CallError:
            raise
        except OSError as exc:
            raise self._failed(exc, request, function, received) from None
        finally:
            sock.close()
        if not timed:
            return reader, _NO_TIMINGS
        return reader, Timings(connected - start, first - start, monotonic() - start)

    def _open(self, request: bytes, start: float, deadline: float) -> tuple[socket.SocketType, int]:
        """Connect to the first target that answers within the connect timeout and hand it the
        request: the socket (non-blocking) and how many bytes of ``request`` the kernel took.

        The request goes out with the connection: connect() does not wait, and the send right
        after it is the test that the connection is made. On loopback it always is (the
        handshake is done by the time connect() returns), so a local call never waits for its
        connection; elsewhere the send says "not yet" (EAGAIN; ENOTCONN on the BSDs), and only
        then is there a wait, for at most the connect timeout. A failure before any byte was
        taken is a connect error: nothing was sent, so trying another node is safe.
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
            if time.monotonic() >= limit:
                break
            sock = _Socket(family, socket.SOCK_STREAM | _NONBLOCK)
            try:
                if not _NONBLOCK:
                    sock.setblocking(False)
                code = sock.connect_ex(sockaddr)
                if code not in _CONNECTING:
                    raise OSError(code, os.strerror(code))
                try:
                    return sock, sock.send(request)
                except OSError as exc:
                    if exc.errno not in _NOT_YET:
                        raise
                _wait_connected(sock, limit)
                return sock, sock.send(request)
            except OSError as exc:  # TimeoutError included
                error = self._connect_error(exc)
            except BaseException:  # interrupted: never leak the socket
                sock.close()
                raise
            sock.close()
        raise error or failures.connect_timed_out(self.node, self.connect_timeout)


_NO_TIMINGS = Timings(0.0, 0.0, 0.0)


def _timeval(seconds: float) -> bytes:
    """A SO_RCVTIMEO/SO_SNDTIMEO value; never {0, 0}, which would mean "wait forever"."""
    return _TIMEVAL.pack(*divmod(max(int(seconds * 1_000_000), 1), 1_000_000))


def _wait_connected(sock: socket.SocketType, limit: float) -> None:
    """Wait for a connection in progress: return once it is made, raise why it was not
    (TimeoutError once ``limit`` has passed)."""
    remaining = limit - time.monotonic()
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    if remaining <= 0 or not poller.poll(math.ceil(remaining * 1000)):
        raise TimeoutError
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))


def _send_by(sock: socket.SocketType, rest: memoryview, deadline: float) -> None:
    """Send the rest of a request that did not fit the send buffer, all of it by ``deadline``."""
    # Python's own timeout bounds sendall() as a whole; SO_SNDTIMEO would bound each send()
    sock.settimeout(max(deadline - time.monotonic(), 1e-6))
    sock.sendall(rest)


def _await_close(
    sock: socket.SocketType, reader: ResponseReader | PingReader | SignalReader, deadline: float
) -> None:
    """After a complete answer, wait briefly for the server's close (docs/protocol.md#responses:
    "Then close").

    Letting the server close first keeps TIME_WAIT on its side: a client that closes first
    piles up TIME_WAIT sockets on its own ephemeral ports, and its connects slow down. Bytes
    that arrive meanwhile are a protocol error (the reader raises it); a server that keeps the
    connection open costs at most CLOSE_GRACE and is not an error.
    """
    try:
        # the close usually came along with the answer: then this read does not wait at all
        data = sock.recv(_CHUNK, _MSG_DONTWAIT)
    except BlockingIOError:
        grace = min(CLOSE_GRACE, deadline - time.monotonic())
        try:
            sock.setsockopt(_SOL_SOCKET, _SO_RCVTIMEO, _timeval(grace))
            data = sock.recv(_CHUNK)
        except OSError:
            return  # out of time, or a reset after a complete answer: it changes nothing
    except OSError:
        return
    if data:
        reader.feed(data)  # raises: nothing may follow a complete answer
