"""Several server processes sharing the listening sockets, as uWSGI's ``--processes N``.

The parent (like uWSGI's master) binds every socket and loads the function files once, then
forks N workers that each run their own event loop and thread pool and accept from the same
sockets. The parent respawns a worker that dies, and on SIGINT/SIGTERM stops the workers (each
gives its running calls the server's ``grace``; another signal to the parent is passed on and
stops them at once) and removes the unix socket files. POSIX only (``os.fork``).

As in uWSGI, a function registered or a warning set at runtime inside one worker exists only in
that worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType

from . import ServerOptions, new_event_loop
from .functions import FunctionTable
from .listen import Listener, bind

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
    try:
        for text in binds:
            listeners.append(bind(text, backlog=options.backlog))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    saved = {sig: signal.signal(sig, _raise_stop) for sig in _STOP_SIGNALS}
    children: dict[int, int] = {}
    try:
        if on_ready is not None:
            on_ready([listener.node for listener in listeners])
        for number in range(processes):
            children[_spawn(table, listeners, use_uvloop, options)] = number
        while True:
            pid, status = os.wait()
            number = children.pop(pid, -1)
            if number < 0:
                continue
            if on_respawn is not None:
                on_respawn(pid, status)
            time.sleep(0.2)  # a worker that dies at once must not become a fork storm
            children[_spawn(table, listeners, use_uvloop, options)] = number
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


def _spawn(
    table: FunctionTable, listeners: list[Listener], use_uvloop: bool, options: ServerOptions
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
        code = _worker(table, listeners, use_uvloop, options)
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
