"""call() against call_full(): the same body or the same error, whatever the peer does.

call() has its own path (protocol.client.Client._call_packet, protocol.aio, Reading): uWSGI's
usual answer, one whole packet in the first read and then the close, is taken without a
ResponseReader, and anything else goes to a reader fed from the first byte on. These cases hold
that path to what call_full(), read by a reader throughout, says about the same peer: the usual
answer, and every way an answer can be split, cut, followed, refused or late.
"""

from __future__ import annotations

import asyncio
import re
import select
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

import protocol.aio
import protocol.aiopoll
import protocol.aiotransport
import protocol.base
import protocol.client
from protocol import Client
from protocol.aio import AsyncClient, run
from protocol.errors import CallTimeout
from tests.protocol.scripted import Peer, answer, peer, read_request, reset_after, silent, trickle
from tests.protocol.wirehelp import large, packet


def _parts(*chunks: bytes, pause: float = 0.02) -> Callable[[socket.socket, Peer], None]:
    """A peer that writes ``chunks`` apart, as uWSGI writes a header and then the body."""

    def script(conn: socket.socket, server: Peer) -> None:
        read_request(conn, server)
        for chunk in chunks:
            conn.sendall(chunk)
            time.sleep(pause)

    return script


def _kept_open(conn: socket.socket, server: Peer) -> None:
    read_request(conn, server)
    conn.sendall(packet(b"kept open"))
    server.stopping.wait(5)


CASES: dict[str, tuple[Callable[[socket.socket, Peer], None], dict[str, Any]]] = {
    "usual": (answer(packet(b"Hello, world")), {}),
    "header, then body": (_parts(packet(b"split")[:4], packet(b"split")[4:]), {}),
    "body in parts": (_parts(packet(b"abcdef")[:6], packet(b"abcdef")[6:]), {}),
    "large form": (answer(large(b"big answer")), {}),
    "no byte": (answer(b""), {}),
    "reset, no byte": (reset_after(b""), {}),
    "reset after 3 bytes": (reset_after(b"\xad\x09\x00"), {}),
    "truncated": (answer(b"\xad\x09\x00\x00abc"), {}),
    "modifier2 7": (answer(b"\xad\x02\x00\x07hi"), {}),
    "empty packet": (answer(b"\xad\x00\x00\x00"), {}),
    "HTTP": (answer(b"HTTP/1.1 400 Bad Request\r\n\r\n"), {}),
    "bytes after, same write": (answer(packet(b"hi") + b"!"), {}),
    "bytes after, later": (_parts(packet(b"hi"), b"!"), {}),
    "over the cap": (answer(packet(b"x" * 1000)), {"max_response": 100}),
    "at the cap": (answer(packet(b"x" * 100)), {"max_response": 100}),
    "raw mode": (answer(b"raw bytes"), {"mode": "raw"}),
    "kept open": (_kept_open, {}),
    "silent": (silent, {"timeout": 0.3}),
    "trickle": (trickle, {"timeout": 0.3}),
    "arguments": (answer(packet(b"with args")), {"args": ("a", b"b")}),
    "bytes name": (answer(packet(b"bytes name")), {"function": b"hello"}),
    "bytearray name": (answer(packet(b"bytearray")), {"function": bytearray(b"hello")}),
}


def _steady(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes that come after a whole answer, in a later read, are seen only within the close
    grace: a peer's 20 ms pause can outlast the 50 ms grace on a busy machine, and then one call
    saw them and the other did not. For that case the grace is long enough to see them always
    (the peer closes right after them, so no call waits it out)."""
    if case == "bytes after, later":
        for module in (protocol.client, protocol.aiopoll, protocol.aiotransport):
            monkeypatch.setattr(module, "CLOSE_GRACE", 5.0)


def _outcome(do: Callable[[], bytes]) -> object:
    try:
        return do()
    except Exception as exc:
        return type(exc), str(exc)


def _both(kind: str, node: str, options: dict[str, Any]) -> tuple[object, object]:
    options = dict(options)
    function = options.pop("function", "hello")
    args = options.pop("args", ())
    mode = options.pop("mode", None)
    if kind == "blocking":
        client = Client(node, **options)
        first = _outcome(lambda: client.call(function, *args, mode=mode))
        second = _outcome(lambda: client.call_full(function, args, mode=mode).body)
        return first, second
    aclient = AsyncClient(node, **options)

    async def both() -> tuple[object, object]:
        results = []
        for do in (
            lambda: aclient.call(function, *args, mode=mode),
            lambda: aclient.call_full(function, args, mode=mode),
        ):
            try:
                got = await do()
                results.append(got if isinstance(got, bytes) else got.body)  # type: ignore[union-attr]
            except Exception as exc:
                results.append((type(exc), str(exc)))
        return results[0], results[1]

    return run(both(), use_uvloop=kind.startswith("uvloop"))


def _uncounted(outcome: object) -> object:
    """An error outcome without its "(N bytes received)"."""
    if isinstance(outcome, tuple):
        return outcome[0], re.sub(r" \(\d+ bytes? received\)", "", outcome[1])
    return outcome


@pytest.mark.parametrize("kind", ["blocking", "asyncio", "uvloop", "uvloop-transport"])
@pytest.mark.parametrize("case", list(CASES))
def test_call_says_what_call_full_says(
    kind: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind.endswith("-transport"):
        monkeypatch.setattr(protocol.aio, "EPOLL", False)
    _steady(case, monkeypatch)
    script, options = CASES[case]
    with peer(script) as server:
        first, second = _both(kind, server.node, options)
        again, _ = _both(kind, server.node, options)  # the request kept from the first call
    if case == "trickle":  # how many bytes came by the deadline is the machine's timing
        first, second, again = (_uncounted(outcome) for outcome in (first, second, again))
        assert isinstance(first, tuple) and first[0] is CallTimeout
    assert first == second == again
    if case in ("usual", "header, then body", "body in parts", "large form", "kept open"):
        assert isinstance(first, bytes) and first


class _AnswerFirst(socket.SocketType):
    """A socket whose send() returns once the peer's answer (or its close) is in, or after
    0.2 s: what a call sees when the server shares its core and answers at once, so that
    call()'s early read (protocol.base._EARLY_ON) finds what the peer sent by then."""

    def send(self, data: Any, *flags: int) -> int:
        sent = super().send(data, *flags)
        waiter = select.poll()
        waiter.register(self, select.POLLIN)
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


class _AnswerAndClose(socket.SocketType):
    """A socket whose send() returns once the peer has answered and closed (or after 0.2 s)."""

    def send(self, data: Any, *flags: int) -> int:
        sent = super().send(data, *flags)
        waiter = select.poll()
        waiter.register(self, select.POLLRDHUP)
        waiter.poll(200)
        return sent


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
