"""An HTTP port named as a node (issue 15, item 7): `call` and `ping` both say it answered with
HTTP and point at uWSGI's --socket, against real nginx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.conftest import run_cli
from tests.peers import Nginx, nginx


@pytest.fixture(scope="module")
def web() -> Iterator[Nginx]:
    with nginx("    location / { return 200 'hi'; }") as server:
        yield server


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: object) -> None:
    """Empty XDG dirs for the CLI runs."""


@pytest.mark.parametrize("command", [["ping"], ["call", "hello"]], ids=["ping", "call"])
def test_an_http_port_is_named_as_such(web: Nginx, command: list[str]) -> None:
    node = f"127.0.0.1:{web.port}"
    result = run_cli(command[0], node, *command[1:])
    assert result.code == 5, result.err
    assert "it answered with HTTP, not the uwsgi protocol: call uWSGI's --socket instead" in (
        result.err
    )
