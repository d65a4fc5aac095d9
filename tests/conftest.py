"""Fixtures shared by every test package: the bundled server with demo and example functions, and
empty XDG directories for tests that run rpccli code."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from protocol.server import BackgroundServer, serve_in_thread
from protocol.server.functions import FunctionTable

ROOT = Path(__file__).resolve().parent.parent
DEMO_FUNCTIONS = ROOT / "rpccli" / "demo_functions.py"
EXAMPLE_FUNCTIONS = ROOT / "examples" / "functions.py"


def _bundled_table() -> FunctionTable:
    table = FunctionTable()
    table.load_file(DEMO_FUNCTIONS)
    table.load_file(EXAMPLE_FUNCTIONS)
    return table


@pytest.fixture(scope="session")
def bundled_node() -> Iterator[str]:
    """Node of a bundled server on 127.0.0.1:<ephemeral> serving the demo functions AND
    examples/functions.py (examples win where names overlap), stopped at the end."""
    with serve_in_thread(_bundled_table(), ("127.0.0.1:0",)) as server:
        yield server.node


@pytest.fixture
def own_server() -> Iterator[BackgroundServer]:
    """A bundled server like ``bundled_node``'s for one test alone, so that what it is doing
    (``own_server.server.running()``) is that test's calls only."""
    with serve_in_thread(_bundled_table(), ("127.0.0.1:0",)) as server:
        yield server


def wait_until(sign: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    """Wait for a visible sign (never a fixed sleep); fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not sign():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g}s for {what}")
        time.sleep(0.01)


@pytest.fixture
def xdg_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty XDG config and state directories, and none of the caller's rpccli variables (nor
    NO_COLOR): no test sees the developer's config, history or environment."""
    config = tmp_path / "config"
    state = tmp_path / "state"
    config.mkdir()
    state.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    for name in ("RPCCLI_CONFIG", "RPCCLI_NODE", "RPCCLI_TIMEOUT", "NO_COLOR", "RPCCLI_TRACEBACK"):
        monkeypatch.delenv(name, raising=False)
    return {"config": config, "state": state}
