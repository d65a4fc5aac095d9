"""Several server processes sharing the listening sockets, as uWSGI's ``--processes N``.

The parent (like uWSGI's master) binds every socket and loads the function files once, then
forks N workers that each run their own event loop and thread pool and accept from the same
sockets. The parent respawns a worker that dies, and on SIGINT/SIGTERM stops the workers (each
gives its running calls the server's ``grace``; another signal to the parent is passed on and
stops them at once) and removes the unix socket files. POSIX only (``os.fork``).

As in uWSGI, a function registered at runtime inside one worker exists only in that worker, while
the ping warning, the caches and the user lock are shared (:mod:`.shared`), ``uwsgi.numproc`` is
N and ``uwsgi.worker_id()`` 1..N. Signals travel as uWSGI's do: a worker writes the number to the
parent's pipe, the parent routes it by the handler's target to one pipe all workers read (any
worker) or to each target worker's own pipe (:mod:`.signals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from . import ServerOptions, new_event_loop
from .functions import FunctionTable
from .listen import Listener, bind, spread
from .signals import route_targets

__all__ = ["serve_processes"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def serve_processes(
    table: FunctionTable,
    binds: Sequence[str],
    *,
    processes: int,
    use_uvloop: bool = True,
    on_ready: Callable[[list[str]], None] | None = None,
    on_respawn: Callable[[int, int], None] | None = None,
    options: ServerOptions | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM with ``processes`` forked workers; blocks.

    ``on_ready(nodes)`` runs in the parent once every socket listens; ``on_respawn(pid,
    status)`` when a worker died and is replaced. Each worker serves with ``options``.
    """
    options = options or ServerOptions()
    listeners: list[Listener] = []
    groups: list[list[Listener]] = []  # per bind, the listener of each worker
    try:
        for text in binds:
            first = bind(text, backlog=options.backlog)
            listeners.append(first)
            group = spread(first, processes, backlog=options.backlog)
            listeners[-1:] = list({id(each): each for each in group}.values())
            groups.append(group)
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    per_worker = [[group[number] for group in groups] for number in range(processes)]
    table.numproc = processes
    table.shared  # noqa: B018 - made before forking, so every worker shares it
    pipes = _Pipes(table, processes)
    saved = {sig: signal.signal(sig, _raise_stop) for sig in _STOP_SIGNALS}
    children: dict[int, int] = {}
    try:
        if on_ready is not None:
            on_ready([group[0].node for group in groups])
        for number in range(processes):
            children[
                _spawn(table, listeners, per_worker[number], use_uvloop, options, pipes, number)
            ] = number
        while True:
            pid, status = os.wait()
            number = children.pop(pid, -1)
            if number < 0:
                continue
            if on_respawn is not None:
                on_respawn(pid, status)
            time.sleep(0.2)  # a worker that dies at once must not become a fork storm
            children[
                _spawn(table, listeners, per_worker[number], use_uvloop, options, pipes, number)
            ] = number
    except _Stop:
        pass
    finally:

        def stop_workers(signum: int = 0, frame: FrameType | None = None) -> None:
            # the first SIGTERM stops a worker gracefully, a second one at once; a pid is
            # signalled only while it is unreaped, so it cannot belong to another process
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

        for sig in _STOP_SIGNALS:
            signal.signal(sig, stop_workers)  # a second Ctrl-C: pass it on, never cut cleanup
        for listener in listeners:
            # before the workers hear of the stop: by the time one logs "stopping", the socket
            # files are gone, and no new connection can arrive while they finish their calls
            listener.close()
        stop_workers()
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            del children[pid]
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        pipes.close()


class _Pipes:
    """uWSGI's signal pipes: workers -> parent, parent -> any worker, parent -> worker N."""

    def __init__(self, table: FunctionTable, processes: int) -> None:
        self.table = table
        self.processes = processes
        self.to_master = os.pipe()
        self.to_any = os.pipe()
        self.to_worker = [os.pipe() for _ in range(processes)]
        for fd in (self.to_master[0], self.to_any[0], *(r for r, _ in self.to_worker)):
            os.set_blocking(fd, False)
        table.signals.router = self.route
        thread = threading.Thread(target=self._route_loop, name="rpccli-signals", daemon=True)
        thread.start()

    def route(self, number: int) -> None:
        """In the parent: deliver a signal to the workers its handler's target names."""
        where = route_targets(self.table.signals.target(number), self.processes)
        if isinstance(where, str):
            self.table.log(where.replace("signal to", f"signal {number} to"))
            return
        for wid in where:
            fd = self.to_any[1] if wid == 0 else self.to_worker[wid - 1][1]
            with contextlib.suppress(OSError):
                os.write(fd, bytes([number]))

    def _route_loop(self) -> None:
        fd = self.to_master[0]
        while True:
            try:
                select.select([fd], [], [])
                data = os.read(fd, 256)
            except BlockingIOError:
                continue
            except OSError:
                return  # closed: the server stopped
            for number in data:
                self.route(number)

    def worker(self, number: int) -> None:
        """In worker ``number`` (0-based): raise signals through the parent, run those routed
        here in a thread of their own."""
        self.table.signals.router = None
        self.table.signals.master_fd = self.to_master[1]
        mine = [self.to_any[0], self.to_worker[number][0]]

        def receive() -> None:
            while True:
                ready, _, _ = select.select(mine, [], [])
                for fd in ready:
                    try:
                        data = os.read(fd, 256)
                    except BlockingIOError:
                        continue  # another worker took it
                    for signum in data:
                        self.table.signals.run_soon(signum)

        threading.Thread(target=receive, name="rpccli-signals", daemon=True).start()

    def close(self) -> None:
        for r, w in (self.to_master, self.to_any, *self.to_worker):
            for fd in (r, w):
                with contextlib.suppress(OSError):
                    os.close(fd)


def _spawn(
    table: FunctionTable,
    listeners: list[Listener],
    mine: list[Listener],
    use_uvloop: bool,
    options: ServerOptions,
    pipes: _Pipes,
    number: int,
) -> int:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # or the child would write the parent's buffered text again
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        # Ctrl-C at a terminal reaches every process of the group: the parent passes it on as
        # SIGTERM, so a worker must not count it as a second signal too
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for listener in listeners:
            if all(listener is not own for own in mine):
                listener.sock.close()  # another worker's (the parent keeps it open)
        pipes.worker(number)
        table.become_worker(number + 1, pipes.processes)
        code = _worker(table, mine, use_uvloop, options)
    except BaseException:  # pragma: no cover - reported by the parent as a respawn
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def _worker(
    table: FunctionTable, listeners: list[Listener], use_uvloop: bool, options: ServerOptions
) -> int:
    loop = new_event_loop(use_uvloop)
    server = options.server(table, listeners=listeners)

    async def main() -> None:
        stop = asyncio.Event()

        def on_term() -> None:
            if stop.is_set():
                server.hurry()  # a second SIGTERM: drop the running calls now
            stop.set()

        loop.add_signal_handler(signal.SIGTERM, on_term)
        await server.start()
        await stop.wait()
        await server.close()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return 0
