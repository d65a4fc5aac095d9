"""The asyncio client: the same calls, readers and error messages as the blocking Client.

It shares ``BaseClient`` (settings, request building, verdicts) and ``protocol.failures`` with
``protocol.client``, so both clients say exactly the same thing about the same failure. uvloop is
used by :func:`run` and :func:`new_event_loop` when it is installed; it is imported lazily, so
this module needs only the standard library. A plain call on Linux is read through its loop's
epoll (protocol.aiopoll); TLS, and systems without epoll, use asyncio transports.

>>> from protocol.aio import AsyncClient, run
>>> run(AsyncClient("127.0.0.1:3031").call("hello"))  # doctest: +SKIP
b'Hello, world'
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import types
from collections.abc import Coroutine, Generator, Sequence
from typing import Any, TypeVar

from . import failures
from .aiopoll import EPOLL, Reading, poller_for, send_rest
from .aiopoll import connected as _connected
from .aiotransport import TransportClient
from .base import _CHUNK, _NO_TIMINGS
from .client import (
    _CONNECTING,
    _NONBLOCK,
    _NOT_YET,
    _STREAM,
    _monotonic,
    _Socket,
)
from .errors import CallError
from .reader import PingReader, ResponseReader, SignalReader, whole_body
from .results import CallResult, PingResult, SignalResult, Timings
from .wire import PING_REQUEST, Mode, signal_request

__all__ = ["AsyncClient", "new_event_loop", "run"]

T = TypeVar("T")


@types.coroutine
def _pass() -> Generator[None, None, None]:
    """Let the loop run once (asyncio.sleep(0) without its call): a call whose answer was there
    at once still lets other tasks run, and can be cancelled, as one that waited."""
    yield


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop event loop when uvloop is installed, else asyncio's default one."""
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """``asyncio.run(main)`` on :func:`new_event_loop` (uvloop when available)."""
    with asyncio.Runner(loop_factory=new_event_loop if use_uvloop else None) as runner:
        return runner.run(main)


class AsyncClient(TransportClient):
    """A uwsgi RPC client for one node, for asyncio; one connection per call
    (docs/protocol.md#requests).

    Same constructor as :class:`protocol.Client`: ``timeout`` is the whole-call deadline,
    ``connect_timeout`` bounds the connect (and any DNS lookup), ``max_response`` caps the answer.
    One AsyncClient serves any number of concurrent tasks, in any event loop and thread: it holds
    no socket and no loop between calls (so it is fork-safe too). ``async with`` closes it.
    """

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def call(
        self, function: str | bytes, *args: str | bytes, mode: Mode | None = None
    ) -> bytes:
        """Call ``function(*args)`` and return the result bytes."""
        # call_full() without the result objects, as Client.call: the hot path of bench/. The
        # usual call (no arguments, packet mode, a plain socket) finds its request built already
        # and is read through the loop's epoll, written out flat (a coroutine less)
        plain = self.ssl_context is None and EPOLL
        if args or mode is not None or self.mode != "packet" or not plain:
            return await self._call_other(function, args, mode)
        try:
            request = self._bare[function]
        except (KeyError, TypeError):  # new, or an unhashable name (a bytearray)
            request = self._call_request(function, args, mode)
        start = _monotonic()
        deadline = start + self.timeout
        sock, sent = await self._open(None, request, start, deadline)
        data = b""  # an early read's bytes, when they are not the usual answer with its close
        if sent == len(request):  # read at once: the server may have answered already
            try:
                early = self._read_early(sock)
            except OSError as exc:
                sock.close()
                await _pass()
                raise self._failed(exc, request, function, 0) from None
            except BaseException:
                sock.close()
                raise
            if early is not None:
                data = early
                body = whole_body(data, self.max_response)
                if body is not None:
                    try:  # the close usually came with the answer
                        extra: bytes | None = sock.recv(_CHUNK)
                    except BlockingIOError:
                        extra = None
                    except OSError:  # a reset after a complete answer changes nothing
                        extra = b""
                    if extra == b"":
                        sock.close()
                        await _pass()  # a call lets the loop run, as one that waits does
                        return body
                    if extra:
                        data += extra  # the reader says what is wrong with it
                elif not data:  # the server closed: a reader says what that means
                    sock.close()
                    await _pass()
                    return self._body_of(request, self._reader_for(request), function)
        loop = asyncio.get_running_loop()
        reading: Reading | None = None
        try:
            if sent < len(request):  # a big request, more than the kernel took at once
                await send_rest(loop, sock, memoryview(request)[sent:], deadline)
            reading = Reading(loop, poller_for(loop), sock, None, deadline, self, request, data)
            if data:  # taken by the reading, which may have ended the call: let the loop run
                await _pass()
            await reading.done
        except CallError:
            raise
        except OSError as exc:  # TimeoutError included: the whole-call deadline ran out
            received = 0 if reading is None else reading.received
            raise self._failed(exc, request, function, received) from None
        finally:
            if reading is None:
                sock.close()
            else:
                reading.close()
        if reading.body is not None and reading.reader is None:
            return reading.body  # uWSGI's usual answer: one whole packet, then the close
        reader = reading.reader or self._reader_for(request)  # none: closed before a byte came
        return self._body_of(request, reader, function)  # type: ignore[arg-type]

    async def _call_other(
        self, function: str | bytes, args: tuple[str | bytes, ...], mode: Mode | None
    ) -> bytes:
        """call() with arguments, in raw mode, over TLS, or without epoll."""
        request = self._call_request(function, args, mode)
        reader = self._reader_for(request)
        await self._roundtrip(request, reader, function, timed=False)
        return self._body_of(request, reader, function)

    async def call_full(
        self,
        function: str | bytes,
        args: Sequence[str | bytes] = (),
        *,
        mode: Mode | None = None,
        modifier2: int | None = None,
    ) -> CallResult:
        """Call and return the response with its header and timings (see ``Client.call_full``)."""
        request, reader = self._prepare(function, args, mode, modifier2)
        return await self.exchange(request, reader, function=function)

    async def ping(self) -> PingResult:
        """uWSGI ping (modifier1 100); ``warning`` is the server's warning text, if any."""
        reader = PingReader(node=self.node)
        timings = await self._roundtrip(PING_REQUEST, reader, None)
        return PingResult(self.node, reader.feed_eof(), timings)

    async def signal(self, num: int) -> SignalResult:
        """Raise uWSGI signal ``num`` on the node (see ``Client.signal``)."""
        request = signal_request(num)
        reader = SignalReader(num, node=self.node)
        timings = await self._roundtrip(request, reader, None)
        reader.feed_eof()
        return SignalResult(self.node, num, timings)

    async def exchange(
        self,
        request: bytes,
        reader: ResponseReader | None = None,
        *,
        function: str | bytes | None = None,
    ) -> CallResult:
        """Send already-encoded ``request`` bytes and read the answer with ``reader`` (by default
        the one its modifier2 asks for, with this client's response cap)."""
        if reader is None:
            reader = self._reader_for(request)
        timings = await self._roundtrip(request, reader, function)
        return self._result(request, reader, function, timings)

    async def _roundtrip(
        self,
        request: bytes,
        reader: ResponseReader | PingReader | SignalReader,
        function: str | bytes | None,
        *,
        timed: bool = True,
    ) -> Timings:
        """Connect, send ``request``, feed the answer to ``reader`` until it is over (with
        ``timed`` False, no timings are taken: call() has no use for them).

        Plain sockets on Linux go through the loop's epoll (protocol.aiopoll): the request goes
        out with the connection, as in Client._open, and the answer is read by the poller; TLS,
        and systems without epoll, use an asyncio transport (_transport_roundtrip).
        """
        if self.ssl_context is not None or not EPOLL:
            return await self._transport_roundtrip(request, reader, function)
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        deadline = start + self.timeout
        sock, sent = await self._open(loop, request, start, deadline)
        connected = time.monotonic() if timed else start
        reading: Reading | None = None
        try:
            if sent < len(request):  # a big request, more than the kernel took at once
                await send_rest(loop, sock, memoryview(request)[sent:], deadline)
            reading = Reading(loop, poller_for(loop), sock, reader, deadline)
            await reading.done
        except CallError:
            raise
        except OSError as exc:  # TimeoutError included: the whole-call deadline ran out
            received = 0 if reading is None else reading.received
            raise self._failed(exc, request, function, received) from None
        finally:
            if reading is None:
                sock.close()
            else:
                reading.close()
        if not timed:
            return _NO_TIMINGS
        first = reading.first or connected
        return Timings(connected - start, first - start, time.monotonic() - start)

    async def _open(
        self,
        loop: asyncio.AbstractEventLoop | None,
        request: bytes,
        start: float,
        deadline: float,
    ) -> tuple[socket.SocketType, int]:
        """Connect to the first target that answers within the connect timeout and hand it the
        request, as Client._open does: the socket (non-blocking) and how many bytes of
        ``request`` the kernel took. Only a connection still in progress is waited for (in
        ``loop``; None: the running loop, asked for only then)."""
        limit = start + self.connect_timeout
        if limit > deadline:  # min(), without the call
            limit = deadline
        targets = self._targets
        if targets is None:
            targets = await self._resolve(loop or asyncio.get_running_loop(), limit)
        error: CallError | None = None
        for family, sockaddr in targets:
            remaining = limit - time.monotonic()
            if remaining <= 0:
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
                code = await _connected(loop or asyncio.get_running_loop(), sock, remaining)
                if code:
                    raise OSError(code, os.strerror(code))
                return sock, sock.send(request)
            except OSError as exc:  # TimeoutError included
                sock.close()
                error = self._connect_error(exc)
            except BaseException:  # cancelled: never leak the socket
                sock.close()
                raise
        raise error or failures.connect_timed_out(self.node, self.connect_timeout)
