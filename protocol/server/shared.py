"""State that uWSGI keeps in shared memory, shared by ``serve --processes`` workers the same way.

uWSGI shares the ping warning (``shared->warning_message``), its caches and the user lock between
the master and every worker. :class:`SharedState` holds them in an anonymous ``MAP_SHARED`` mmap
and behind a :class:`multiprocessing.Lock` (a POSIX semaphore): both are created by the process
that loads the function files, before it forks, so every forked worker sees the same bytes.

Layout: the warning's 81 bytes (a C string, as in uWSGI), then a u64 version and a u64 length
followed by the pickled caches ``{cache name: {key: (value, expires or 0)}}``. Every change
rewrites the pickle; a reader unpickles only when the version moved. Simple rather than fast: the
caches of a test server hold a few values.
"""

from __future__ import annotations

import mmap
import pickle
import struct
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = ["CACHE_BYTES", "SharedState"]

#: room for the pickled caches (an anonymous mapping: pages are only used once written)
CACHE_BYTES: Final = 16 << 20
_WARNING: Final = 81  # uWSGI's shared->warning_message[81]
_HEAD: Final = struct.Struct("<QQ")
_Caches = dict[str, dict[bytes, tuple[bytes, float]]]
T = TypeVar("T")


class SharedState:
    """The warning, the caches and user lock 0, visible to every process forked after creation."""

    def __init__(self, size: int = CACHE_BYTES) -> None:
        import multiprocessing  # only servers that use shared state pay for it

        fork = multiprocessing.get_context("fork")  # a semaphore unlinked at once: no tracker
        self._map = mmap.mmap(-1, _WARNING + _HEAD.size + size)
        self._size = size
        self._mutex = fork.Lock()
        #: ``uwsgi.lock()``: one lock across every worker, as uWSGI's user lock 0
        self.user_lock = fork.Lock()
        self._seen = -1
        self._caches: _Caches = {}

    # -- the ping warning ------------------------------------------------------------------------

    def get_warning(self) -> str | None:
        raw = self._map[:_WARNING].split(b"\0", 1)[0]
        return raw.decode("utf-8", "surrogateescape") if raw else None

    def set_warning(self, text: str | None) -> None:
        raw = (text or "").encode("utf-8", "surrogateescape")[: _WARNING - 1]
        self._map[:_WARNING] = raw.ljust(_WARNING, b"\0")

    # -- the caches ------------------------------------------------------------------------------

    def _load(self) -> _Caches:
        version, length = _HEAD.unpack_from(self._map, _WARNING)
        if version != self._seen:
            start = _WARNING + _HEAD.size
            self._caches = pickle.loads(self._map[start : start + length]) if length else {}
            self._seen = version
        return self._caches

    def _store(self, caches: _Caches) -> None:
        data = pickle.dumps(caches, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > self._size:
            raise MemoryError("the emulated uWSGI caches are full")
        version = _HEAD.unpack_from(self._map, _WARNING)[0] + 1
        start = _WARNING + _HEAD.size
        self._map[start : start + len(data)] = data
        _HEAD.pack_into(self._map, _WARNING, version, len(data))
        self._seen = version
        self._caches = caches

    def cache(self, change: Callable[[dict[bytes, tuple[bytes, float]]], T], name: str) -> T:
        """Run ``change(items)`` on cache ``name`` under the lock (expired items already gone);
        what it changes in ``items`` is written back for every process."""
        with self._mutex:
            caches = self._load()
            items = dict(caches.get(name, {}))
            now = time.time()
            before = len(items)
            for key in [k for k, (_, exp) in items.items() if exp and exp <= now]:
                del items[key]
            snapshot = dict(items)
            result = change(items)
            if items != snapshot or len(items) != before:
                new: dict[str, Any] = dict(caches)
                new[name] = items
                self._store(new)
            return result
