"""The asyncio client: the same calls, readers and error messages as the blocking Client.

It shares ``BaseClient`` (settings, request building, verdicts) and ``protocol.failures`` with
``protocol.client``, so both clients say exactly the same thing about the same failure. uvloop is
used by :func:`run` and :func:`new_event_loop` when it is installed; it is imported lazily, so
this module needs only the standard library.

>>> from protocol.aio import AsyncClient, run
>>> run(AsyncClient("127.0.0.1:3031").call("hello"))  # doctest: +SKIP
b'Hello, world'
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from . import failures
from .client import (
    CLOSE_GRACE,
    BaseClient,
    CallResult,
    PingResult,
    Target,
    Timings,
)
from .errors import CallError
from .wire import PING_REQUEST, Mode, PingReader, ResponseReader

__all__ = ["AsyncClient", "new_event_loop", "run"]

T = TypeVar("T")
# under glibc malloc's mmap threshold (128 KiB): a bigger recv() buffer costs an mmap per read
_CHUNK = 64 * 1024


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


async def _await_close(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    reader: ResponseReader | PingReader,
    grace: float,
) -> None:
    """After a complete answer, wait up to ``grace`` for the server's close; see
    ``protocol.client._await_close`` for why. Late bytes raise the reader's protocol error."""
    try:
        async with asyncio.timeout(max(grace, 0)):
            while data := await loop.sock_recv(sock, _CHUNK):
                reader.feed(data)
    except (TimeoutError, ConnectionError):
        return


class AsyncClient(BaseClient):
    """A uwsgi RPC client for one node, for asyncio; one connection per call (facts 2).

    Same constructor as :class:`protocol.Client`: ``timeout`` is the whole-call deadline,
    ``connect_timeout`` bounds the connect (and any DNS lookup), ``max_response`` caps the answer.
    """

    async def call(
        self, function: str | bytes, *args: str | bytes, mode: Mode | None = None
    ) -> bytes:
        """Call ``function(*args)`` and return the result bytes."""
        return (await self.call_full(function, args, mode=mode)).response.body

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

    async def exchange(
        self, request: bytes, reader: ResponseReader, *, function: str | bytes | None = None
    ) -> CallResult:
        """Send already-encoded ``request`` bytes and read the answer with ``reader``."""
        timings = await self._roundtrip(request, reader, function)
        return self._result(request, reader, function, timings)

    async def _roundtrip(
        self, request: bytes, reader: ResponseReader | PingReader, function: str | bytes | None
    ) -> Timings:
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        deadline = start + self.timeout
        sock = await self._connect(loop, start, deadline)
        connected = first = time.monotonic()
        received = 0
        complete = False
        try:
            # relative delays only: uvloop's loop.time() need not share time.monotonic()'s origin
            async with asyncio.timeout(max(deadline - connected, 0)):
                await loop.sock_sendall(sock, request)
                while True:
                    data = await loop.sock_recv(sock, _CHUNK)
                    if not received:
                        first = time.monotonic()
                    if not data:
                        break
                    received += len(data)
                    if reader.feed(data):
                        complete = True
                        break
            if complete:
                # let the server close first, as the blocking client does (client._await_close)
                await _await_close(
                    loop, sock, reader, min(CLOSE_GRACE, deadline - time.monotonic())
                )
        except CallError:
            raise
        except OSError as exc:  # TimeoutError included: the whole-call deadline ran out
            raise self._failed(exc, request, function, received) from None
        finally:
            sock.close()
        return Timings(connected - start, first - start, time.monotonic() - start)

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, start: float, deadline: float
    ) -> socket.socket:
        limit = min(start + self.connect_timeout, deadline)
        targets = self._targets
        if targets is None:
            address = self.address
            try:
                async with asyncio.timeout(max(limit - time.monotonic(), 0)):
                    infos = await loop.getaddrinfo(
                        address.host, address.port, type=socket.SOCK_STREAM
                    )
            except TimeoutError:
                raise failures.connect_timed_out(self.node, self.connect_timeout) from None
            except OSError as exc:
                raise failures.resolve_failed(self.node, exc) from None
            targets = [(info[0], info[4]) for info in infos]
        return await self._connect_any(loop, targets, limit)

    async def _connect_any(
        self, loop: asyncio.AbstractEventLoop, targets: list[Target], limit: float
    ) -> socket.socket:
        error: CallError | None = None
        for family, sockaddr in targets:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                async with asyncio.timeout(remaining):
                    await loop.sock_connect(sock, sockaddr)
            except TimeoutError:
                sock.close()
                error = failures.connect_timed_out(self.node, self.connect_timeout)
            except OSError as exc:
                sock.close()
                error = failures.connect_failed(self.node, exc)
            except BaseException:  # cancelled: never leak the socket
                sock.close()
                raise
            else:
                return sock
        raise error or failures.connect_timed_out(self.node, self.connect_timeout)
