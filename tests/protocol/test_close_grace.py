"""A complete answer whose close has not come when the deadline does is still the answer, for
every client and both of the AsyncClient's paths (protocol.client._close_wait)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import protocol.aio
import protocol.aiopoll
import protocol.aiotransport
import protocol.client
from tests.protocol.apis import Async, Blocking
from tests.protocol.scripted import Peer, peer, read_request
from tests.protocol.wirehelp import packet


@pytest.fixture(params=["blocking", "asyncio", "uvloop", "asyncio-transport", "uvloop-transport"])
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Blocking]:
    # a grace far longer than the deadline, so that the deadline always comes first
    for module in (protocol.client, protocol.aiotransport, protocol.aiopoll):
        monkeypatch.setattr(module, "CLOSE_GRACE", 60.0)
    name = request.param
    if name == "blocking":
        yield Blocking()
        return
    if name.endswith("-transport"):
        monkeypatch.setattr(protocol.aio, "EPOLL", False)
    yield Async(use_uvloop=name.startswith("uvloop"))


def test_the_deadline_during_the_wait_for_the_close_keeps_the_answer(api: Blocking) -> None:
    def no_close(conn: Any, server: Peer) -> None:
        read_request(conn, server)
        conn.sendall(packet(b"kept open"))
        server.stopping.wait(10)

    with peer(no_close) as server:
        assert api.call(server.node, "hello", timeout=1.0) == b"kept open"
