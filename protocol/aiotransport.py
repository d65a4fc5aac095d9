"""The AsyncClient's transport path (TLS, and systems without epoll): one call's asyncio.Protocol.

A plain call on Linux does without a transport (protocol.aiopoll); this is what reads the answer
where there is none, through ``loop.create_connection(sock=...)`` (protocol.aio).
"""

from __future__ import annotations

import asyncio
import time

from .client import CLOSE_GRACE
from .errors import CallError
from .reader import PingReader, ResponseReader, SignalReader

__all__ = ["Exchange"]


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
