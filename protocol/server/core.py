"""The server core: :class:`Server` (listening sockets watched by the event loop, the worker
threads that run calls, the stop with its grace period), its typed :class:`ServerOptions`, and
:func:`new_event_loop`. The package's ``__init__`` says how the modules fit together.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..wire import DEFAULT_BUFFER_SIZE, HEADER_SIZE
from .accept import accept_ready
from .answer import Answer
from .functions import FunctionTable
from .listen import BindError, Listener, bind
from .log import Event
from .pace import Pace
from .rescue import Watchdog
from .write import DEFAULT_MAX_HELD, Room

__all__ = ["DEFAULT_THREADS", "Server", "ServerOptions", "new_event_loop"]

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
    """Daemon threads that run function calls and write their answers (server_conn).

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

    def submit(self, fn: Callable[[Any], None], arg: Any) -> None:
        self._jobs.put((fn, arg))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, arg = job
            with contextlib.suppress(BaseException):  # a job reports its own failures
                fn(arg)

    def stop(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """How a :class:`Server` serves, as one typed value (``rpccli serve`` builds it from its
    options and hands it to every worker process)."""

    buffer_size: int = DEFAULT_BUFFER_SIZE
    socket_timeout: float = 4.0
    threads: int = DEFAULT_THREADS
    backlog: int = 1024
    on_event: Callable[[Event], None] | None = None
    grace: float = 0.0
    max_held: int = DEFAULT_MAX_HELD
    #: TLS for ``tls:`` binds (docs/tls.md): certificate, key, and the CA client certificates
    #: must be signed by (then one is required); files, so that worker processes load them
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    #: functions shown to be quick run in the event loop (protocol/server/pace.py)
    pace: bool = True

    def server(
        self, table: FunctionTable, binds: Iterable[str] = (), listeners: Sequence[Listener] = ()
    ) -> Server:
        return Server(
            table,
            binds,
            buffer_size=self.buffer_size,
            socket_timeout=self.socket_timeout,
            threads=self.threads,
            backlog=self.backlog,
            on_event=self.on_event,
            listeners=listeners,
            grace=self.grace,
            max_held=self.max_held,
            tls=(self.tls_cert, self.tls_key, self.tls_client_ca) if self.tls_cert else None,
            pace=self.pace,
        )


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
        grace: float = 0.0,
        max_held: int = DEFAULT_MAX_HELD,
        tls: tuple[str, str | None, str | None] | None = None,
        pace: bool = True,
    ) -> None:
        """``tls``: certificate, key and client CA files for ``tls:`` binds. ``listeners``:
        sockets bound by someone else (a parent process); then ``binds`` is
        ignored and closing leaves the sockets' files to their owner. ``grace``: seconds that
        calls still running when :meth:`close` begins get to finish. ``max_held``: bytes of
        answers kept for clients that have not read them yet (one answer alone may be larger).
        ``pace``: functions that have shown themselves quick run in the event loop, not in a
        worker thread (protocol/server/pace.py); False: every call goes to a thread."""
        if not 1 <= buffer_size <= 65535:
            raise ValueError("buffer_size must be 1..65535 (the u16 datasize limits a body)")
        self.table = table
        self.tls = tls
        self._tls_servers: list[Any] = []  # tlsfront.TLSFront (imported only with TLS)
        self.binds = list(binds)
        self.buffer_size = buffer_size
        self.socket_timeout = socket_timeout
        self.threads = threads
        self.backlog = backlog
        self.on_event = on_event
        self.connections: set[Answer] = set()
        #: connections whose function runs in a worker thread (added in the loop, removed by
        #: the worker or by close(), whichever comes first: the one that removes it logs it)
        self.calls: set[Answer] = set()
        self._logging = 0  # calls taken by their worker whose log line is still being written
        self.calls_lock = threading.Lock()
        #: answer bytes the loop holds, or a worker holds for the loop; half of the workers
        #: may wait for room, each at most as long as a client may stay silent
        self.room = Room(self.calls_lock, max_held, waiters=threads // 2, wait=socket_timeout)
        self.grace = grace
        self._hurry = threading.Event()
        self._closed = False
        self.listeners: list[Listener] = list(listeners)
        self._owns_listeners = not listeners
        self.workers: _Workers | None = None
        #: which functions the loop runs itself (protocol/server/pace.py); None: all or none
        self.pace: Pace | None = Pace(table) if threads > 0 and pace else None
        #: when the call the loop runs itself now started, and its function (None: none)
        self.inline: tuple[float, bytes] | None = None
        #: uWSGI reads at most 4 + buffer_size bytes of a request; the loop reads into this
        self.read_limit = HEADER_SIZE + buffer_size
        #: TCP_DEFER_ACCEPT seconds: uWSGI's whole-second --socket-timeout, at least 1
        self.defer = max(1, int(socket_timeout))
        self.scratch = memoryview(bytearray(self.read_limit))
        self._watched: list[Listener] = []
        #: looks at the calls the loop runs itself (protocol/server/rescue.py)
        self.watchdog: Watchdog | None = None
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
        if self.table.worker_id == 0:  # one process serving: it is worker 1 of 1
            self.table.become_worker(1, self.table.numproc)
        if self.threads > 0:
            self.workers = _Workers(self.loop, self.threads)
        try:
            if self._owns_listeners:
                for text in self.binds:
                    self.listeners.append(bind(text, backlog=self.backlog))
            for listener in self.listeners:
                if listener.address.tls:
                    await self._watch_tls(listener)
                else:
                    self._watch(listener)
            plain = [listener for listener in self.listeners if not listener.address.tls]
            if self.pace is not None and plain:
                uvloop = type(self.loop).__module__.startswith("uvloop")
                self.watchdog = Watchdog(self, plain, lambda: new_event_loop(uvloop))
        except BaseException:
            await self.close()
            raise
        self.table.opt.setdefault("socket", ",".join(self.nodes).encode())
        self.table.opt.setdefault("buffer-size", str(self.buffer_size).encode())
        self.table.opt.setdefault("socket-timeout", str(int(self.socket_timeout)).encode())
        return self.nodes

    async def _watch_tls(self, listener: Listener) -> None:
        if self.tls is None:
            raise BindError(f"cannot listen on {listener.node}: TLS needs a certificate and key")
        from ..tls import server_context
        from .tlsfront import serve_tls

        context = server_context(*self.tls)
        self.pace = None  # TLS relays live in the loop: a call held there would hold them up
        self._tls_servers.append(await serve_tls(self, listener, context))

    def _watch(self, listener: Listener) -> None:
        if not listener.unix and hasattr(socket, "TCP_DEFER_ACCEPT"):
            # as uWSGI does: the kernel hands over a connection only once its first bytes are
            # there (or the client stayed silent that long) (docs/protocol.md#requests)
            with contextlib.suppress(OSError):
                listener.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, self.defer)
        self.loop.add_reader(listener.sock.fileno(), self._accept, listener)
        self._watched.append(listener)

    def _accept(self, listener: Listener) -> None:
        reason = accept_ready(self, listener)
        if reason is not None:  # out of file descriptors: pause instead of spinning on it
            self._watched.remove(listener)
            self.loop.remove_reader(listener.sock.fileno())
            self.loop.call_later(0.5, self._watch, listener)
            self.report(Event(listener.node, "rejected", reason=reason))

    def take_call(self, conn: Answer, log: Callable[[], None] | None = None) -> bool:
        """Claim a finished call and ``log`` it; False when close() dropped (and logged) it.
        The call counts as running until its line is logged, so a stopping server waits for
        that line (else a worker process could exit with a finished call's line unwritten)."""
        with self.calls_lock:
            if conn not in self.calls:
                return False
            self.calls.discard(conn)
            self._logging += 1
        try:
            if log is not None:
                log()
        finally:
            with self.calls_lock:
                self._logging -= 1
        return True

    def running(self) -> int:
        """Calls not finished yet: functions running in workers and answers still being written."""
        with self.calls_lock:
            busy = len(self.calls) + self._logging
        rescued = self.watchdog.writing() if self.watchdog is not None else 0
        return busy + rescued + sum(1 for conn in self.connections if conn.writing)

    @property
    def held(self) -> int:
        """Bytes of answers held for clients that have not taken them yet."""
        return self.room.held

    def hurry(self) -> None:
        """Stop waiting for running calls (a second Ctrl-C); safe from any thread."""
        self._hurry.set()

    async def close(self) -> None:
        """Stop accepting at once, give running calls up to ``grace`` seconds (:meth:`hurry`
        cuts it short), then drop what is still running, one log record per dropped call."""
        if self._closed:
            return
        self._closed = True
        for listener in self._watched:
            self.loop.remove_reader(listener.sock.fileno())
        self._watched.clear()
        for tls_server in self._tls_servers:
            tls_server.close()
        if self.watchdog is not None:
            self.watchdog.stop()  # the rescue loop stops accepting before the sockets close
        for listener in self.listeners:
            if self._owns_listeners:
                listener.close()
            else:  # a worker process: the parent owns the socket files
                listener.sock.close()
        for conn in list(self.connections):
            if not conn.writing:
                conn.abort()  # a request still arriving (or a silent probe): not a call yet
        running = self.running()
        if running and self.grace > 0 and not self._hurry.is_set():
            calls = f"{running} call{'s' if running > 1 else ''}"
            reason = f"{calls} still running; waiting up to {self.grace:g}s"
            self.report(Event(", ".join(self.nodes), "stopping", reason=reason))
            deadline = self.loop.time() + self.grace
            while self.running() and not self._hurry.is_set() and self.loop.time() < deadline:
                await asyncio.sleep(0.02)
        reason = "still running when the server stopped"
        if self.grace > 0:
            reason += " (the wait was cut short)" if self._hurry.is_set() else f" ({self.grace:g}s)"
        with self.calls_lock:
            self.room.close()  # a worker waiting for room gives up
            dropped = list(self.calls)
            self.calls.clear()
            for conn in dropped:
                conn.wake()
        for conn in dropped + list(self.connections):
            conn.drop(reason)
        if self.watchdog is not None:
            self.watchdog.close(reason)
        if self.workers is not None:
            self.workers.stop()
