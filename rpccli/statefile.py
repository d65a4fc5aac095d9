"""The few ways rpccli touches its state files, none of which follows a symlink.

Every file under ``$XDG_STATE_HOME/rpccli`` (the shell history, ``strategy.json``, the names
caches and their lock files) is read, written and locked through these primitives, so one rule
holds for all of them: a state file is never written through.

- :func:`open_read` opens without following a symlink and reads only a regular file; anything
  else in the file's place (a symlink, a FIFO, a directory) reads as absent.
- :func:`replace` writes a new 0600 file beside the target (created exclusively, never through a
  link) and renames it over the target; the rename replaces a symlink itself, not what it names.
- :func:`open_private` opens a file that is appended to or locked (history, lock files). A
  symlink, a hard link or a special file in its place is removed and a fresh 0600 file created:
  the link's target is never opened, so it is neither written nor created.
- :func:`private_dir` creates a missing directory -- and each missing parent -- with mode 0700
  (what the XDG spec asks of ``$XDG_STATE_HOME``), then uses it only if it is private: a real
  directory (not a symlink), owned by this user, not writable by group or others, whose parent
  is not writable by others unless sticky (``/tmp``). Otherwise another user could plant links or
  swap entries between a check and an open, so :class:`NotPrivate` is raised and nothing is
  written there. Directories above ``$XDG_STATE_HOME`` are the user's choice and are followed.

Standard library only, and cheap to import: the call path uses it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["NotPrivate", "locked", "open_private", "open_read", "private_dir", "replace"]

# O_NOFOLLOW and O_CLOEXEC are POSIX; the getattr keeps the module importable elsewhere
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# a FIFO planted in a file's place must not block an open
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class NotPrivate(OSError):
    """A state directory that another user could change under us: nothing is written to it."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(errno.EPERM, f"not a private directory: {why}", str(path))


def open_read(path: str | Path) -> BinaryIO:
    """``path`` opened for reading; OSError when it is absent, a symlink or not a regular file."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def replace(path: Path, data: bytes) -> None:
    """Atomically make ``path`` a regular 0600 file holding ``data`` (no torn reads)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _ in range(8):  # O_EXCL: a name already taken (by anyone) is never reused
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, flags, 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def open_private(path: Path, flags: int = os.O_RDWR) -> int:
    """A descriptor on the regular file ``path`` (created 0600), never on what a link names.

    ``flags`` adds the access mode (and e.g. ``O_APPEND``). A symlink, a hard link or a special
    file in the file's place is replaced by a new empty file; a directory raises OSError.
    """
    flags |= os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        # ELOOP (the symlink O_NOFOLLOW refused; other systems say EMLINK or EFTYPE), or ENXIO
        # (a FIFO nobody reads): either way something that is not our file is in its place
        if exc.errno != errno.ENXIO and not os.path.islink(path):
            raise
    else:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            if stat.S_IMODE(info.st_mode) != 0o600:
                os.fchmod(fd, 0o600)  # an older file made with a looser mode: the fd, not a name
            return fd
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    os.unlink(path)  # removes the link itself; its target is left as it was
    return os.open(path, flags | os.O_EXCL, 0o600)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on the lock file ``path`` (see :func:`open_private`)."""
    import fcntl

    fd = open_private(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def private_dir(path: Path) -> Path:
    """``path``, created 0700 (with any missing parents) when missing; NotPrivate if unsafe."""
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile: checked below like any
            os.mkdir(directory, 0o700)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise NotPrivate(path, "a symlink")
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(path))
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise NotPrivate(path, "owned by another user")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise NotPrivate(path, "writable by group or others")
    parent = os.stat(path.parent).st_mode
    if parent & stat.S_IWOTH and not parent & stat.S_ISVTX:
        raise NotPrivate(path, "its parent is writable by others")
    return path
