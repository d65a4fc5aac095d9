"""The AsyncClient's transport path held to every case of test_client_cases.py.

On Linux a plain call goes through the loop's epoll (protocol.aiopoll); TLS, and systems
without epoll, use an asyncio transport. Both must say exactly the same thing about the same
failure, so every shared case runs here again with the epoll path switched off, on asyncio's
loop and on uvloop (test_client_cases.py runs them on the epoll path).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import protocol.aio
from tests.protocol.apis import Async
from tests.protocol.test_client_cases import *  # noqa: F403  (collected here again, with the api below)
from tests.protocol.test_client_cases import API


@pytest.fixture(params=["asyncio", "uvloop"], ids=lambda name: f"{name}-transport")
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[API]:
    """The AsyncClient with its epoll path off: an asyncio transport for every call."""
    monkeypatch.setattr(protocol.aio, "EPOLL", False)
    yield Async(use_uvloop=request.param == "uvloop")
