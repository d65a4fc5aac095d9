"""Test an application that calls uWSGI RPC: the bundled server in-process (docs/testing.md).

:class:`RPCServer` starts the bundled uWSGI-compatible server on an ephemeral loopback port, with
the functions of function files and/or inline ones, and records every call it serves. A test
changes what a function does on the fly (:meth:`RPCServer.on`) and checks what was called with
which arguments (``assert_called_once_with`` and friends, as ``unittest.mock`` names them).

>>> from protocol import Client
>>> from protocol.testing import RPCServer
>>> with RPCServer(functions={"hello": lambda name: b"Hello, " + name}) as server:
...     Client(server.node).call("hello", "world")
...     server.assert_called_once_with("hello", "world")
b'Hello, world'

While a server runs, ``import uwsgi`` finds the server's in-memory stand-in (what function files
and code made for uWSGI use: ``uwsgi.rpc``, ``uwsgi.call``, ...); once the last one stops, the
stand-in is gone again, so the outcome of ``try: import uwsgi`` does not depend on test order.
The pytest plugin (:mod:`protocol.pytest_plugin`) offers an ``rpc_server`` fixture built on this.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .client import Client
from .server import DEFAULT_THREADS, BackgroundServer, serve_in_thread
from .server.functions import FunctionTable, Outcome
from .server.shim import _fallback, install_shim, uninstall_shim
from .wire import DEFAULT_BUFFER_SIZE, to_bytes

__all__ = ["Call", "Function", "RPCServer"]

_LIVE: list[FunctionTable] = []  # the tables of the servers running now, oldest first
_LIVE_LOCK = threading.Lock()
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Call:
    """One call the server served: the function, its arguments as received, and what came of it
    (``result`` the bytes sent back, or None and ``reason``: the client got a NoResult)."""

    function: str
    args: tuple[bytes, ...]
    result: bytes | None
    reason: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(repr(a) for a in (self.function, *self.args))
        return f"Call({shown})"


class _Table(FunctionTable):
    """A FunctionTable that logs every call it runs."""

    def __init__(self, calls: list[Call], lock: threading.Lock, **options: Any) -> None:
        super().__init__(**options)
        self._calls = calls
        self._calls_lock = lock

    def invoke(self, name: bytes, args: Sequence[bytes]) -> Outcome:
        outcome = super().invoke(name, args)
        function = bytes(name).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        call = Call(function, tuple(bytes(a) for a in args), outcome.result, outcome.reason)
        with self._calls_lock:
            self._calls.append(call)
        if outcome.traceback:
            self.log(outcome.traceback.rstrip("\n"))
        return outcome


class Function:
    """What one function does from now on; each method returns the Function, so they chain:
    ``server.on("hello").sleeps(0.5).returns(b"late")``."""

    def __init__(self, server: RPCServer, name: str, original: Callable[..., object] | None):
        self.name = name
        self._server = server
        self._original = original
        self._delay = 0.0
        self._value: object = _UNSET
        self._error: BaseException | type[BaseException] | None = None
        self._fn: Callable[..., object] | None = None

    def returns(self, value: object) -> Function:
        """Return ``value``. Only non-empty bytes reach the client, as in uWSGI: a str, None or
        b"" is a NoResult there (docs/protocol.md#failures)."""
        self._value, self._error, self._fn = value, None, None
        return self

    def returns_nothing(self) -> Function:
        """Return None: the client gets a NoResult (the 0-byte close)."""
        return self.returns(None)

    def raises(self, error: BaseException | type[BaseException]) -> Function:
        """Raise ``error``: the client gets a NoResult; the traceback goes to ``RPCServer.log``."""
        self._value, self._error, self._fn = _UNSET, error, None
        return self

    def calls(self, fn: Callable[..., object]) -> Function:
        """Run ``fn(*args)`` (each argument as bytes) instead."""
        self._value, self._error, self._fn = _UNSET, None, fn
        return self

    def sleeps(self, seconds: float) -> Function:
        """Wait ``seconds`` before doing what it does (to test a client's timeout)."""
        self._delay = seconds
        return self

    def __call__(self, *args: bytes) -> object:
        if self._delay:
            time.sleep(self._delay)
        if self._error is not None:
            raise self._error
        if self._value is not _UNSET:
            return self._value
        fn = self._fn or self._original
        return None if fn is None else fn(*args)


class RPCServer:
    """The bundled server on an ephemeral port, as a context manager (or :meth:`start` and
    :meth:`stop`), serving the functions of ``files`` and ``functions`` (name to callable).

    ``bind`` may also be a unix socket path or ``@name``. ``threads``, ``buffer_size``,
    ``socket_timeout`` and ``rpc_max`` are those of ``rpccli serve``.
    """

    def __init__(
        self,
        *files: str | os.PathLike[str],
        functions: Mapping[str, Callable[..., object]] | None = None,
        bind: str = "127.0.0.1:0",
        threads: int = DEFAULT_THREADS,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        socket_timeout: float = 4.0,
        rpc_max: int = 64,
    ) -> None:
        self.files = list(files)
        self.bind = bind
        self.threads = threads
        #: what the functions logged: tracebacks of those that raised, uwsgi.log() lines
        self.log: list[str] = []
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._table = _Table(
            self._calls,
            self._lock,
            rpc_max=rpc_max,
            socket_timeout=socket_timeout,
            buffer_size=buffer_size,
            log=self.log.append,
        )
        for name, fn in (functions or {}).items():
            self._table.register(name, fn)
        self._routes: dict[str, Function] = {}
        self._running: BackgroundServer | None = None

    # -- running -------------------------------------------------------------------------------

    def start(self) -> RPCServer:
        """Load the functions and listen; returns once the server accepts calls."""
        if self._running is not None:
            return self
        install_shim()
        with _LIVE_LOCK:
            _LIVE.append(self._table)
            _fallback[:] = [self._table]  # uwsgi.rpc from the test itself goes through this one
        try:
            for file in self.files:
                self._table.load_file(file)
            self._running = serve_in_thread(self._table, (self.bind,), threads=self.threads)
        except BaseException:
            self._forget()
            raise
        return self

    def stop(self) -> None:
        """Stop serving; the last server to stop takes the in-memory ``uwsgi`` module away."""
        running, self._running = self._running, None
        if running is not None:
            try:
                running.close()
            finally:
                self._forget()

    def _forget(self) -> None:
        with _LIVE_LOCK:
            if self._table in _LIVE:
                _LIVE.remove(self._table)
            if not _LIVE:
                uninstall_shim()
            else:
                _fallback[:] = [_LIVE[-1]]

    def __enter__(self) -> RPCServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def node(self) -> str:
        """Where the server listens, as a node string (``127.0.0.1:PORT``)."""
        if self._running is None:
            raise RuntimeError("the server is not running: use it in a with block or start() it")
        return self._running.node

    def client(self, **options: Any) -> Client:
        """A :class:`protocol.Client` for this server (``options`` are the Client's)."""
        return Client(self.node, **options)

    def __repr__(self) -> str:
        where = self._running.node if self._running is not None else "not running"
        return f"<RPCServer {where}: {', '.join(self._table.names()) or 'no functions'}>"

    # -- functions -----------------------------------------------------------------------------

    def on(self, name: str) -> Function:
        """The function ``name`` (registered now if it is not yet), to say what it does next:
        ``server.on("hello").returns(b"hi")``, ``.raises(ValueError)``, ``.returns_nothing()``,
        ``.sleeps(0.5)``, ``.calls(fn)``. :meth:`reset` undoes it."""
        route = self._routes.get(name)
        if route is None:
            entry = self._table._functions.get(name.encode("utf-8", "surrogateescape"))
            original: Any = entry.fn if entry is not None else None
            route = Function(self, name, original)
            self._table.register(name, route)
            self._routes[name] = route
        return route

    def register(self, name: str, fn: Callable[..., object]) -> None:
        """Add (or replace) a function, as ``uwsgi.register_rpc`` does."""
        self._table.register(name, fn)

    def reset(self) -> None:
        """Forget the calls and the log, and give every function back what it did at the start."""
        for name, route in self._routes.items():
            key = name.encode("utf-8", "surrogateescape")
            if route._original is not None:
                self._table.register(name, route._original)
            else:
                with self._table._lock:
                    self._table._functions.pop(key, None)
        self._routes.clear()
        with self._lock:
            self._calls.clear()
        self.log.clear()

    # -- the call log --------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every call served so far, in the order they ran."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, function: str) -> list[Call]:
        return [call for call in self.calls if call.function == function]

    def assert_called(self, function: str) -> None:
        """``function`` was called at least once."""
        if not self.calls_to(function):
            raise AssertionError(f"{function} was not called; calls: {self.calls}")

    def assert_not_called(self, function: str) -> None:
        calls = self.calls_to(function)
        if calls:
            raise AssertionError(f"{function} was called {len(calls)} times: {calls}")

    def assert_called_with(self, function: str, *args: str | bytes) -> None:
        """The last call of ``function`` had these arguments (a str stands for its UTF-8)."""
        calls = self.calls_to(function)
        expected = Call(function, _as_bytes(args), None)
        if not calls or calls[-1].args != expected.args:
            last = calls[-1] if calls else "none"
            raise AssertionError(f"expected {expected}, the last call was {last}")

    def assert_called_once_with(self, function: str, *args: str | bytes) -> None:
        """``function`` was called exactly once, with these arguments."""
        calls = self.calls_to(function)
        if len(calls) != 1:
            raise AssertionError(f"{function} was called {len(calls)} times, not once: {calls}")
        self.assert_called_with(function, *args)

    def assert_any_call(self, function: str, *args: str | bytes) -> None:
        """Some call of ``function`` had these arguments."""
        expected = Call(function, _as_bytes(args), None)
        if all(call.args != expected.args for call in self.calls_to(function)):
            raise AssertionError(f"no call {expected}; calls: {self.calls}")


def _as_bytes(args: Sequence[str | bytes]) -> tuple[bytes, ...]:
    return tuple(to_bytes(arg) for arg in args)
