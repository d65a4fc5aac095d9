"""The blocking client: one connection per call, as uWSGI serves RPC (docs/protocol.md#requests).

Two clocks guard every call: ``connect_timeout`` for making the connection, and ``timeout`` for the
whole call, connect included. The deadline is checked before every read, so a server that
trickles one byte a second still times out on time; ``max_response`` caps what is read. (A DNS
name is resolved by the system's blocking getaddrinfo(), whose own timeouts apply; the asyncio
client bounds the lookup by ``connect_timeout`` too.)

The request goes out with the connection (Client._open): the socket starts non-blocking, connect()
does not wait, and the send right after it finds the connection made whenever the server is
local; only a connection still in progress is waited for, under poll() and the connect timeout.
The socket stays non-blocking, and every read waits in poll() for what is left of the deadline
(a blocking read under SO_RCVTIMEO cost an ioctl and a setsockopt more a call). That matters
because a call to a local uWSGI takes about 100 microseconds and every step on the way shows
(bench/bench_client.py, bench/bench_phases.py). The usual answer, one whole packet and then the
close, is taken without a ResponseReader (reader.whole_body). POSIX only (poll).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Sequence
from typing import TypeVar, overload

from . import failures
from .base import _CHUNK, _NO_TIMINGS, DEFAULT_TIMEOUT, BaseClient
from .errors import CallError
from .reader import PingReader, ResponseReader, SignalReader, whole_body
from .results import CallResult, PingResult, SignalResult, Timings
from .waits import _poller, _recv, _send_by, _wait_connected
from .wire import PING_REQUEST, Mode, signal_request

__all__ = [
    "DEFAULT_TIMEOUT",
    "BaseClient",
    "CallResult",
    "Client",
    "PingResult",
    "SignalResult",
    "Timings",
]

#: how long a complete answer waits for the server's close (see _close_wait)
CLOSE_GRACE = 0.05
# sockets start non-blocking (in one system call where the flag exists): see Client._open
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
_STREAM = socket.SOCK_STREAM | _NONBLOCK  # (a constant: not two look-ups and an "or" a call)
# what a non-blocking connect() may say while the connection is still being made, or made
_CONNECTING = (0, errno.EINPROGRESS, errno.EINTR)
# what a send() says before the connection is made: Linux EAGAIN, the BSDs and macOS ENOTCONN
_NOT_YET = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOTCONN)
_MSG_DONTWAIT = socket.MSG_DONTWAIT
_poll, _POLLIN = select.poll, select.POLLIN
_monotonic = time.monotonic
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
        # call_full() without the timings and result objects: the hot path of bench/. The usual
        # call (no arguments, packet mode, a plain socket) finds its request built already
        if args or mode is not None or self.mode != "packet" or self.ssl_context is not None:
            return self._call_other(function, args, mode)
        try:
            request = self._bare[function]
        except (KeyError, TypeError):  # new, or an unhashable name (a bytearray)
            request = self._call_request(function, args, mode)
        return self._call_packet(request, function)

    def _call_other(
        self, function: str | bytes, args: tuple[str | bytes, ...], mode: Mode | None
    ) -> bytes:
        """call() with arguments, in raw mode or over TLS."""
        request = self._call_request(function, args, mode)
        if request[3] or self.ssl_context is not None:  # raw mode, or TLS: a reader throughout
            reader, _ = self._roundtrip(request, None, function, timed=False)
            return self._body_of(request, reader, function)
        return self._call_packet(request, function)

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

        Every read waits, in poll(), for at most what is left of the deadline. With ``reader``
        None, a ResponseReader for the request's modifier2 is made while the server works on the
        request.
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
        try:
            poller, data = self._first_read(sock, request, sent, function, deadline)
            if timed:
                first = monotonic()
            self._read(sock, poller, reader, data, request, function, deadline)
        finally:
            sock.close()
        if not timed:
            return reader, _NO_TIMINGS
        return reader, Timings(connected - start, first - start, monotonic() - start)

    def _call_packet(self, request: bytes, function: str | bytes) -> bytes:
        """call()'s exchange in packet mode on a plain socket: the body of the answer, or the
        error for whatever came instead.

        The usual answer is one whole packet in the first read, then the close: taken by
        whole_body() without a ResponseReader. Anything else goes to a reader fed from the first
        byte on, which gives the verdict it always gives. Written out flat: bench/ measures it.
        """
        start = _monotonic()
        deadline = start + self.timeout
        sock, sent = self._open(request, start, deadline)
        data: bytes | None
        try:
            if sent < len(request):
                poller, data = self._first_read(sock, request, sent, function, deadline)
            else:  # _first_read() and _recv(), inlined
                poller = None
                try:
                    data = self._read_early(sock)
                    if data is None:  # wait for the answer
                        poller = _poll()
                        poller.register(sock, _POLLIN)
                        remaining = deadline - _monotonic()
                        if remaining <= 0 or not poller.poll(remaining * 1000):
                            raise TimeoutError
                        try:
                            data = sock.recv(_CHUNK)
                        except BlockingIOError:
                            data = _recv(sock, poller, deadline)
                except OSError as exc:
                    raise self._failed(exc, request, function, 0) from None
            assert data is not None  # (for the checker)
            body = whole_body(data, self.max_response)
            if body is not None:
                try:  # _close_wait(), inlined: the close usually came with the answer
                    extra = sock.recv(_CHUNK)
                except BlockingIOError:
                    extra = _late_close(sock, poller or _poller(sock), deadline)
                except OSError:
                    extra = b""
                if not extra:
                    return body
                data += extra  # the reader says what is wrong with it
            reader = self._reader_for(request)
            self._read(sock, poller or _poller(sock), reader, data, request, function, deadline)
        finally:
            sock.close()
        return self._body_of(request, reader, function)

    def _first_read(
        self,
        sock: socket.SocketType,
        request: bytes,
        sent: int,
        function: str | bytes | None,
        deadline: float,
    ) -> tuple[select.poll, bytes]:
        """Send what the kernel did not take at once, then wait for the first bytes of the
        answer (b"": the server closed): the poller that waits for ``sock`` and those bytes."""
        try:
            if sent < len(request):  # a big request, more than the kernel took at once
                _send_by(sock, memoryview(request)[sent:], deadline)
            poller = _poll()
            poller.register(sock, _POLLIN)
            return poller, _recv(sock, poller, deadline)
        except OSError as exc:
            raise self._failed(exc, request, function, 0) from None

    def _read(
        self,
        sock: socket.SocketType,
        poller: select.poll,
        reader: ResponseReader | PingReader | SignalReader,
        data: bytes,
        request: bytes,
        function: str | bytes | None,
        deadline: float,
    ) -> None:
        """Feed ``reader`` the first bytes, ``data``, and what follows them: until the answer is
        complete (then the server's close is awaited, see _close_wait) or the server closed."""
        received = 0
        try:
            while data:
                received += len(data)
                if reader.feed(data):
                    extra = _close_wait(sock, poller, deadline)
                    if extra:
                        reader.feed(extra)  # raises: nothing may follow a complete answer
                    return
                data = _recv(sock, poller, deadline)
        except CallError:
            raise
        except OSError as exc:
            raise self._failed(exc, request, function, received) from None

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
        limit = start + self.connect_timeout
        if limit > deadline:  # min(), without the call
            limit = deadline
        error: CallError | None = None
        for family, sockaddr in targets:
            if _monotonic() >= limit:
                break
            sock = _Socket(family, _STREAM)
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


def _close_wait(sock: socket.SocketType, poller: select.poll, deadline: float) -> bytes:
    """After a complete answer, wait briefly for the server's close (docs/protocol.md#responses:
    "Then close"): the bytes that came instead, b"" when none did.

    Letting the server close first keeps TIME_WAIT on its side: a client that closes first
    piles up TIME_WAIT sockets on its own ephemeral ports, and its connects slow down. Bytes
    that arrive meanwhile are a protocol error (the caller's reader says so); a server that
    keeps the connection open costs at most CLOSE_GRACE and is not an error, and neither is a
    reset after a complete answer.
    """
    try:
        # the close usually came along with the answer: then this read does not wait at all
        return sock.recv(_CHUNK)
    except BlockingIOError:
        return _late_close(sock, poller, deadline)
    except OSError:
        return b""


def _late_close(sock: socket.SocketType, poller: select.poll, deadline: float) -> bytes:
    """_close_wait() once its first read found nothing: wait CLOSE_GRACE at most."""
    grace = max(min(CLOSE_GRACE, deadline - time.monotonic()), 0)
    try:
        if poller.poll(grace * 1000):
            return sock.recv(_CHUNK)
    except OSError:  # BlockingIOError included: out of time
        pass
    return b""
