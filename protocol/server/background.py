"""A server on its own event loop in a daemon thread: :func:`serve_in_thread` and the
:class:`BackgroundServer` it returns (tests, the shell without a node, ``--local``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from .core import Server, new_event_loop
from .functions import FunctionTable

__all__ = ["BackgroundServer", "serve_in_thread"]


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

    ``options`` are :class:`Server`'s: buffer_size, socket_timeout, threads, backlog, on_event,
    grace, max_held.
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
