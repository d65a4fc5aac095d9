"""The ``uwsgi`` module that function files import when they run outside uWSGI.

:func:`install_shim` puts it into ``sys.modules`` of THIS process only: it is built in memory,
never written to site-packages, where it would shadow the real module inside uWSGI. Each call
goes to the active :class:`~protocol.server.functions.FunctionTable` (:func:`current_table`:
this context's, else the last one that loaded a file); what each one copies of real uWSGI
2.0.21 is listed in :mod:`protocol.server.functions`. This module never imports the table's.
"""

from __future__ import annotations

import contextvars
import socket
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .functions import FunctionTable

__all__ = ["SHIM_VERSION", "active", "current_table", "install_shim", "uninstall_shim"]

#: what ``uwsgi.version`` says in the shim (real uWSGI says e.g. b"2.0.21-debian")
SHIM_VERSION: Final = b"2.0.21-rpccli"
_VERSION_INFO: Final = (2, 0, 21, 0, "rpccli")

_active: contextvars.ContextVar[FunctionTable | None] = contextvars.ContextVar(
    "rpccli_function_table", default=None
)
_fallback: list[FunctionTable] = []  # the last table that loaded a file (threads of a file)


def current_table() -> FunctionTable:
    """The table the shim talks to: this context's, else the last one that loaded a file."""
    table = _active.get()
    if table is None:
        if not _fallback:
            raise RuntimeError("no rpccli function table is active")
        table = _fallback[-1]
    return table


_table = current_table


@contextmanager
def active(table: FunctionTable) -> Iterator[FunctionTable]:
    """Make ``table`` the one the shim talks to in this context (for tests and tools)."""
    token = _active.set(table)
    try:
        yield table
    finally:
        _active.reset(token)


def _register_rpc(name: str, fn: object, argc: int = 0) -> bool:
    return _table().register(name, fn, argc)


def _rpc(*params: object) -> bytes | None:
    # uWSGI parses its arguments by hand: too few is the same ValueError as bad types
    if len(params) < 2:
        raise ValueError("unable to call rpc function")
    node, func, args = params[0], params[1], params[2:]
    table = _table()
    if not isinstance(func, bytes) or not all(isinstance(a, bytes) for a in args):
        raise ValueError("unable to call rpc function")
    if isinstance(node, str | bytes) and node:
        return table.call_remote(node, func, args)  # type: ignore[arg-type]
    return table.call_local(func, args)


def _call(*params: object) -> bytes | None:
    if not params:
        raise ValueError("unable to call rpc function")
    return _table().call_local(params[0], params[1:])


def _rpc_list() -> tuple[bytes, ...]:
    return _table().rpc_list()


def _set_warning_message(message: str) -> bool:
    if not isinstance(message, str):
        raise TypeError(
            f"set_warning_message() argument 1 must be str, not {type(message).__name__}"
        )
    _table().warning = message
    return True


def _log(message: str) -> bool:
    _table().log(str(message))
    return True


def _worker_id() -> int:
    return _table().worker_id


def _mule_id() -> int:
    return 0


def _masterpid() -> int:
    return _table().masterpid


def _false() -> bool:
    return False


#: the shim's attributes that depend on the active table
_TABLE_ATTRIBUTES: Final = frozenset({"opt", "buffer_size", "started_on", "numproc"})


def _module_getattr(name: str) -> Any:
    """Attributes that depend on the active table (PEP 562 module ``__getattr__``). Any other
    name is an AttributeError before the table is asked for: ``getattr(uwsgi, "__file__",
    None)``, as inspect and importers ask every module, works with no table active."""
    if name not in _TABLE_ATTRIBUTES:
        raise AttributeError(
            f"the rpccli uwsgi shim has no attribute {name!r} "
            "(docs/serve.md#the-uwsgi-api lists what it provides)"
        )
    return getattr(_table(), name)


def _build_shim() -> types.ModuleType:
    shim = types.ModuleType("uwsgi", "rpccli's stand-in for uWSGI's embedded module (RPC subset)")
    values: dict[str, Any] = {
        "__getattr__": _module_getattr,
        "RPCCLI_SHIM": True,
        "register_rpc": _register_rpc,
        "rpc": _rpc,
        "call": _call,
        "rpc_list": _rpc_list,
        "set_warning_message": _set_warning_message,
        "log": _log,
        "worker_id": _worker_id,
        "mule_id": _mule_id,
        "masterpid": _masterpid,
        "i_am_the_spooler": _false,
        "is_a_reload": _false,
        "version": SHIM_VERSION,
        "version_info": _VERSION_INFO,
        "hostname": socket.gethostname().encode(),
        "magic_table": {},
        "applications": None,
    }
    from .api import API  # the emulated calls beyond RPC (caches, signals, locks ...)

    values.update(API)
    for key, value in values.items():
        setattr(shim, key, value)
    return shim


def install_shim() -> types.ModuleType:
    """Put the shim into ``sys.modules['uwsgi']`` unless a real uwsgi module is already there,
    and with it rpccli's ``uwsgidecorators`` (even when Debian's is installed)."""
    current = sys.modules.get("uwsgi")
    if current is None:
        current = _build_shim()
        sys.modules["uwsgi"] = current
    if getattr(current, "RPCCLI_SHIM", False) and "uwsgidecorators" not in sys.modules:
        from .decorators import build_decorators

        sys.modules["uwsgidecorators"] = build_decorators()
    return current


def uninstall_shim() -> None:
    """Take the shim modules out of ``sys.modules`` again (a real uwsgi module stays) and forget
    the last table, so that ``import uwsgi`` fails again as it does outside uWSGI."""
    for name in ("uwsgi", "uwsgidecorators"):
        if getattr(sys.modules.get(name), "RPCCLI_SHIM", False):
            del sys.modules[name]
    _fallback.clear()
