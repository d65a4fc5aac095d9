"""call()'s early read (protocol.base._EARLY_ON): right after the send, before it waits, call()
reads once, and a server that shares the client's core has usually answered by then. Whatever
that read finds, the outcome is call_full()'s (every case of test_call_path.py again, with a
socket whose send returns once the peer has answered); the score that turns early reads off
after misses and back on; and a call answered at once still lets the event loop run.
"""

from __future__ import annotations

import asyncio
import select
import socket
import time
from typing import Any

import pytest

import protocol.aio
import protocol.base
import protocol.client
from protocol import Client
from protocol.aio import AsyncClient, run
from protocol.errors import CallTimeout
from tests.protocol.scripted import Peer, answer, peer, read_request
from tests.protocol.test_call_path import CASES, _both, _steady, _uncounted
from tests.protocol.wirehelp import packet


class _AnswerFirst(socket.SocketType):
    """A socket whose send() returns once the peer's answer (or its close) is in, or after
    0.2 s: what a call sees when the server shares its core and answers at once, so that
    call()'s early read (protocol.base._EARLY_ON) finds what the peer sent by then."""

    #: what send() waits for on the socket after sending
    AFTER_SEND = select.POLLIN

    def send(self, data: Any, *flags: int) -> int:
        sent = super().send(data, *flags)
        waiter = select.poll()
        waiter.register(self, self.AFTER_SEND)
        waiter.poll(200)
        return sent


@pytest.mark.parametrize("kind", ["blocking", "asyncio", "uvloop"])
@pytest.mark.parametrize("case", list(CASES))
def test_an_early_read_says_what_call_full_says(
    kind: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """call() reads at once after the send, before it waits: whatever that read finds (the
    usual answer, part of it, a close, a reset, nothing yet), the outcome is call_full()'s."""
    monkeypatch.setattr(protocol.client, "_Socket", _AnswerFirst)
    monkeypatch.setattr(protocol.aio, "_Socket", _AnswerFirst)
    _steady(case, monkeypatch)
    script, options = CASES[case]
    with peer(script) as server:
        first, second = _both(kind, server.node, options)
        again, _ = _both(kind, server.node, options)
    if case == "trickle":
        first, second, again = (_uncounted(outcome) for outcome in (first, second, again))
        assert isinstance(first, tuple) and first[0] is CallTimeout
    assert first == second == again


def _late(conn: socket.socket, server: Peer) -> None:
    read_request(conn, server)
    time.sleep(0.05)  # later than the client's read right after its send, even on a busy machine
    conn.sendall(packet(b"late"))


def _scores(kind: str, node: str, calls: int) -> list[int]:
    """The client's early-read score after each of ``calls`` calls."""
    scores = []
    if kind == "blocking":
        client = Client(node)
        for _ in range(calls):
            client.call("hello")
            scores.append(client._early)
        return scores
    aclient = AsyncClient(node)

    async def main() -> None:
        for _ in range(calls):
            await aclient.call("hello")
            scores.append(aclient._early)

    run(main(), use_uvloop=kind == "uvloop")
    return scores


@pytest.mark.parametrize("kind", ["blocking", "asyncio", "uvloop"])
def test_early_reads_stop_when_they_find_nothing_and_come_back(kind: str) -> None:
    """A read that finds nothing costs a system call and an exception: after a few misses
    call() waits without trying, and tries again now and then."""
    on, miss, off = (
        protocol.base._EARLY_ON,
        protocol.base._EARLY_MISS,
        protocol.base._EARLY_OFF,
    )
    with peer(_late) as server:
        scores = _scores(kind, server.node, 39)
    used_up = [on - miss, on - 2 * miss, on - 3 * miss, off]
    assert scores == [*used_up, *range(off + 1, 2), off, off + 1]


@pytest.mark.parametrize("kind", ["blocking", "asyncio", "uvloop"])
def test_an_early_read_that_finds_the_answer_keeps_reading_early(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """...and when the answer is there at once, the call keeps reading early."""
    monkeypatch.setattr(protocol.client, "_Socket", _AnswerFirst)
    monkeypatch.setattr(protocol.aio, "_Socket", _AnswerFirst)
    with peer(answer(packet(b"Hello, world"))) as server:
        scores = _scores(kind, server.node, 5)
    assert scores == [protocol.base._EARLY_ON] * 5


class _AnswerAndClose(_AnswerFirst):
    """A socket whose send() returns once the peer has answered and closed (or after 0.2 s)."""

    AFTER_SEND = select.POLLRDHUP


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_a_call_answered_at_once_still_lets_the_loop_run(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An early read that finds the answer ends the call without waiting for it, but the call
    still lets the loop run once: other tasks go on, and a loop of calls can be cancelled."""
    monkeypatch.setattr(protocol.aio, "_Socket", _AnswerAndClose)
    with peer(answer(packet(b"Hello, world"))) as server:
        aclient = AsyncClient(server.node)

        async def main() -> tuple[int, int]:
            ticks = calls = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.ensure_future(ticker())
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    while True:
                        assert await aclient.call("hello") == b"Hello, world"
                        calls += 1
            task.cancel()
            return ticks, calls

        ticks, calls = run(main(), use_uvloop=kind == "uvloop")
    assert calls > 0 and ticks >= calls
    assert aclient._early == protocol.base._EARLY_ON
