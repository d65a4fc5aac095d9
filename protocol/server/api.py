"""The ``uwsgi`` calls beyond RPC that function files use, as the shim provides them.

Each follows what uWSGI 2.0.21 answers under ``--master --plugins rpc,python3,signal,cache
--cache2 ...`` (tests/interop/test_function_files.py runs the same files under both):

- caches: keys and values are bytes or str (str is UTF-8), anything else is TypeError "a
  bytes-like object is required, not 'int'"; ``cache_set`` returns True, or None when the key
  exists; ``cache_update`` True; ``cache_get`` the bytes or None; ``cache_exists``/``cache_del``
  True or None; ``cache_clear`` True. A cache name selects a cache (every name exists here;
  without one, ``default``). Expiry in seconds is kept.
- ``lock(n=0)``/``unlock(n=0)``: one lock shared by every worker; any other number is
  ValueError "Invalid lock number" (uWSGI's default --locks 0 leaves only lock 0).
- mules and the spooler cannot be emulated: ``mule_msg``, ``spool`` and the mule/farm calls are
  accepted, do nothing, and log one line naming what was dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from .shim import current_table

__all__ = ["API"]

_DEFAULT_CACHE = "default"


def _bytes(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"a bytes-like object is required, not '{type(value).__name__}'")


def _name(cache: object) -> str:
    if cache is None:
        return _DEFAULT_CACHE
    if isinstance(cache, bytes):
        return cache.decode("utf-8", "surrogateescape")
    return str(cache)


def _expires(expires: object) -> float:
    import time

    seconds = int(expires)  # type: ignore[call-overload]
    return time.time() + seconds if seconds > 0 else 0.0


def cache_get(key: object, cache: object = None) -> bytes | None:
    k = _bytes(key)
    found = current_table().shared.cache(lambda items: items.get(k), _name(cache))
    return found[0] if found else None


def cache_set(key: object, value: object, expires: object = 0, cache: object = None) -> bool | None:
    k, v, exp = _bytes(key), _bytes(value), _expires(expires)

    def change(items: dict[bytes, tuple[bytes, float]]) -> bool | None:
        if k in items:
            return None
        items[k] = (v, exp)
        return True

    return current_table().shared.cache(change, _name(cache))


def cache_update(key: object, value: object, expires: object = 0, cache: object = None) -> bool:
    k, v, exp = _bytes(key), _bytes(value), _expires(expires)

    def change(items: dict[bytes, tuple[bytes, float]]) -> bool:
        items[k] = (v, exp)
        return True

    return current_table().shared.cache(change, _name(cache))


def cache_exists(key: object, cache: object = None) -> bool | None:
    k = _bytes(key)
    return current_table().shared.cache(lambda items: True if k in items else None, _name(cache))


def cache_del(key: object, cache: object = None) -> bool | None:
    k = _bytes(key)

    def change(items: dict[bytes, tuple[bytes, float]]) -> bool | None:
        return True if items.pop(k, None) is not None else None

    return current_table().shared.cache(change, _name(cache))


def cache_clear(cache: object = None) -> bool:
    def change(items: dict[bytes, tuple[bytes, float]]) -> bool:
        items.clear()
        return True

    return current_table().shared.cache(change, _name(cache))


def _lock_number(num: object) -> None:
    if int(num) != 0:  # type: ignore[call-overload]
        raise ValueError("Invalid lock number")


def lock(num: object = 0) -> None:
    _lock_number(num)
    current_table().shared.user_lock.acquire()


def unlock(num: object = 0) -> None:
    _lock_number(num)
    with suppress(ValueError):  # uWSGI's unlock of an unlocked mutex is silent too
        current_table().shared.user_lock.release()


def register_signal(num: object, target: object, handler: object) -> None:
    current_table().signals.register(num, target, handler)


def signal_registered(num: object) -> bool | None:
    return current_table().signals.registered(num)


def signal(num: object, remote: object = None) -> None:
    table = current_table()
    if remote:
        table.not_emulated(f"uwsgi.signal() to a remote node ({remote!r})")
        return
    table.signals.send(num)


def add_timer(num: object, seconds: object) -> None:
    current_table().signals.add_timer(num, seconds)


def add_cron(num: object, *fields: object) -> bool:
    if len(fields) != 5:
        raise TypeError(f"add_cron() takes exactly 6 arguments ({len(fields) + 1} given)")
    return current_table().signals.add_cron(num, *fields)


def add_file_monitor(num: object, path: object) -> None:
    current_table().signals.add_file_monitor(num, path)


def _dropped(what: str, result: object = None) -> Callable[..., Any]:
    def accept(*args: object, **kwargs: object) -> object:
        current_table().not_emulated(what)
        return result

    accept.__name__ = what.split("(")[0].rsplit(".", 1)[-1]
    return accept


#: name -> value, added to the shim module
API: dict[str, Any] = {
    "cache_get": cache_get,
    "cache_set": cache_set,
    "cache_update": cache_update,
    "cache_exists": cache_exists,
    "cache_del": cache_del,
    "cache_clear": cache_clear,
    "lock": lock,
    "unlock": unlock,
    "register_signal": register_signal,
    "signal_registered": signal_registered,
    "signal": signal,
    "add_timer": add_timer,
    "add_rb_timer": add_timer,
    "add_cron": add_cron,
    "add_file_monitor": add_file_monitor,
    "mule_msg": _dropped("uwsgi.mule_msg() (no mules: the message is dropped)"),
    "spool": _dropped("uwsgi.spool() (no spooler: the job is dropped)"),
    "send_to_spooler": _dropped("uwsgi.send_to_spooler() (no spooler: the job is dropped)"),
    "in_farm": _dropped("uwsgi.in_farm() (no farms)"),
    "set_user_harakiri": _dropped("uwsgi.set_user_harakiri() (no harakiri)"),
    "SPOOL_OK": -2,
    "SPOOL_RETRY": -1,
    "SPOOL_IGNORE": 0,
}
