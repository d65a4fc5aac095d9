"""The pytest plugin of the library (entry point ``pytest11``): the ``rpc_server`` fixture.

``rpc_server`` is a running :class:`protocol.testing.RPCServer`, one per test, with the function
files named by the ``rpc_function_files`` ini option (paths relative to the ini file), stopped
after the test. ``make_rpc_server(*files, **options)`` starts more (a node group, say); they
stop after the test too. See docs/testing.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import RPCServer

__all__ = ["make_rpc_server", "pytest_addoption", "rpc_server"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "rpc_function_files",
        "uWSGI function files that every rpc_server fixture serves",
        type="paths",
        default=[],
    )


@pytest.fixture
def make_rpc_server(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., RPCServer]]:
    """Start an RPCServer (``RPCServer``'s arguments); every one stops after the test."""
    from .testing import RPCServer  # here: a test run that uses no fixture never imports it

    started: list[RPCServer] = []

    def make(*files: str | os.PathLike[str], **options: Any) -> RPCServer:
        server = RPCServer(*files, **options).start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def rpc_server(
    request: pytest.FixtureRequest, make_rpc_server: Callable[..., RPCServer]
) -> RPCServer:
    """A running RPCServer with the ``rpc_function_files`` functions, stopped after the test."""
    files = request.config.getini("rpc_function_files")
    return make_rpc_server(*files)
