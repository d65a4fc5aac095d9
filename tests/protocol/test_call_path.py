"""call() against call_full(): the same body or the same error, whatever the peer does.

call() has its own path (protocol.client.Client._call_packet, protocol.aio, Reading): uWSGI's
usual answer, one whole packet in the first read and then the close, is taken without a
ResponseReader, and anything else goes to a reader fed from the first byte on. These cases hold
that path to what call_full(), read by a reader throughout, says about the same peer: the usual
answer, and every way an answer can be split, cut, followed, refused or late.
"""

from __future__ import annotations

import re
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
