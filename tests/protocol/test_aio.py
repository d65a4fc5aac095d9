"""What is particular to the AsyncClient; test_client_cases.py holds the cases it shares with the
blocking Client."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from protocol.aio import AsyncClient, new_event_loop, run
from tests.peers import ROOT
from tests.protocol.scripted import Peer, answer, peer, silent
from tests.protocol.wirehelp import packet


def test_uvloop_is_used_when_installed() -> None:
    import uvloop

    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_concurrent_calls_on_one_loop() -> None:
    async def main(node: str) -> list[bytes]:
        client = AsyncClient(node)
        return list(await asyncio.gather(*(client.call("hello") for _ in range(20))))

    with peer(answer(packet(b"pong"))) as server:
        assert run(main(server.node)) == [b"pong"] * 20
        assert asyncio.run(main(server.node)) == [b"pong"] * 20


def test_a_call_can_be_cancelled() -> None:
    async def main(server: Peer) -> None:
        task = asyncio.ensure_future(AsyncClient(server.node, timeout=30).call("hello"))
        # cancelled mid-call: once the peer holds the whole request and answers nothing
        deadline = time.monotonic() + 10
        while not server.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert server.requests and not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with peer(silent) as server:
        asyncio.run(main(server))


def test_repr_and_package_attribute() -> None:
    import protocol

    assert protocol.AsyncClient is AsyncClient
    assert (
        repr(AsyncClient(":1", timeout=2)) == "AsyncClient('127.0.0.1:1', timeout=2, mode='packet')"
    )


def test_async_client_is_loaded_lazily_from_the_package() -> None:
    code = (
        "import sys, protocol\n"
        "before = 'asyncio' in sys.modules\n"
        "protocol.AsyncClient\n"
        "print(before, 'asyncio' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True"]
