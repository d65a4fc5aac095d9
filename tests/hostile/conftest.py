"""Hostile peers: a node whose every byte is an attack, and a marker the attack would create.

Each case of the hostile-peers work lives in this package and fails on a main that lets it
through: code run by TAB, escape sequences reaching a terminal, config injected into nginx,
input merged or lost, a server stalled by slow clients, wrong answers and lost records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from protocol.server import serve_in_thread
from protocol.server.functions import FunctionTable


def listing_table(listing: bytes, **functions: Callable[..., bytes | None]) -> FunctionTable:
    """A function table whose ``rpc_list`` answers ``listing`` verbatim, plus ``functions``."""
    table = FunctionTable()
    table.register("rpc_list", lambda *args: listing)
    for name, fn in functions.items():
        table.register(name, fn)
    return table


@pytest.fixture
def serve_table() -> Iterator[Callable[[FunctionTable], str]]:
    """Start the bundled server on 127.0.0.1:<ephemeral> for a table; returns its node.

    Every server started through it is stopped when the test ends."""
    stack: list[object] = []

    def start(table: FunctionTable) -> str:
        context = serve_in_thread(table, ("127.0.0.1:0",))
        server = context.__enter__()
        stack.append(context)
        return str(server.node)

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A path that exists only if an attack ran code; tests assert it never appears."""
    return tmp_path / "PWNED"
