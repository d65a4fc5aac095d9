"""``--local FILE.py``: call a function of a uWSGI function file in this process.

The command-line twin of ``uwsgi.call``: the file is loaded through the bundled server's
``uwsgi`` shim (:class:`protocol.server.functions.FunctionTable`) and the call follows uWSGI's
Python 3 rules, so a function that works here works in uWSGI. Unlike the wire
(docs/protocol.md#failures), a local call knows WHY there is no result, and says it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol.errors import NoResult
from protocol.failures import shown

__all__ = ["LocalFunctions", "file_function_names", "local_node"]

#: TAB reads at most this much of a function file
_MAX_SOURCE = 4 * 1024 * 1024


def local_node(path: str | Path) -> str:
    """How a local call names its "node" in messages and JSON."""
    return f"local:{path}"


class LocalFunctions:
    """A function file loaded once; :meth:`call` returns the result bytes and the seconds taken."""

    def __init__(self, path: str | Path, *, log: Any = None) -> None:
        from protocol.server.functions import FunctionTable  # only --local pays for the shim

        self.path = str(path)
        self.node = local_node(path)
        self.table = FunctionTable(log=log)
        self.table.load_file(self.path)
        self.table.become_worker(1, 1)  # calls run in worker 1, after @postfork, as in uWSGI
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


def file_function_names(path: str) -> list[str]:
    """The names a uWSGI function file registers with ``uwsgi.register_rpc``, found by READING
    it (Python through ``ast``, Lua by pattern), never by running it: TAB must not execute user
    code. Never raises."""
    try:
        with open(os.path.expanduser(path), "rb") as fh:
            source = fh.read(_MAX_SOURCE).decode("utf-8", "replace")
        if path.endswith(".lua"):
            import re

            found = re.findall(r"""register_rpc\s*\(\s*["']([^"'\s]+)["']""", source)
            return sorted({name for name in found if "\\" not in name})  # no escapes: not read
        return _python_registrations(source)
    except Exception:
        return []


def _python_registrations(source: str) -> list[str]:
    import ast

    names: set[str] = set()
    loops: dict[str, list[str]] = {}  # `for fn in (hello, echo): register_rpc(fn.__name__, fn)`
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.For)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, ast.Tuple | ast.List)
        ):
            loops[node.target.id] = [e.id for e in node.iter.elts if isinstance(e, ast.Name)]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called != "register_rpc":
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str | bytes):
            value = first.value
            names.add(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
        elif (
            isinstance(first, ast.Attribute)
            and first.attr == "__name__"
            and isinstance(first.value, ast.Name)
        ):
            names.update(loops.get(first.value.id, [first.value.id]))
    return sorted(
        name for name in names if name and len(name.encode()) <= 255 and name.isprintable()
    )
