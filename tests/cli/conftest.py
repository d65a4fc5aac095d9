"""CLI tests run rpccli.cli.main in process with captured bytes, each with empty XDG dirs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from rpccli.cli import main


@dataclass
class Result:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")


def run_cli(*args: str, input: bytes | str = b"", env: dict[str, str] | None = None) -> Result:
    """Run ``rpccli ARGS`` in process: the exit code main() returns, stdout bytes, stderr text."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
    return Result(code, out.getvalue(), err.getvalue().decode("utf-8", "replace"))


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Every CLI test runs with its own empty XDG dirs (tests/conftest.py)."""


@pytest.fixture
def write_config(xdg_dirs: dict[str, Path]) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = xdg_dirs["config"] / "rpccli" / "config.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return path

    return write


@pytest.fixture
def cli() -> Callable[..., Result]:
    return run_cli


@pytest.fixture(scope="session")
def refused_node() -> str:
    """A loopback port nothing listens on (bound then closed)."""
    from tests.peers import free_port

    return f"127.0.0.1:{free_port()}"


@pytest.fixture(autouse=True)
def fresh_health(monkeypatch: pytest.MonkeyPatch) -> None:
    """Node health is remembered per process; each in-process CLI run is its own process."""
    import protocol.nodes

    monkeypatch.setattr(protocol.nodes, "HEALTH", protocol.nodes.Health())


@pytest.fixture(scope="session")
def second_node() -> Iterator[str]:
    """A second bundled server, serving examples/functions.py only: a group of two live nodes."""
    from protocol.server import serve_in_thread
    from protocol.server.functions import FunctionTable
    from tests.conftest import EXAMPLE_FUNCTIONS

    table = FunctionTable()
    table.load_file(EXAMPLE_FUNCTIONS)
    with serve_in_thread(table, ("127.0.0.1:0",)) as server:
        yield server.node
