"""The shell's history file, ``state_dir()/history``: private, bounded, never written through.

prompt_toolkit's FileHistory opens its file by name for every line, following a symlink, and
appends to whatever it names. Here the file is read and appended to only through
:mod:`rpccli.statefile`: a symlink (or hard link) in its place is replaced by a fresh 0600 file
and its target is left as it was. The format is FileHistory's, so older history files still load.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import History

from rpccli.statefile import open_private, open_read, replace

__all__ = ["MAX_HISTORY", "ShellHistory", "history_path"]

#: the history file is trimmed to this many entries when the shell starts
MAX_HISTORY = 10_000
#: below this size the file is not even parsed for trimming
_TRIM_AT = 1024 * 1024


def history_path() -> Path:
    from rpccli.paths import state_dir

    return state_dir() / "history"


class ShellHistory(History):
    """History kept private (0600), without space-led lines (bash's ignorespace) or repeats.

    Raises OSError when the file cannot be made (the shell then keeps history in memory).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        os.close(open_private(path, os.O_WRONLY | os.O_APPEND))
        _trim(path)

    def load_history_strings(self) -> Iterable[str]:
        try:
            with open_read(self.path) as fh:
                raw = fh.read()
        except OSError:
            return []
        strings: list[str] = []
        lines: list[str] = []
        # FileHistory's format: "# <time>" then one "+"-led line per line of the entry
        for line in raw.decode("utf-8", "replace").splitlines(keepends=True):
            if line.startswith("+"):
                lines.append(line[1:])
            elif lines:
                strings.append("".join(lines)[:-1])
                lines = []
        if lines:
            strings.append("".join(lines)[:-1])
        return reversed(strings)  # newest first

    def append_string(self, string: str) -> None:
        if not string.strip() or string.startswith((" ", "\t")):
            return
        if self._loaded_strings and self._loaded_strings[0] == string:
            return
        super().append_string(string)

    def store_string(self, string: str) -> None:
        entry = f"\n# {datetime.datetime.now()}\n" + "".join(
            f"+{line}\n" for line in string.split("\n")
        )
        try:
            fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError:
            return  # the line stays in this session's memory; a prompt is no place to fail
        with contextlib.suppress(OSError), os.fdopen(fd, "ab") as fh:
            fh.write(entry.encode("utf-8", "replace"))


def _trim(path: Path) -> None:
    # appends only grow the file; keep it bounded by rewriting its newest entries
    try:
        with open_read(path) as fh:
            if os.fstat(fh.fileno()).st_size < _TRIM_AT:
                return
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return
    entries = text.split("\n\n")
    if len(entries) <= MAX_HISTORY:
        return
    replace(path, "\n\n".join(entries[-MAX_HISTORY:]).encode("utf-8"))
