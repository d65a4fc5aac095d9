"""How the AsyncClient waits for answers without a transport: one epoll per event loop.

An asyncio transport costs a call about twenty system calls on uvloop (the loop's own checks,
TCP_NODELAY, getsockname, getpeername, registering the socket), and ``loop.add_reader`` about
ten, which left one call at a time at half the speed of a blocking socket loop
(bench/bench_client.py). Instead every event loop that makes a call gets one ``select.epoll``,
registered with the loop once, as a reader; each call adds its socket to that epoll (one
``epoll_ctl``) and closing the socket removes it. When any of those sockets is readable the
epoll is, the loop runs :meth:`Poller.ready`, and that hands each readable socket to its call.
A call's reads then cost what a blocking client's do: one ``recv`` for the answer, and one more
that finds the server's close.

Waiting to write is rare (a connect still in progress, a request bigger than the kernel takes
at once) and uses ``loop.add_writer`` (:func:`writable`, :func:`send_rest`).

Linux only (``select.epoll``); elsewhere, and for TLS, protocol.aio uses transports. The epoll
lives as long as its loop (it is closed when the loop is collected). A loop is never used across
fork() (asyncio's rule; uvloop refuses): a forked child runs a new loop, which gets its own.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import select
import socket
import time
import weakref
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, TypeAlias

from .base import _CHUNK
from .client import CLOSE_GRACE
from .errors import CallError
from .reader import PingReader, ResponseReader, SignalReader, whole_body

if TYPE_CHECKING:
    from .base import BaseClient

__all__ = ["EPOLL", "Poller", "Reading", "connected", "poller_for", "send_rest", "writable"]

#: False where there is no epoll (macOS, the BSDs): protocol.aio then uses transports
EPOLL = hasattr(select, "epoll")
_EPOLLIN = getattr(select, "EPOLLIN", 1)

AnyReader: TypeAlias = ResponseReader | PingReader | SignalReader


class Poller:
    """One event loop's epoll: the sockets of the calls in flight, each with what reads it, and
    their deadlines.

    The deadlines share one loop timer, armed for the earliest (a timer per call cost about as
    much as the rest of the call's Python): each call pushes ``(deadline, number, fd)`` on a
    heap, and a finished call's entry stays there until it comes up or the heap is pruned. The
    poller refers to no loop (the loop refers to it, through its reader and timers), so the
    loop and its poller are collected together.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.epoll = select.epoll()
        self.readings: dict[int, Reading] = {}
        self.deadlines: list[tuple[float, int, int]] = []
        self.armed_at = math.inf  # the deadline the latest timer was armed for
        self.fd = self.epoll.fileno()
        loop.add_reader(self.fd, self.ready)

    def ready(self) -> None:
        """The loop saw the epoll readable: run the reader of every socket that is."""
        readings = self.readings
        if len(readings) == 1:  # one call in flight (a loop of awaited calls): it is the one
            only = next(iter(readings.values()))
            only.readable()
            if only.fd < 0:
                return  # over, its socket closed: out of the epoll, nothing left ready
            # still reading: let the epoll look again, so that it is readable only when the
            # socket is
        for fd, _ in self.epoll.poll(0):
            reading = readings.get(fd)
            if reading is not None:
                reading.readable()

    def watch(self, loop: asyncio.AbstractEventLoop, reading: Reading) -> None:
        """Read ``reading``'s socket from now on, and end it at its deadline."""
        fd, deadline = reading.fd, reading.deadline
        self.readings[fd] = reading
        try:
            self.epoll.register(fd, _EPOLLIN)
        except BaseException:
            del self.readings[fd]
            raise
        heap = self.deadlines
        heappush(heap, (deadline, reading.number, fd))
        if deadline < self.armed_at:
            self._arm(loop, deadline)
        elif len(heap) > 2 * len(self.readings) + 64:  # mostly calls long over: drop them
            readings = self.readings  # _live(), written out: no call per entry
            self.deadlines = heap = [
                entry
                for entry in heap
                if (live := readings.get(entry[2])) is not None and live.number == entry[1]
            ]
            heapify(heap)

    def _live(self, entry: tuple[float, int, int]) -> bool:
        reading = self.readings.get(entry[2])
        return reading is not None and reading.number == entry[1]

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self.armed_at = deadline
        # relative delays only: uvloop's loop.time() need not share time.monotonic()'s origin
        delay = max(deadline - time.monotonic(), 0)
        loop.call_later(delay, self._expire, loop, deadline)

    def _expire(self, loop: asyncio.AbstractEventLoop, armed_at: float) -> None:
        """A timer went off: end the calls whose deadline has passed, arm for the next one.

        A timer armed before an earlier deadline came in still goes off: it ends what is due
        and leaves the arming to the newer timer's chain.
        """
        heap, now = self.deadlines, time.monotonic()
        while heap and (heap[0][0] <= now or not self._live(heap[0])):
            entry = heappop(heap)
            if self._live(entry):
                self.readings[entry[2]].expired()
        if armed_at == self.armed_at:
            self.armed_at = math.inf
            if heap:
                # a timer may go off a little early (the loop's clock ticks in milliseconds)
                self._arm(loop, max(heap[0][0], now + 1e-3))


_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Poller] = weakref.WeakKeyDictionary()


# the last loop asked about and its poller, both weakly: a loop of calls finds its poller without
# a lookup, and neither is kept alive by it (one tuple, so threads never see a mixed pair)
_last: tuple[Callable[[], object], Callable[[], Poller | None]] = (object, lambda: None)


def poller_for(loop: asyncio.AbstractEventLoop) -> Poller:
    """``loop``'s poller, made on its first call."""
    global _last
    last_loop, last_poller = _last
    if last_loop() is loop:
        poller = last_poller()
        if poller is not None:
            return poller
    poller = _pollers.get(loop)
    if poller is None:
        poller = _pollers[loop] = Poller(loop)
    _last = (weakref.ref(loop), weakref.ref(poller))
    return poller


_numbers = itertools.count()


class Reading:
    """One call's answer, read from its socket as the poller finds it readable.

    ``done`` resolves when the answer is over: the server closed, or closed after a complete
    answer within CLOSE_GRACE (as protocol.client._close_wait), or the deadline passed
    (TimeoutError), or a read failed (the OSError, or the reader's CallError). The socket is
    closed as soon as the call is over, which also takes it out of the epoll.

    With ``reader`` None (AsyncClient.call in packet mode), an answer that is one whole packet
    in the first read is kept as ``body`` with no reader at all (reader.whole_body, as the
    blocking Client does); anything else goes to ``client``'s reader for ``request``, fed from
    the first byte on, which then is ``reader``. ``data`` is what call()'s early read found
    when it was not that usual answer: taken at once, before the socket is read again.
    """

    __slots__ = (
        "body",
        "client",
        "complete",
        "deadline",
        "done",
        "fd",
        "first",
        "grace",
        "number",
        "poller",
        "reader",
        "received",
        "request",
        "sock",
        "whole",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        poller: Poller,
        sock: socket.SocketType,
        reader: AnyReader | None,
        deadline: float,
        client: BaseClient | None = None,
        request: bytes = b"",
        data: bytes = b"",
    ) -> None:
        self.poller = poller
        self.sock = sock
        self.reader = reader
        self.client = client
        self.request = request
        self.body: bytes | None = None
        self.whole = b""  # the first read, when it was a whole packet
        self.done: asyncio.Future[None] = loop.create_future()
        self.received = 0
        self.first = 0.0
        self.complete = False
        self.grace: asyncio.TimerHandle | None = None
        self.deadline = deadline
        self.number = next(_numbers)
        self.fd = sock.fileno()
        poller.watch(loop, self)
        if data:  # what call()'s early read found, and it was not the usual answer: taken now
            self.readable(data)  # (which may end the call already)

    def readable(self, data: bytes | None = None) -> None:
        """Read all there is: feed the reader until the socket would block or the call is over
        (``data``: bytes read already, taken first)."""
        sock = self.sock
        while True:
            if data is None:
                try:
                    data = sock.recv(_CHUNK)
                except BlockingIOError:
                    if self.complete and self.grace is None:
                        # a complete answer and no close yet: wait briefly for it, by the deadline
                        grace = min(CLOSE_GRACE, self.deadline - time.monotonic())
                        self.grace = self.done.get_loop().call_later(max(grace, 0), self._end)
                    return
                except OSError as exc:  # a reset after a complete answer changes nothing
                    self._end(None if self.complete else exc)
                    return
            if not data:
                self._end()
                return
            reader = self.reader
            if not self.received:
                if reader is None:  # call()'s first read: the usual answer needs no reader
                    body = whole_body(data, self.client.max_response)  # type: ignore[union-attr]
                    if body is not None:
                        self.body, self.whole, self.complete = body, data, True
                        self.received = len(data)
                        data = None
                        continue  # the next read usually finds the close
                else:
                    self.first = time.monotonic()  # (call() takes no timings)
            self.received += len(data)
            try:
                if reader is None:
                    reader = self._reader_now()
                if reader.feed(data):
                    self.complete = True  # the next read usually finds the close
            except CallError as exc:
                self._end(exc)
                return
            data = None

    def _reader_now(self) -> ResponseReader:
        """call()'s reader, once what came is not one whole packet: fed the whole packet that
        came first, if one did (bytes after it: the reader says what is wrong with them)."""
        assert self.client is not None
        reader = self.reader = self.client._reader_for(self.request)
        if self.whole:
            reader.feed(self.whole)
        return reader

    def expired(self) -> None:
        """The deadline passed (the poller's timer); a complete answer has its own grace."""
        if not self.complete:
            self._end(TimeoutError())

    def _end(self, error: BaseException | None = None) -> None:
        done = self.done
        if not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        self.close()

    def close(self) -> None:
        """Stop reading: out of the poller, the socket closed (idempotent)."""
        if self.grace is not None:
            self.grace.cancel()
        if self.fd >= 0:  # once only: the number may belong to another call's socket next
            del self.poller.readings[self.fd]  # its socket is closed next: out of the epoll
            self.fd = -1
            self.sock.close()  # closing takes it out of the epoll too


async def writable(
    loop: asyncio.AbstractEventLoop, sock: socket.SocketType, timeout: float
) -> None:
    """Wait (at most ``timeout``: else TimeoutError) until ``sock`` is writable."""
    if timeout <= 0:
        raise TimeoutError
    writable: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def ready() -> None:
        if not writable.done():
            writable.set_result(None)

    loop.add_writer(fd, ready)
    try:
        async with asyncio.timeout(timeout):
            await writable
    finally:
        loop.remove_writer(fd)


async def send_rest(
    loop: asyncio.AbstractEventLoop, sock: socket.SocketType, rest: memoryview, deadline: float
) -> None:
    """Send the rest of a request that did not fit the send buffer, all of it by ``deadline``."""
    while True:
        try:
            sent = sock.send(rest)
        except BlockingIOError:
            sent = 0
        rest = rest[sent:]
        if not rest:
            return
        await writable(loop, sock, deadline - time.monotonic())


async def connected(
    loop: asyncio.AbstractEventLoop, sock: socket.SocketType, timeout: float
) -> int:
    """Wait (at most ``timeout``) for a non-blocking connect; its error code, 0 when connected."""
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    if not poller.poll(0):  # loopback and LAN connects are usually done already
        await writable(loop, sock, timeout)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
