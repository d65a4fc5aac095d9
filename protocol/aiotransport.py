"""The AsyncClient's transport path (TLS, and systems without epoll): one call's asyncio.Protocol.

A plain call on Linux does without a transport (protocol.aiopoll); this is what reads the answer
where there is none, through ``loop.create_connection(sock=...)`` (protocol.aio). The
AsyncClient inherits its connect, TLS handshake and exchange from :class:`TransportClient`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time

from . import failures
from .aiopoll import connected as _connected
from .base import BaseClient, Target
from .client import _NONBLOCK, CLOSE_GRACE
from .errors import CallError
from .reader import PingReader, ResponseReader, SignalReader
from .results import Timings

__all__ = ["Exchange", "TransportClient"]


class Exchange(asyncio.Protocol):
    """One call's connection: feeds the sans-IO reader and resolves ``done`` when it is over.

    A transport (not loop.sock_recv) keeps the socket registered with the loop once per call.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        reader: ResponseReader | PingReader | SignalReader,
    ) -> None:
        self.loop = loop
        self.reader = reader
        self.done: asyncio.Future[None] = loop.create_future()
        self.received = 0
        self.first = 0.0
        self.complete = False

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        if not self.received:
            self.first = time.monotonic()
        self.received += len(data)
        try:
            if self.reader.feed(data) and not self.complete:
                self.complete = True
                # wait briefly for the server's close, as the blocking client does (see
                # protocol.client._close_wait); late bytes still reach the reader meanwhile
                self.loop.call_later(CLOSE_GRACE, self._finish)
        except CallError as exc:
            self.done.set_exception(exc)

    @property
    def ok(self) -> bool:
        """True once the exchange ended without an error (or a cancellation)."""
        done = self.done
        return done.done() and not done.cancelled() and done.exception() is None

    def eof_received(self) -> bool:
        self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if exc is None or self.complete:  # a reset after a complete answer changes nothing
            self.done.set_result(None)
        else:
            self.done.set_exception(exc)

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class TransportClient(BaseClient):
    """The AsyncClient's calls through asyncio transports: over TLS, and without epoll."""

    async def _resolve(self, loop: asyncio.AbstractEventLoop, limit: float) -> list[Target]:
        """Look a DNS name up, bounded by the connect timeout."""
        address = self.address
        try:
            async with asyncio.timeout(max(limit - time.monotonic(), 0)):
                infos = await loop.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise failures.connect_timed_out(self.node, self.connect_timeout) from None
        except OSError as exc:
            raise failures.resolve_failed(self.node, exc) from None
        return [(info[0], info[4]) for info in infos]

    async def _transport_roundtrip(
        self,
        request: bytes,
        reader: ResponseReader | PingReader | SignalReader,
        function: str | bytes | None,
    ) -> Timings:
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        deadline = start + self.timeout
        sock = await self._connect(loop, start, deadline)
        connected = time.monotonic()
        exchange = Exchange(loop, reader)
        transport: asyncio.Transport | None = None
        try:
            # relative delays only: uvloop's loop.time() need not share time.monotonic()'s origin
            async with asyncio.timeout(max(deadline - connected, 0)):
                if self.ssl_context is not None:  # docs/tls.md: the handshake is part of connecting
                    transport = await self._tls_connect(loop, exchange, sock, start)
                elif sock.family == socket.AF_UNIX:
                    transport, _ = await loop.create_unix_connection(lambda: exchange, sock=sock)
                else:
                    transport, _ = await loop.create_connection(lambda: exchange, sock=sock)
                transport.write(request)
                await exchange.done
        except CallError:
            raise
        except OSError as exc:  # TimeoutError included: the whole-call deadline ran out
            # ... but a complete answer whose close has not come by then is the answer (Client)
            if not (exchange.complete and isinstance(exc, TimeoutError)):
                raise self._failed(exc, request, function, exchange.received) from None
        finally:
            if transport is None:
                sock.close()
            elif exchange.ok:
                transport.close()
            else:
                transport.abort()
        first = exchange.first or connected
        return Timings(connected - start, first - start, time.monotonic() - start)

    async def _tls_connect(
        self,
        loop: asyncio.AbstractEventLoop,
        exchange: Exchange,
        sock: socket.socket,
        start: float,
    ) -> asyncio.Transport:
        from .tls import handshake_failed

        name = self.server_name or self.address.host
        context = self.ssl_context
        assert context is not None
        try:
            transport, _ = await loop.create_connection(
                lambda: exchange,
                sock=sock,
                ssl=context,
                server_hostname=name if context.check_hostname else None,
                ssl_handshake_timeout=max(start + self.connect_timeout - time.monotonic(), 1e-3),
            )
        except TimeoutError:
            raise failures.connect_timed_out(self.node, self.connect_timeout) from None
        except OSError as exc:
            raise handshake_failed(self.node, exc, name, context) from None
        return transport

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, start: float, deadline: float
    ) -> socket.socket:
        limit = min(start + self.connect_timeout, deadline)
        targets = self._targets
        if targets is None:
            targets = await self._resolve(loop, limit)
        return await self._connect_any(loop, targets, limit)

    async def _connect_any(
        self, loop: asyncio.AbstractEventLoop, targets: list[Target], limit: float
    ) -> socket.socket:
        error: CallError | None = None
        for family, sockaddr in targets:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                break
            sock = _nonblocking_socket(family)
            try:
                # not loop.sock_connect(): uvloop's resolves the address again on every call
                code = sock.connect_ex(sockaddr)
                if code == errno.EINPROGRESS:
                    code = await _connected(loop, sock, remaining)
                if code:
                    raise OSError(code, os.strerror(code))
            except OSError as exc:  # TimeoutError included
                sock.close()
                error = self._connect_error(exc)
            except BaseException:  # cancelled: never leak the socket
                sock.close()
                raise
            else:
                return sock
        raise error or failures.connect_timed_out(self.node, self.connect_timeout)


def _nonblocking_socket(family: socket.AddressFamily) -> socket.socket:
    if _NONBLOCK:  # one system call less on Linux
        return socket.socket(family, socket.SOCK_STREAM | _NONBLOCK)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock
