"""``--local FILE.py``: call a function of a uWSGI function file in this process.

The command-line twin of ``uwsgi.call``: the file is loaded through the bundled server's ``uwsgi``
shim (:class:`protocol.functions.FunctionTable`) and the call follows uWSGI's Python 3 rules, so a
function that works here works in uWSGI. Unlike the wire (facts 4), a local call knows WHY there
is no result, and says it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol.errors import NoResult
from protocol.failures import shown

__all__ = ["LocalFunctions", "local_node"]


def local_node(path: str | Path) -> str:
    """How a local call names its "node" in messages and JSON."""
    return f"local:{path}"


class LocalFunctions:
    """A function file loaded once; :meth:`call` returns the result bytes and the seconds taken."""

    def __init__(self, path: str | Path, *, log: Any = None) -> None:
        from protocol.functions import FunctionTable  # only --local pays for the shim

        self.path = str(path)
        self.node = local_node(path)
        self.table = FunctionTable(log=log)
        self.table.load_file(self.path)
        self.last_traceback: str | None = None

    def names(self) -> list[str]:
        return list(self.table.names())

    def call(self, function: bytes, args: Sequence[bytes]) -> tuple[bytes, float]:
        start = time.monotonic()
        outcome = self.table.invoke(function, list(args))
        elapsed = time.monotonic() - start
        self.last_traceback = outcome.traceback
        if outcome.result is None:
            name = shown(function.decode("utf-8", "surrogateescape"))
            raise NoResult(
                self.node,
                f"no result from {name} in {self.path}: {outcome.reason} "
                "(uWSGI would close the connection with no answer)",
            )
        return outcome.result, elapsed
