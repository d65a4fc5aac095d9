"""``uwsgidecorators`` for function files run outside uWSGI (docs/serve.md#the-uwsgi-api).

Put into ``sys.modules`` of the loading process only (never installed), whether or not the
user has Debian's ``python3-uwsgidecorators``: the same names, built on the ``uwsgi`` shim as
uWSGI's own module is built on the real one. ``@rpc``, ``@signal``, ``@timer``, ``@rbtimer``,
``@cron``, ``@filemon``, ``@postfork``, ``@lock`` and ``@thread`` behave as in uWSGI; the mule,
farm and spooler decorators are accepted and log one line when their function would be handed
to a mule or the spooler.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable
from typing import Any

__all__ = ["build_decorators", "run_postfork"]

_Fn = Callable[..., Any]


def _uwsgi() -> Any:
    return sys.modules["uwsgi"]


def _chain() -> list[tuple[int, _Fn]]:
    from .shim import current_table

    return current_table().postfork  # each table its own: the files it loaded


def run_postfork(chain: list[tuple[int, _Fn]], worker_id: int) -> None:
    """Run the ``@postfork`` functions, as uWSGI does in each worker after forking it."""
    for wid, fn in list(chain):
        if wid <= 0 or wid == worker_id:
            fn()


class postfork:
    def __init__(self, f: _Fn | int) -> None:
        if callable(f):
            _chain().append((0, f))
            self.f: _Fn | None = f
        else:
            self.f, self.wid = None, int(f)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.f is None:  # @postfork(wid)
            self.f = args[0]
            _chain().append((self.wid, self.f))
            return self
        return self.f(*args, **kwargs)


class rpc:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, f: _Fn) -> _Fn:
        _uwsgi().register_rpc(self.name, f)
        return f


class signal:
    def __init__(self, num: int, **kwargs: Any) -> None:
        self.num = num
        self.target = kwargs.get("target", "")

    def __call__(self, f: _Fn) -> _Fn:
        _uwsgi().register_signal(self.num, self.target, f)
        return f


def get_free_signal() -> int:
    for num in range(256):
        if not _uwsgi().signal_registered(num):
            return num
    raise Exception("No free uwsgi signal available")


class _Signalled:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.num = kwargs.get("signum", get_free_signal())
        self.target = kwargs.get("target", "")
        self.args = args

    def __call__(self, f: _Fn) -> _Fn:
        _uwsgi().register_signal(self.num, self.target, f)
        self.add(self.num, *self.args)
        return f

    def add(self, num: int, *args: Any) -> None:
        raise NotImplementedError


class timer(_Signalled):
    def add(self, num: int, *args: Any) -> None:
        _uwsgi().add_timer(num, *args)


class rbtimer(_Signalled):
    def add(self, num: int, *args: Any) -> None:
        _uwsgi().add_rb_timer(num, *args)


class cron(_Signalled):
    def add(self, num: int, *args: Any) -> None:
        _uwsgi().add_cron(num, *args)


class filemon(_Signalled):
    def add(self, num: int, *args: Any) -> None:
        _uwsgi().add_file_monitor(num, *args)


class lock:
    def __init__(self, f: _Fn) -> None:
        self.f = f

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        uwsgi = _uwsgi()
        uwsgi.lock()
        try:
            return self.f(*args, **kwargs)
        finally:
            uwsgi.unlock()


class thread:
    def __init__(self, f: _Fn) -> None:
        self.f = f

    def __call__(self, *args: Any) -> _Fn:
        threading.Thread(target=self.f, args=args, daemon=True).start()
        return self.f


class harakiri:
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __call__(self, f: _Fn) -> _Fn:
        return f  # no harakiri outside uWSGI: the function runs as long as it takes


def _handed_off(what: str) -> _Fn:
    def log(*args: Any, **kwargs: Any) -> None:
        from .shim import current_table

        current_table().not_emulated(what)

    return log


class mulefunc:
    def __init__(self, f: _Fn | int) -> None:
        self.f = f if callable(f) else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.f is None:
            self.f = args[0]
            return _handed_off(f"@mulefunc {self.f.__name__} (no mules: the call is dropped)")
        _handed_off(f"@mulefunc {self.f.__name__} (no mules: the call is dropped)")()
        return None


def _spool(f: _Fn | None = None, pass_arguments: bool = False) -> Any:
    def wrap(fn: _Fn) -> _Fn:
        call = _handed_off(f"@spool {fn.__name__} (no spooler: the job is dropped)")
        fn.spool = call  # type: ignore[attr-defined]
        return call

    return wrap(f) if f is not None else wrap


class _Loop:
    """``@mule(n)``, ``@muleloop(n)``, ``@mulemsg(n)``, ``@farm(name)``: code for a mule."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, f: _Fn) -> _Fn:
        from .shim import current_table

        current_table().not_emulated(f"@{type(self).__name__} {f.__name__} (no mules: never runs)")
        return f


def build_decorators() -> types.ModuleType:
    module = types.ModuleType("uwsgidecorators", "rpccli's in-process uwsgidecorators")
    names: dict[str, Any] = {
        "rpc": rpc,
        "signal": signal,
        "timer": timer,
        "rbtimer": rbtimer,
        "cron": cron,
        "filemon": filemon,
        "postfork": postfork,
        "lock": lock,
        "thread": thread,
        "harakiri": harakiri,
        "mulefunc": mulefunc,
        "spool": _spool,
        "spoolraw": _spool,
        "spoolforever": _spool,
        "get_free_signal": get_free_signal,
        "RPCCLI_SHIM": True,
    }
    for name in ("mule", "muleloop", "mulemsg", "farm", "erlang"):
        names[name] = type(name, (_Loop,), {})
    for key, value in names.items():
        setattr(module, key, value)
    return module
