"""The names caches on disk (for :mod:`rpccli.names`): one small JSON file per node in
``state_dir()/names/``, read and written through :mod:`rpccli.statefile` (never through a link),
one writer at a time (a thread lock and ``flock`` on ``names/.lock``), and pruned to the most
recently written files.

What a new node costs stays O(1): the lock file holds a count of the files created since the last
prune, and the directory is listed (a ``stat`` per file) only once that count reaches the
``every`` of :func:`locked` -- not on every new node, which made a fan-out to 1,000 new nodes
stat half a million files.

Standard library only (and rpccli.paths/statefile, lazily): shell completion imports this.
"""

from __future__ import annotations

import _thread
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["file_name", "load", "locked", "names_dir", "names_dir_text", "prune", "save"]

#: a cache file larger than this is ignored (and rewritten on the next update)
_MAX_FILE = 4 * 1024 * 1024
_MAX_KEY = 96
#: threading.Lock() itself, without importing threading on the call path
_LOCK = _thread.allocate_lock()


def names_dir(create: bool) -> Path:
    from rpccli.paths import state_dir  # stdlib only; imported here to keep `import names` cheap

    path = state_dir(create=create) / "names"
    if create:
        from rpccli.statefile import private_dir

        private_dir(path)
    return path


def names_dir_text() -> str:
    """:func:`names_dir` as a string, nothing created: named without importing pathlib (the
    plain call path reads a names file through it, docs/design.md#start-up)."""
    from rpccli.paths import state_dir_text

    return os.path.join(state_dir_text(), "names")


def file_name(key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02X}" for c in key)
    if len(safe) > _MAX_KEY or safe.startswith("."):
        import hashlib  # rare (long keys); loading OpenSSL costs `rpccli call` 2 ms

        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        safe = f"{safe.lstrip('.')[: _MAX_KEY - 17]}-{digest}"
    return f"{safe}.json"


def load(path: str | Path) -> dict[str, Any]:
    from rpccli.statefile import open_read

    try:
        with open_read(path) as fh:  # a symlink in its place reads as absent, never followed
            raw = fh.read(_MAX_FILE + 1)
        if len(raw) > _MAX_FILE:
            return {}
        data = json.loads(raw)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(path: Path, data: dict[str, Any]) -> None:
    # Atomic (no torn reads on TAB), 0600, and a symlink in its place is replaced, not followed.
    from rpccli.statefile import replace

    replace(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))


@contextlib.contextmanager
def locked(directory: Path, *, keep: int, every: int) -> Iterator[Callable[[int], None]]:
    """One writer at a time: threads of this process, and other rpccli processes (flock).

    Yields ``added(n)``, to call once the writer has created ``n`` new files: they are counted
    in the lock file (a few bytes, no listing of the directory), and the directory is pruned to
    ``keep`` files once ``every`` new ones have piled up -- so it holds at most about
    ``keep + every`` files between two writers.
    """
    with _LOCK:
        try:
            import fcntl

            from rpccli.statefile import open_private  # a symlink is replaced, never followed

            fd = open_private(directory / ".lock")
        except (ImportError, OSError):
            yield lambda added: prune(directory, keep) if added else None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield lambda added: _count(fd, directory, added, keep, every)
        finally:
            os.close(fd)


def _count(fd: int, directory: Path, added: int, keep: int, every: int) -> None:
    """Add ``added`` to the lock file's count; prune once it reaches ``every``. A lock file
    without a count (new, or an older rpccli's) prunes at once: the directory may hold any
    number of files."""
    if not added:
        return
    try:
        text = os.pread(fd, 16, 0).strip()
        total = int(text) + added if text.isdigit() else every
        if total >= every:
            prune(directory, keep)
            total = 0
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(total).encode(), 0)
    except OSError:
        return


def prune(directory: Path, keep: int) -> None:
    """Keep the ``keep`` most recently written names files (one file per node ever used)."""
    try:
        files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in files[:-keep]:
            old.unlink()
    except OSError:
        return
