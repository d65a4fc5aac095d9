"""When the event loop is held up by a call it runs itself, a rescue loop serves meanwhile.

The loop runs a function itself only once it has shown itself quick (:mod:`.pace`), but Python
cannot interrupt a function that turns slow or gets stuck. A :class:`Watchdog` thread looks every
``PERIOD`` seconds at the call the loop runs (and sleeps while the loop runs none: an idle server
does not wake it); once one has run longer than ``STUCK``, it sends
that function back to the worker threads and has a :class:`Rescue` -- a second event loop in a
thread of its own, idle until then -- watch the listening sockets: new clients
are served there (every call in a worker thread) while the loop is held up. When the call ends,
the rescue stops accepting and finishes what it holds; it waits, idle, for the next time.

What the rescue cannot take: connections the held-up loop had already accepted and not answered
(a request still arriving, an answer still being written) wait for the call to end, and so do
the server's signals (Ctrl-C is handled once the call returns) (docs/serve.md#concurrency).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from .accept import accept_ready
from .answer import Answer
from .functions import FunctionTable
from .host import Host, Workers
from .listen import Listener
from .log import Event
from .pace import Pace
from .write import Room

__all__ = ["IDLE_AFTER", "PERIOD", "STUCK", "Rescue", "Watchdog"]

#: seconds a call the loop runs itself may take before the rescue takes the listening sockets
STUCK: Final = 0.02
#: seconds between two looks of the watchdog
PERIOD: Final = 0.01
#: seconds without a call in the loop at any look before the watchdog sleeps until the next one
IDLE_AFTER: Final = 1.0


class _RescueHost:
    """What the rescue's connections see: the server, with the rescue's own loop, read buffer
    and connections, and every call going to the worker threads."""

    pace: Pace | None = None
    inline: tuple[float, bytes] | None = None
    watchdog: Watchdog | None = None

    def __init__(self, server: Host, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self.loop = loop
        self.table: FunctionTable = server.table
        self.buffer_size: int = server.buffer_size
        self.socket_timeout: float = server.socket_timeout
        self.read_limit: int = server.read_limit
        self.scratch = memoryview(bytearray(server.read_limit))
        self.on_event = server.on_event
        self.connections: set[Answer] = set()
        self.calls: set[Answer] = server.calls
        self.calls_lock: threading.Lock = server.calls_lock
        self.room: Room = server.room
        self.workers: Workers | None = server.workers

    @property
    def held(self) -> int:
        return self._server.held

    def report(self, event: Event) -> None:
        self._server.report(event)

    def take_call(self, conn: Answer, log: Callable[[], None] | None = None) -> bool:
        return self._server.take_call(conn, log)


class Rescue:
    """A second event loop, in a daemon thread, that accepts on the server's listening sockets
    while :meth:`take` is in force."""

    def __init__(
        self, server: Host, listeners: Sequence[Listener], loop: asyncio.AbstractEventLoop
    ):
        self.loop = loop
        self.host = _RescueHost(server, loop)
        self._listeners = list(listeners)
        self._watched: list[Listener] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="rpccli-rescue", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def take(self) -> None:
        """From any thread: accept on the listening sockets."""
        self.loop.call_soon_threadsafe(self._take)

    def give_back(self) -> None:
        """From any thread: stop accepting (what was accepted is still served)."""
        self.loop.call_soon_threadsafe(self._give_back)

    def _take(self) -> None:
        if self._closed:
            return
        for listener in self._listeners:
            if listener not in self._watched:
                self._watched.append(listener)
                self.loop.add_reader(listener.sock.fileno(), self._accept, listener)

    def _give_back(self) -> None:
        for listener in self._watched:
            self.loop.remove_reader(listener.sock.fileno())
        self._watched.clear()

    def _accept(self, listener: Listener) -> None:
        reason = accept_ready(self.host, listener)
        if reason is not None:  # out of file descriptors: the server's own loop says so
            self._watched.remove(listener)
            self.loop.remove_reader(listener.sock.fileno())

    def writing(self) -> int:
        """Answers the rescue is still writing (from any thread)."""
        return sum(1 for conn in list(self.host.connections) if conn.writing)

    def _stop(self) -> None:
        self._closed = True
        self._give_back()
        for conn in list(self.host.connections):
            if not conn.writing:
                conn.abort()

    def _drop(self, reason: str) -> None:
        for conn in list(self.host.connections):
            conn.drop(reason)
        self.loop.stop()

    def _wait(self, fn: Callable[[], None]) -> None:
        if not self._thread.is_alive():
            return
        done = threading.Event()

        def step() -> None:
            try:
                fn()
            finally:
                done.set()

        with contextlib.suppress(RuntimeError):  # the loop is closed already
            self.loop.call_soon_threadsafe(step)
            done.wait(5)

    def stop(self) -> None:
        """The server stops: no more accepting, connections without a call dropped; waits."""
        self._wait(self._stop)

    def close(self, reason: str) -> None:
        """Drop what is still being written (logged with ``reason``), end the thread; waits."""
        self._wait(lambda: self._drop(reason))
        self._thread.join(5)


class Watchdog:
    """A daemon thread that has the rescue accept while the loop is held up by one of its calls."""

    def __init__(
        self,
        server: Host,
        listeners: Sequence[Listener],
        new_loop: Callable[[], asyncio.AbstractEventLoop],
    ) -> None:
        self._server = server
        # made now, not when first needed: ready at once, and the server's threads and file
        # descriptors are the same from its start to its end
        self.rescue = Rescue(server, listeners, new_loop())
        self._stop = threading.Event()
        self._wake = threading.Event()
        #: asleep until the loop's next call: the server calls :meth:`wake` when it starts one
        self.idle = False
        self._thread = threading.Thread(target=self._run, name="rpccli-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        server = self._server
        rescued: tuple[float, bytes] | None = None
        seen: tuple[float, bytes] | None = None
        since = time.monotonic()
        while not self._stop.is_set():
            call = server.inline
            now = time.monotonic()
            if rescued is not None and call is not rescued:
                # the call that held the loop up has ended: the loop accepts again by itself
                rescued = None
                self.rescue.give_back()
            if call is not None and rescued is None and now - call[0] > STUCK:
                rescued = call
                if server.pace is not None:
                    server.pace.demote(call[1])
                self.rescue.take()
            if call is not seen:
                seen, since = call, now
            elif call is None and now - since > IDLE_AFTER:
                # no call in the loop at any look for a while: sleep until the next one starts
                # (the server wakes us when it sees ``idle``; announced before the last look)
                self._wake.clear()
                self.idle = True
                if server.inline is None:
                    self._wake.wait()
                self.idle = False
                since = time.monotonic()
                continue
            self._stop.wait(PERIOD)

    def wake(self) -> None:
        """The loop starts a call while the watchdog sleeps (any thread)."""
        self._wake.set()

    def writing(self) -> int:
        return self.rescue.writing()

    def stop(self) -> None:
        """Stop looking, and stop the rescue's accepting (before the sockets close)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(5)
        self.rescue.stop()

    def close(self, reason: str) -> None:
        self.rescue.close(reason)
