"""Fan-out on one thread: every node's exchange is a small state machine driven by a selector
(epoll on Linux), so a call or a ping to thousands of nodes needs no thread per node.

Each exchange does what :meth:`protocol.Client._roundtrip` does, step for step, and its verdicts
are the client's own (``Client._connect_error``, ``Client._failed``, ``Client._result``): connect
without waiting, hand the request over at once (on loopback the connection is already made),
read until the reader has the whole answer, then give the server :data:`CLOSE_GRACE` to close
first (so TIME_WAIT stays on its side), with ``connect_timeout`` for the connection and
``timeout`` for the whole exchange. A failure of one node is that node's outcome, never the
others'.

At most ``limit`` exchanges are open at once (:func:`default_limit`: 1024, and at most half of
the soft ``RLIMIT_NOFILE``, so that a fan-out never runs the process out of descriptors); the
rest wait their turn, in the order given. Only plain TCP and unix-socket clients of literal
addresses run here (:func:`runs_here`); :meth:`protocol.NodeGroup.fan_out_calls` sends a TLS
node or a DNS name to the thread pool instead.
"""

from __future__ import annotations

import heapq
import os
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import failures
from .base import _CHUNK
from .client import (
    _CONNECTING,
    _MSG_DONTWAIT,
    _NONBLOCK,
    _NOT_YET,
    CLOSE_GRACE,
    Client,
    _Socket,
)
from .errors import CallError, RPCError
from .reader import PingReader, ResponseReader

if TYPE_CHECKING:
    from .address import Address
    from .nodes import NodeGroup, Outcome

__all__ = ["MAX_OPEN", "default_limit", "for_group", "run", "runs_here"]

T = TypeVar("T")
Reader = ResponseReader | PingReader
#: at most this many connections open at once by default (see :func:`default_limit`)
MAX_OPEN = 1024
_CONNECT, _SEND, _READ, _CLOSE = 1, 2, 3, 4
_EVENTS = {
    _CONNECT: selectors.EVENT_WRITE,
    _SEND: selectors.EVENT_WRITE,
    _READ: selectors.EVENT_READ,
    _CLOSE: selectors.EVENT_READ,
}


def default_limit() -> int:
    """:data:`MAX_OPEN`, and at most half of the soft limit on open files (``ulimit -n``)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 64
    if soft == resource.RLIM_INFINITY:
        return MAX_OPEN
    return max(1, min(MAX_OPEN, soft // 2))


def runs_here(client: Client) -> bool:
    """Whether ``client``'s exchanges can run in this loop: plain TCP or a unix socket, at a
    literal address (a DNS name would need a blocking lookup, TLS a handshake)."""
    return client.ssl_context is None and client._targets is not None


def for_group(
    group: NodeGroup,
    client_for: Callable[[Address], Client],
    request: bytes,
    blocking: Callable[[Client], Any],
    reader_for: Callable[[Client], Reader] | None,
    result_for: Callable[[Client, Any, tuple[float, float, float]], Any],
    function: str | bytes | None,
    limit: int | None,
    on_outcome: Callable[[Outcome[Any]], None] | None = None,
) -> list[Outcome[Any]]:
    """The outcomes of ``request`` on every node of ``group``, in the order of its nodes (the
    body of :meth:`NodeGroup.fan_out_calls` and :meth:`NodeGroup.fan_out_pings`): here when
    every client :func:`runs_here`, else ``blocking(client)`` on the group's threads."""
    clients = [client_for(address) for address in group.addresses]
    if not all(runs_here(client) for client in clients):
        by_node = {client.node: client for client in clients}
        outcomes = group.fan_out(lambda address: blocking(by_node[str(address)]))
        if on_outcome is not None:
            for outcome in outcomes:
                on_outcome(outcome)
        return outcomes
    found: list[Outcome[Any] | None] = [None] * len(clients)
    told = 0

    def done(index: int, value: Any, error: RPCError | None, elapsed: float) -> None:
        nonlocal told
        found[index] = group._outcome(group.addresses[index], 0.0, value, error, elapsed)
        while on_outcome is not None and told < len(found):
            outcome = found[told]
            if outcome is None:
                break
            on_outcome(outcome)
            told += 1

    def reader(client: Client) -> Reader:
        return reader_for(client) if reader_for is not None else client._reader_for(request)

    run(clients, request, reader, result_for, function=function, limit=limit, on_done=done)
    return [outcome for outcome in found if outcome is not None]


class _Exchange(Generic[T]):
    """One node's exchange on its way through the loop."""

    __slots__ = (
        "client",
        "connected",
        "deadline",
        "error",
        "first",
        "index",
        "limit",
        "reader",
        "received",
        "sent",
        "sock",
        "start",
        "state",
        "targets",
        "value",
    )

    def __init__(self, index: int, client: Client, reader: Reader) -> None:
        self.index = index
        self.client = client
        self.reader = reader
        self.targets = list(client._targets or ())
        self.sock: socket.SocketType | None = None
        self.state = 0
        self.sent = self.received = 0
        self.start = self.connected = self.first = self.deadline = self.limit = 0.0
        self.value: T | None = None
        self.error: RPCError | None = None


def run(
    clients: Sequence[Client],
    request: bytes,
    reader_for: Callable[[Client], Reader],
    result_for: Callable[[Client, Reader, tuple[float, float, float]], T],
    *,
    function: str | bytes | None = None,
    limit: int | None = None,
    on_done: Callable[[int, T | None, RPCError | None, float], None] | None = None,
) -> None:
    """Send ``request`` to every client (each must pass :func:`runs_here`) and read its answer
    with ``reader_for(client)``; ``on_done(index, value, error, elapsed)`` once per client as its
    exchange ends, ``value`` being ``result_for(client, reader, (connect, first_byte, total))``.
    """
    _Loop(request, reader_for, result_for, function, on_done).run(
        clients, limit if limit is not None else default_limit()
    )


class _Loop(Generic[T]):
    def __init__(
        self,
        request: bytes,
        reader_for: Callable[[Client], Reader],
        result_for: Callable[[Client, Reader, tuple[float, float, float]], T],
        function: str | bytes | None,
        on_done: Callable[[int, T | None, RPCError | None, float], None] | None,
    ) -> None:
        self.request = request
        self.reader_for = reader_for
        self.result_for = result_for
        self.function = function
        self.on_done = on_done
        self.selector = selectors.DefaultSelector()
        self.buffer = bytearray(_CHUNK)
        self.view = memoryview(self.buffer)
        self.open = 0
        # (limit, tie-breaker, exchange): the next time-out; an entry whose limit is no longer
        # the exchange's (it moved on, or ended) is skipped when it comes up
        self.timers: list[tuple[float, int, _Exchange[T]]] = []
        self.ticket = count()

    def run(self, clients: Sequence[Client], limit: int) -> None:
        waiting = iter(enumerate(clients))
        try:
            while True:
                while self.open < limit:
                    item = next(waiting, None)
                    if item is None:
                        break
                    self.start(_Exchange(item[0], item[1], self.reader_for(item[1])))
                if not self.open:
                    return
                self.poll()
        finally:
            for key in list(self.selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            self.selector.close()

    # -- the steps of one exchange ------------------------------------------------------------
    def start(self, ex: _Exchange[T]) -> None:
        now = time.monotonic()
        client = ex.client
        ex.start = now
        ex.deadline = now + client.timeout
        self.connect(ex, now)

    def connect(self, ex: _Exchange[T], now: float) -> None:
        """Connect to the next target and hand the request over (``Client._open``)."""
        client = ex.client
        ex.limit = min(ex.start + client.connect_timeout, ex.deadline)
        if not ex.targets or now >= ex.limit:
            self.fail(ex, failures.connect_timed_out(client.node, client.connect_timeout))
            return
        family, sockaddr = ex.targets.pop(0)
        try:
            sock = _Socket(family, socket.SOCK_STREAM | _NONBLOCK)
        except OSError as exc:
            self.fail(ex, client._connect_error(exc))
            return
        if not _NONBLOCK:
            sock.setblocking(False)
        ex.sock = sock
        self.open += 1
        code = sock.connect_ex(sockaddr)
        if code not in _CONNECTING:
            self.connect_failed(ex, OSError(code, os.strerror(code)))
            return
        try:
            ex.sent = sock.send(self.request)
        except OSError as exc:
            if exc.errno not in _NOT_YET:
                self.connect_failed(ex, exc)
                return
            self.wait(ex, _CONNECT, ex.limit)
            return
        self.sent(ex)

    def connect_failed(self, ex: _Exchange[T], exc: OSError) -> None:
        error = ex.client._connect_error(exc)
        self.close(ex)
        if ex.targets:
            self.connect(ex, time.monotonic())  # the next address of the node, as the client
        else:
            self.fail(ex, error)

    def sent(self, ex: _Exchange[T]) -> None:
        """Some of the request went out with the connection: the rest, or the answer, next."""
        ex.connected = ex.first = time.monotonic()
        state = _SEND if ex.sent < len(self.request) else _READ
        self.wait(ex, state, ex.deadline)

    def wait(self, ex: _Exchange[T], state: int, limit: float) -> None:
        sock = ex.sock
        assert sock is not None
        if not ex.state:
            self.selector.register(sock, _EVENTS[state], ex)
        elif _EVENTS[ex.state] != _EVENTS[state]:
            self.selector.modify(sock, _EVENTS[state], ex)
        ex.state = state
        ex.limit = limit
        heapq.heappush(self.timers, (limit, next(self.ticket), ex))

    def poll(self) -> None:
        timers = self.timers
        if len(timers) > 4 * self.open + 64:
            # entries of exchanges that ended or moved on: dropped, so that the heap (and the
            # exchanges it holds) grows with the connections open, not with the nodes
            timers[:] = [t for t in timers if t[2].sock is not None and t[2].limit == t[0]]
            heapq.heapify(timers)
        while timers and timers[0][2].sock is None:
            heapq.heappop(timers)  # ended meanwhile
        timeout = max(timers[0][0] - time.monotonic(), 0.0) if timers else None
        for key, _ in self.selector.select(timeout):
            ex = key.data
            if ex.sock is not None:
                self.step(ex)
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            limit, _, ex = heapq.heappop(timers)
            if ex.sock is not None and ex.limit == limit:
                self.expired(ex, now)

    def step(self, ex: _Exchange[T]) -> None:
        sock = ex.sock
        assert sock is not None
        client = ex.client
        if ex.state == _CONNECT:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.connect_failed(ex, OSError(code, os.strerror(code)))
                return
            try:
                ex.sent = sock.send(self.request)
            except OSError as exc:
                self.connect_failed(ex, exc)
                return
            self.sent(ex)
            return
        try:
            if ex.state == _SEND:
                ex.sent += sock.send(memoryview(self.request)[ex.sent :])
                if ex.sent == len(self.request):
                    self.wait(ex, _READ, ex.deadline)
                return
            # into one reused buffer (the reader copies what it keeps): no 64 KiB object per read
            data = self.view[: sock.recv_into(self.buffer)]
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(ex, client._failed(exc, self.request, self.function, ex.received))
            return
        try:
            if ex.state == _CLOSE:
                if data:
                    ex.reader.feed(data)  # raises: nothing may follow a complete answer
                self.finish(ex)
                return
            if not ex.received:
                ex.first = time.monotonic()
            if not data:
                self.finish(ex)
                return
            ex.received += len(data)
            if ex.reader.feed(data):
                self.await_close(ex)
        except CallError as exc:
            self.fail(ex, exc)

    def await_close(self, ex: _Exchange[T]) -> None:
        """A complete answer: wait briefly for the server's close (``client._close_wait``)."""
        sock = ex.sock
        assert sock is not None
        try:
            data = self.view[: sock.recv_into(self.buffer, 0, _MSG_DONTWAIT)]
        except BlockingIOError:
            grace = min(time.monotonic() + CLOSE_GRACE, ex.deadline)
            self.wait(ex, _CLOSE, grace)
            return
        except OSError:
            data = self.view[:0]
        if data:
            ex.reader.feed(data)  # raises
        self.finish(ex)

    def expired(self, ex: _Exchange[T], now: float) -> None:
        client = ex.client
        if ex.state == _CONNECT:
            self.close(ex)
            self.connect(ex, now)  # the next address, if time is left; else timed out
        elif ex.state == _CLOSE:
            self.finish(ex)  # a server that keeps the connection open: not an error
        else:
            error = client._failed(TimeoutError(), self.request, self.function, ex.received)
            self.fail(ex, error)

    # -- the end of one exchange ----------------------------------------------------------------
    def close(self, ex: _Exchange[T]) -> None:
        sock = ex.sock
        if sock is not None:
            if ex.state:
                self.selector.unregister(sock)
            sock.close()
            ex.sock = None
            ex.state = 0
            self.open -= 1

    def finish(self, ex: _Exchange[T]) -> None:
        self.close(ex)
        end = time.monotonic()
        timings = (ex.connected - ex.start, ex.first - ex.start, end - ex.start)
        try:
            value = self.result_for(ex.client, ex.reader, timings)
        except CallError as exc:
            self.fail(ex, exc)
            return
        if self.on_done is not None:
            self.on_done(ex.index, value, None, end - ex.start)

    def fail(self, ex: _Exchange[T], error: RPCError) -> None:
        self.close(ex)
        if self.on_done is not None:
            self.on_done(ex.index, None, error, time.monotonic() - ex.start)
