"""uWSGI-style RPC function files outside uWSGI: a ``uwsgi`` shim and the table it fills.

A function file is plain Python that does ``import uwsgi`` and ``uwsgi.register_rpc("name", fn)``;
the same file runs under real ``uwsgi --import FILE``. :meth:`FunctionTable.load_file` puts a
``uwsgi`` shim module into ``sys.modules`` of THIS process only (it is built in memory, never
written to site-packages, where it would shadow the real module inside uWSGI) and runs the file.

The shim copies what real uWSGI 2.0.21 does under Python 3, checked in a live uWSGI:

- ``register_rpc(name: str, fn, argc=0)`` returns True; the name must be str (TypeError
  otherwise), 1..255 UTF-8 bytes, ``argc`` is never enforced, re-registering replaces in place,
  and at most ``rpc_max`` (64) names fit (ValueError "unable to register rpc function").
- ``rpc(node, func, *args)`` / ``call(func, *args)``: ``func`` and every arg must be ``bytes``
  (str, int or bytearray raise ValueError "unable to call rpc function"); a node that is None,
  empty or not a string calls locally; a call without a result returns None, never raises.
- ``rpc_list()`` is a tuple of bytes names in registration order; ``set_warning_message(str)``.
- ``opt`` is a dict of str -> bytes (True for flags), as real uWSGI fills it from its options.

Beyond RPC, the table holds what the rest of the uWSGI API needs: :attr:`FunctionTable.signals`
(:mod:`.signals`: signals, timers, cron, file monitors), :attr:`FunctionTable.shared`
(:mod:`.shared`: the warning, caches and lock that ``--processes`` workers share), the worker id
and ``numproc``; :mod:`.api` and :mod:`.decorators` are the calls and ``uwsgidecorators`` built
on them (docs/serve.md#the-uwsgi-api).

:meth:`FunctionTable.invoke` applies the Python 3 result rule (docs/protocol.md#failures): only
a non-empty ``bytes`` result is delivered; everything else becomes a 0-byte close, and
``Outcome.reason`` says why, which real uWSGI never does.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import RPCError, UsageError
from ..visible import visible
from ..wire import DEFAULT_BUFFER_SIZE, MAX_ARGS, MAX_NAME
from .shim import _active, _fallback, active, current_table, install_shim
from .signals import SignalHub

if TYPE_CHECKING:
    from .shared import SharedState

__all__ = [
    "DEFAULT_RPC_MAX",
    "FunctionFileError",
    "FunctionTable",
    "Outcome",
    "active",
    "current_table",
]

#: uWSGI's default --rpc-max: registration slots per process (docs/protocol.md#server-side)
DEFAULT_RPC_MAX: Final = 64

LogFunction = Callable[[str], None]


class FunctionFileError(UsageError):
    """A function file that cannot be loaded (missing, syntax error, raised while importing)."""


@dataclass(slots=True)  # not frozen: one is made per call, and frozen ones cost 3 times more
class Outcome:
    """What one call produced: ``result`` (non-empty bytes) or the ``reason`` there is none.

    ``traceback`` holds the formatted traceback when the function raised (real uWSGI prints it to
    its log too).
    """

    result: bytes | None
    reason: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass(slots=True)
class _Function:
    name: bytes
    fn: object
    argc: int
    source: str
    #: a Lua function's ``rpccli_outcome`` (it says itself why there is no result), else None
    outcome_of: Callable[[Sequence[bytes]], tuple[bytes | None, str | None, None]] | None = None


class FunctionTable:
    """The functions one server serves, registered by function files through the shim."""

    def __init__(
        self,
        *,
        rpc_max: int = DEFAULT_RPC_MAX,
        socket_timeout: float = 4.0,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        log: LogFunction | None = None,
    ) -> None:
        self.rpc_max = rpc_max
        self.socket_timeout = socket_timeout
        self.buffer_size = buffer_size
        self._warning: str | None = None
        self._shared: SharedState | None = None
        #: ``uwsgi.worker_id()``: 0 while files load (uWSGI's master), then 1..numproc
        self.worker_id = 0
        self.numproc = 1
        self.masterpid = os.getpid()
        self.signals = SignalHub(self)
        self._dropped: set[str] = set()
        #: ``@postfork`` functions and the worker they are for (0 = every worker)
        self.postfork: list[tuple[int, Callable[[], object]]] = []
        #: what ``uwsgi.opt`` shows to function files; the server adds its options
        self.opt: dict[str, bytes | bool] = {}
        self.files: list[Path] = []
        self.started_on = int(time.time())
        self._log = log
        self._functions: dict[bytes, _Function] = {}
        self._lock = threading.Lock()
        self._loading = "<runtime>"
        self._loaded: list[bytes] | None = None

    def __repr__(self) -> str:
        return f"<FunctionTable {len(self._functions)} functions from {len(self.files)} files>"

    @property
    def warning(self) -> str | None:
        """The ping warning; with :attr:`shared` state, the one every worker shares."""
        if self._shared is not None:
            return self._shared.get_warning()
        return self._warning

    @warning.setter
    def warning(self, text: str | None) -> None:
        self._warning = text
        if self._shared is not None:
            self._shared.set_warning(text)

    @property
    def shared(self) -> SharedState:
        """The caches, lock and warning uWSGI keeps in shared memory (made on first use; made
        before forking, it is shared by the forked workers)."""
        if self._shared is None:
            from .shared import SharedState

            self._shared = SharedState()
            self._shared.set_warning(self._warning)
        return self._shared

    def become_worker(self, worker_id: int, numproc: int) -> None:
        """This process now serves as worker ``worker_id`` of ``numproc``: @postfork runs."""
        from .decorators import run_postfork

        self.worker_id, self.numproc = worker_id, numproc
        with active(self):
            try:
                run_postfork(self.postfork, worker_id)
            except Exception:
                self.log(traceback.format_exc().rstrip("\n"))

    def not_emulated(self, what: str) -> None:
        """One log line, once per kind, for a uWSGI feature accepted but not emulated."""
        if what not in self._dropped:
            self._dropped.add(what)
            self.log(f"rpccli: {what}: accepted, not emulated outside uWSGI")

    # -- loading -----------------------------------------------------------------------------

    def load_file(self, path: str | os.PathLike[str]) -> list[str]:
        """Run a function file with the shim; return the names it registered (in order)."""
        file = Path(path)
        try:
            source = file.read_bytes()
        except OSError as exc:
            raise FunctionFileError(
                f"cannot read function file {file}: {exc.strerror or exc}"
            ) from None
        if file.suffix == ".lua":
            return self._load_lua(file)
        install_shim()
        module_name = f"_rpccli_functions_{len(self.files)}_{abs(hash(str(file.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None:  # pragma: no cover - only for paths importlib refuses outright
            raise FunctionFileError(f"cannot load function file {file}")
        module = importlib.util.module_from_spec(spec)
        loaded: list[bytes] = []
        self._loaded = loaded
        token = _active.set(self)
        self._loading = str(file)
        directory = str(file.resolve().parent)
        sys.path.insert(0, directory)  # sibling imports work, as with uwsgi --import
        sys.modules[module_name] = module
        try:
            code = compile(source, str(file), "exec")
            exec(code, module.__dict__)
        except SyntaxError as exc:
            sys.modules.pop(module_name, None)
            raise FunctionFileError(
                f"cannot load function file {file}: SyntaxError: {exc.msg} (line {exc.lineno})"
            ) from None
        except SystemExit as exc:
            sys.modules.pop(module_name, None)
            where = _last_line_in(exc, str(file))
            raise FunctionFileError(
                f"function file {file} exited while loading (SystemExit({exc.code!r})){where}"
            ) from None
        except Exception as exc:
            sys.modules.pop(module_name, None)
            where = _last_line_in(exc, str(file))
            raise FunctionFileError(
                f"cannot load function file {file}: {type(exc).__name__}: {exc}{where}"
            ) from None
        finally:
            _active.reset(token)
            self._loading = "<runtime>"
            self._loaded = None
            with suppress(ValueError):
                sys.path.remove(directory)
        self.files.append(file)
        _fallback[:] = [self]
        return [n.decode("utf-8", "replace") for n in dict.fromkeys(loaded)]

    def _load_lua(self, file: Path) -> list[str]:
        """A Lua function file, as uWSGI's ``--lua-load`` runs it (protocol/server/lua.py)."""
        from .lua import LuaLoadError, load_lua  # lupa only when a Lua file is loaded

        loaded: list[bytes] = []
        self._loaded, self._loading = loaded, str(file)
        try:
            load_lua(self, file)
        except LuaLoadError as exc:
            raise FunctionFileError(f"cannot load function file {file}: {exc}") from None
        finally:
            self._loading, self._loaded = "<runtime>", None
        self.files.append(file)
        return [n.decode("utf-8", "replace") for n in dict.fromkeys(loaded)]

    # -- the registry ------------------------------------------------------------------------

    def register(self, name: str, fn: object, argc: int = 0) -> bool:
        """``uwsgi.register_rpc``: True, or ValueError when the name or the table is full."""
        if not isinstance(name, str):
            raise TypeError(f"register_rpc() argument 1 must be str, not {type(name).__name__}")
        if "\0" in name:
            raise ValueError("embedded null character")
        key = name.encode("utf-8", "surrogateescape")
        with self._lock:
            if len(key) > MAX_NAME or (
                key not in self._functions and len(self._functions) >= self.rpc_max
            ):
                why = "too long" if len(key) > MAX_NAME else f"more than --rpc-max {self.rpc_max}"
                self.log(f"cannot register RPC function {name!r}: {why}")
                raise ValueError("unable to register rpc function")
            outcome_of = getattr(fn, "rpccli_outcome", None)
            self._functions[key] = _Function(key, fn, argc, self._loading, outcome_of)
            if self._loaded is not None:
                self._loaded.append(key)
        return True

    def names(self) -> list[str]:
        return [n.decode("utf-8", "replace") for n in self._functions]

    def rpc_list(self) -> tuple[bytes, ...]:
        return tuple(self._functions)

    def source(self, name: str | bytes) -> str | None:
        """The file that registered ``name`` (for the server's banner), or None."""
        key = name.encode() if isinstance(name, str) else name
        entry = self._functions.get(key)
        return entry.source if entry else None

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            name = name.encode("utf-8", "surrogateescape")
        return name in self._functions

    def __len__(self) -> int:
        return len(self._functions)

    def log(self, message: str) -> None:
        if self._log is not None:
            self._log(message)
        else:
            # a traceback may quote a caller's arguments: escaped for the terminal
            sys.stderr.write(visible(message.rstrip("\n"), keep="\n\t", reversible=False) + "\n")

    # -- calling -----------------------------------------------------------------------------

    def invoke(self, name: bytes, args: Sequence[bytes]) -> Outcome:
        """Call ``name(*args)`` with uWSGI's Python 3 rules (docs/protocol.md#limits,
        docs/protocol.md#failures)."""
        # the name is matched as a C string: an embedded NUL cuts it short
        # (docs/protocol.md#limits); a registered name has none, so one found as it is needs no cut
        entry = self._functions.get(name) if type(name) is bytes else None
        if entry is None:
            key = bytes(name).split(b"\0", 1)[0]
            entry = self._functions.get(key)
            if entry is None:
                return Outcome(None, f"unknown function {_show(key)}")
        if entry.outcome_of is not None:  # a Lua function says itself why there is no result
            return Outcome(*entry.outcome_of(args))
        token = _active.set(self)
        try:
            value = entry.fn(*args)  # type: ignore[operator]
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a function's SystemExit must not end the server
            # drop this frame: the traceback starts in the function, as uWSGI prints it
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None
            text = "".join(traceback.format_exception(type(exc), exc, tb))
            message = str(exc)
            what = f"raised {type(exc).__name__}" + (f": {message}" if message else "")
            return Outcome(None, what, text)
        finally:
            _active.reset(token)
        if isinstance(value, bytes):
            if value:  # a subclass is copied to plain bytes; bytes need no copy
                return Outcome(value if type(value) is bytes else bytes(value))
            return Outcome(None, "returned empty bytes (an empty result is never delivered)")
        return Outcome(None, f"returned {type(value).__name__}, not bytes")

    def call_local(self, func: object, args: Sequence[object]) -> bytes | None:
        """``uwsgi.call``: the result bytes or None; ValueError for arguments uWSGI refuses."""
        if not isinstance(func, bytes) or not all(isinstance(a, bytes) for a in args):
            raise ValueError("unable to call rpc function")
        if len(args) > MAX_ARGS:
            raise ValueError("unable to call rpc function")
        outcome = self.invoke(func, args)  # type: ignore[arg-type]
        if outcome.traceback:
            self.log(outcome.traceback.rstrip("\n"))
        return outcome.result

    def call_remote(self, node: str | bytes, func: bytes, args: Sequence[bytes]) -> bytes | None:
        """``uwsgi.rpc`` to another node through :class:`protocol.client.Client`."""
        from ..client import Client  # imported here: loading functions needs no client

        text = node.decode("utf-8", "surrogateescape") if isinstance(node, bytes) else node
        try:
            return Client(text, timeout=self.socket_timeout).call(func, *args)
        except RPCError:
            return None


def _show(name: bytes) -> str:
    return repr(name.decode("utf-8", "backslashreplace"))


def _last_line_in(exc: BaseException, filename: str) -> str:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return f" (line {line})" if line else ""
