"""The bundled uWSGI-compatible RPC server: asyncio on the outside, uWSGI's rules inside.

How it reads mirrors ``proto/uwsgi.c`` so that the kernel ends up in the same state as with real
uWSGI: every read asks for at most ``4 + buffer_size - received`` bytes (a BufferedProtocol with a
buffer of exactly that size), reading stops once the packet is complete, and a body larger than
``--buffer-size`` is refused after the first read. Bytes uWSGI would have left unread stay in the
kernel, so closing resets the connection exactly when uWSGI's close does (facts 2).

Function calls run in a small pool of daemon threads (``threads``): a ``sleep 30`` does not stall
other clients, as with a uWSGI that has several processes. ``threads=0`` runs them in the event
loop, like a single uWSGI process without threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, cast

from .functions import FunctionTable, Outcome
from .server_listen import Listener, bind, peer_name
from .server_log import Event, format_event
from .server_requests import Plan, plan, run
from .wire import DEFAULT_BUFFER_SIZE, HEADER_SIZE

__all__ = [
    "DEFAULT_THREADS",
    "BackgroundServer",
    "Event",
    "Server",
    "format_event",
    "new_event_loop",
    "serve_in_thread",
]

DEFAULT_THREADS: Final = 8


def new_event_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (and wanted), else asyncio's."""
    if use_uvloop:
        try:
            import uvloop  # optional: not a protocol/ dependency
        except ImportError:
            pass
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


class _Workers:
    """Daemon threads that run function calls; results go back with call_soon_threadsafe.

    Daemon threads, not concurrent.futures: a function stuck in ``sleep`` must not keep the
    process alive after Ctrl-C (ThreadPoolExecutor joins its threads at exit). All threads start
    at once, so a call never waits behind a slow one while a thread is free.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"rpccli-fn-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, fn: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        self._jobs.put((fn, done))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, done = job
            try:
                result, error = fn(), None
            except BaseException as exc:  # reported to the connection, never kills the thread
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped
                self._loop.call_soon_threadsafe(done, result, error)

    def stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


class _Connection(asyncio.BufferedProtocol):
    """One client connection: read one packet the way uWSGI does, answer it, close."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._buf = bytearray(HEADER_SIZE + server.buffer_size)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._start = 0.0
        self._finished = False
        self.peer = "?"

    # -- reading -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)
        server = self._server
        if server.on_event is not None:  # a getpeername() per call only when it is logged
            self.peer = peer_name(transport)
        loop = server.loop
        self._last = loop.time()
        self._start = time.monotonic()
        self._timer = loop.call_at(self._last + server.socket_timeout, self._idle_check)
        server.connections.add(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        # never more than uWSGI's read(fd, buf, 4 + buffer_size - pos) would take
        return self._view[self._pos :]

    def buffer_updated(self, nbytes: int) -> None:
        self._pos += nbytes
        self._last = self._server.loop.time()
        pos = self._pos
        if pos < HEADER_SIZE:
            return
        buf = self._buf
        size = buf[1] | (buf[2] << 8)
        if pos - HEADER_SIZE >= size:
            self._stop_reading()
            body = bytes(buf[HEADER_SIZE : HEADER_SIZE + size])
            self._dispatch(buf[0], buf[3], body)
        elif size > self._server.buffer_size:
            self._stop_reading()
            limit = self._server.buffer_size
            # uWSGI logs "invalid request block size" and closes; the unread rest of the body
            # makes the kernel reset the connection (facts 2)
            self._finish(
                Event(
                    self.peer,
                    "rejected",
                    buf[0],
                    buf[3],
                    reason=f"request body of {size} bytes is over --buffer-size {limit}",
                    reset=True,
                )
            )

    def eof_received(self) -> bool:
        # the client shut its side before a whole packet arrived: uWSGI's read() gets 0, closes
        if not self._finished:
            got = self._pos
            kind = "idle" if not got else "incomplete"
            self._finish(Event(self.peer, kind, reason=f"client closed after {got} bytes"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._server.connections.discard(self)
        if not self._finished:
            self._finished = True
            self._server.report(
                Event(self.peer, "incomplete", reason=f"connection lost after {self._pos} bytes")
            )

    def _stop_reading(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert self._transport is not None
        self._transport.pause_reading()

    def _idle_check(self) -> None:
        self._timer = None
        if self._finished:
            return
        loop = self._server.loop
        timeout = self._server.socket_timeout
        if loop.time() - self._last < timeout:
            self._timer = loop.call_at(self._last + timeout, self._idle_check)
            return
        got = self._pos
        kind = "idle" if not got else "timeout"
        self._finish(
            Event(
                self.peer,
                kind,
                reason=f"no complete request within --socket-timeout {timeout:g}s ({got} bytes)",
            )
        )

    # -- answering -----------------------------------------------------------------------------

    def _dispatch(self, modifier1: int, modifier2: int, body: bytes) -> None:
        server = self._server
        step = plan(modifier1, modifier2, body, warning=server.table.warning)
        if step.function is None:
            self._send(step, step.immediate, None)
            return
        table = server.table
        if server.workers is None:
            data, outcome = run(table, step)
            self._send(step, data, outcome)
            return

        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                outcome = Outcome(None, f"server error: {type(error).__name__}: {error}")
                self._send(step, b"", outcome)
            else:
                self._send(step, result[0], result[1])

        server.workers.submit(lambda: run(table, step), done)

    def _send(self, step: Plan, data: bytes, outcome: Outcome | None) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if data:
            transport.write(data)
        self._finished = True
        transport.close()
        if self._server.on_event is None:  # the hot path builds no log record at all
            return
        self._server.report(
            Event(
                self.peer,
                step.kind,
                step.modifier1,
                step.modifier2,
                step.function,
                step.args,
                sent=len(data),
                reason=outcome.reason if outcome is not None else step.reason,
                traceback=outcome.traceback if outcome is not None else None,
                elapsed=time.monotonic() - self._start,
            )
        )

    def _finish(self, event: Event) -> None:
        """End a connection that never got an answer (rejected, timed out, cut short)."""
        self._finished = True
        transport = self._transport
        if transport is not None:
            transport.close()
        elapsed = time.monotonic() - self._start
        self._server.report(dataclasses.replace(event, elapsed=elapsed))

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class Server:
    """The server inside a running event loop: ``await start()``, then ``await close()``."""

    def __init__(
        self,
        table: FunctionTable,
        binds: Iterable[str] = ("127.0.0.1:3031",),
        *,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        socket_timeout: float = 4.0,
        threads: int = DEFAULT_THREADS,
        backlog: int = 1024,
        on_event: Callable[[Event], None] | None = None,
        listeners: Sequence[Listener] = (),
    ) -> None:
        """``listeners``: sockets bound by someone else (a parent process); then ``binds`` is
        ignored and closing leaves the sockets' files to their owner."""
        if not 1 <= buffer_size <= 65535:
            raise ValueError("buffer_size must be 1..65535 (the u16 datasize limits a body)")
        self.table = table
        self.binds = list(binds)
        self.buffer_size = buffer_size
        self.socket_timeout = socket_timeout
        self.threads = threads
        self.backlog = backlog
        self.on_event = on_event
        self.connections: set[_Connection] = set()
        self.listeners: list[Listener] = list(listeners)
        self._owns_listeners = not listeners
        self.workers: _Workers | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        table.buffer_size = buffer_size
        table.socket_timeout = socket_timeout

    @property
    def nodes(self) -> list[str]:
        return [listener.node for listener in self.listeners]

    def report(self, event: Event) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # a broken log sink must not break serving
                self.on_event(event)

    async def start(self) -> list[str]:
        self.loop = asyncio.get_running_loop()
        if self.threads > 0:
            self.workers = _Workers(self.loop, self.threads)
        try:
            if self._owns_listeners:
                for text in self.binds:
                    self.listeners.append(bind(text, backlog=self.backlog))
            for listener in self.listeners:
                factory = lambda: _Connection(self)  # noqa: E731
                if listener.unix:
                    srv = await self.loop.create_unix_server(factory, sock=listener.sock)
                else:
                    srv = await self.loop.create_server(factory, sock=listener.sock)
                self._servers.append(srv)
        except BaseException:
            await self.close()
            raise
        self.table.opt.setdefault("socket", ",".join(self.nodes).encode())
        self.table.opt.setdefault("buffer-size", str(self.buffer_size).encode())
        self.table.opt.setdefault("socket-timeout", str(int(self.socket_timeout)).encode())
        return self.nodes

    async def close(self) -> None:
        for srv in self._servers:
            srv.close()
        for conn in list(self.connections):
            conn.abort()
        for srv in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(srv.wait_closed(), 2)
        self._servers.clear()
        if self._owns_listeners:
            for listener in self.listeners:
                listener.close()
        if self.workers is not None:
            self.workers.stop()


class BackgroundServer:
    """A server on its own event loop in a daemon thread (tests, the shell's no-node mode)."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop, thread: threading.Thread):
        self.server = server
        self._loop = loop
        self._thread = thread
        self._closed = False

    @property
    def nodes(self) -> list[str]:
        return self.server.nodes

    @property
    def node(self) -> str:
        return self.server.nodes[0]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        future = asyncio.run_coroutine_threadsafe(self.server.close(), self._loop)
        try:
            future.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BackgroundServer {', '.join(self.nodes)}>"


def serve_in_thread(
    table: FunctionTable,
    binds: Sequence[str] = ("127.0.0.1:0",),
    *,
    use_uvloop: bool = True,
    **options: Any,
) -> BackgroundServer:
    """Start a server in a background thread; returns once it listens (or raises why not).

    ``options`` are :class:`Server`'s: buffer_size, socket_timeout, threads, backlog, on_event.
    """
    server = Server(table, binds, **options)
    loop = new_event_loop(use_uvloop)
    ready = threading.Event()
    failure: list[BaseException] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="rpccli-serve", daemon=True)
    thread.start()
    ready.wait()
    if failure:
        thread.join(5)
        raise failure[0]
    return BackgroundServer(server, loop, thread)
