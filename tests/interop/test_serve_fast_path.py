"""The accept fast path (docs/serve.md#concurrency): a whole request for a function the loop runs
itself is answered right after ``accept``, with no Connection. It must not change a byte.

Every function the conformance cases call is first proven quick (protocol/server/pace.py), so
that those cases go through the fast path: the same bytes and the same end of the connection as
real uWSGI, and the same log record as the Connection's way (the same request sent in two
pieces, so that the first read is not whole).
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest

import protocol.server.accept as accept_module
import protocol.server.pace as pace_module
import protocol.server.rescue as rescue_module
from protocol.server import BackgroundServer, Event, serve_in_thread
from protocol.server.connection import Connection
from protocol.server.functions import FunctionTable
from protocol.server.pace import PROVE
from tests.interop.test_conformance import CASES, exchange, http, rpc
from tests.peers import LUA_FUNCTIONS, PY_FUNCTIONS, Uwsgi, start_uwsgi

#: quick runs that may be owed after earlier slow ones (each slow run in the loop doubles PROVE)
MAX_PROVE_HERE = 64 * PROVE

pytestmark = pytest.mark.interop

#: quick calls that prove every function the cases call (``sleep`` is never quick enough)
WARM_UP = [
    rpc(b"hello"),
    rpc(b"upper", b"a"),
    rpc(b"echo", b"a"),
    rpc(b"argc"),
    rpc(b"big", b"10"),
    rpc(b"fail"),
    rpc(b"text"),
    rpc(b"empty"),
]


class Counting(Connection):
    """A Connection that counts the connections the fast path left to it."""

    __slots__ = ()
    made = 0

    sent: ClassVar[list[int]] = []

    def __init__(self, *args: object) -> None:
        type(self).made += 1
        super().__init__(*args)  # type: ignore[arg-type]

    @classmethod
    def answered(cls, *args: Any) -> None:
        cls.sent.append(args[6])  # what the fast path's one send took
        super().answered(*args)


@dataclasses.dataclass
class Warm:
    real: Uwsgi
    bundled: BackgroundServer
    events: list[Event]
    lock: threading.Lock


@pytest.fixture(scope="module")
def warm() -> Iterator[Warm]:
    real = start_uwsgi(python=(PY_FUNCTIONS,), lua=(LUA_FUNCTIONS,), extra=["--plugins", "signal"])
    events: list[Event] = []
    lock = threading.Lock()

    def log(event: Event) -> None:
        with lock:
            events.append(event)

    table = FunctionTable()
    table.load_file(PY_FUNCTIONS)
    bundled = serve_in_thread(table, ("127.0.0.1:0",), on_event=log)
    for request in WARM_UP:
        for _ in range(PROVE + 1):
            exchange(bundled.node, [request])
    try:
        yield Warm(real, bundled, events, lock)
    finally:
        bundled.close()
        real.stop()


@pytest.mark.parametrize("case", list(CASES))
def test_same_bytes_as_uwsgi_once_proven(warm: Warm, case: str) -> None:
    parts, options = CASES[case]
    real = exchange(warm.real.node, parts, **options)
    ours = exchange(warm.bundled.node, parts, **options)
    assert ours[1] == real[1], f"connection end differs: uWSGI {real[1]}, bundled {ours[1]}"
    assert ours[0] == real[0], (real[0][:200], ours[0][:200])


def _logged(warm: Warm, parts: Sequence[bytes]) -> tuple[bytes, str, Event]:
    # this connection's record, found by the client's port: the record of an earlier test's
    # connection can come after this one starts (the log is written after the answer)
    peer: list[str] = []
    got, end = exchange(warm.bundled.node, parts, pause=0.05, peers=peer)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with warm.lock:
            mine = [event for event in warm.events if event.peer == peer[0]]
        if mine:
            event = mine[-1]  # a port can come round again; the last one is this one
            break
        time.sleep(0.005)
    else:
        raise AssertionError(f"no log record for {peer[0]}")
    return got, end, dataclasses.replace(event, peer="", elapsed=0.0)


LOGGED = {
    "hello": rpc(b"hello", b"a", b"bb"),
    "raw": rpc(b"hello", b"raw", modifier2=1),
    "modifier2-7": rpc(b"hello", b"seven", modifier2=7),
    "raises": rpc(b"fail"),
    "returns-str": rpc(b"text"),
    "returns-empty": rpc(b"empty"),
    "nul-in-name": rpc(b"hello\x00junk", b"a"),
    "big-65535": rpc(b"big", b"65535"),
    "big-100000": rpc(b"big", b"100000"),
    "http": http(PATH_INFO=b"/hello/a/b"),
    "http-fail-404": http(PATH_INFO=b"/fail"),
    "http-big": http(PATH_INFO=b"/big/70000"),
}


@pytest.mark.parametrize("case", list(LOGGED))
def test_same_answer_and_log_record_as_the_connection(warm: Warm, case: str) -> None:
    request = LOGGED[case]
    fast = _logged(warm, [request])
    slow = _logged(warm, [request[:3], request[3:]])  # the first read is not whole
    assert fast == slow


def test_quick_calls_make_no_connection(warm: Warm, monkeypatch: pytest.MonkeyPatch) -> None:
    # On a busy machine a run of ``hello`` can take longer than QUICK (or look stuck to the
    # watchdog) when the server's thread is not scheduled, which sends it back to the threads by
    # design. Here no run counts as slow, and ``hello`` proves itself again before the count.
    monkeypatch.setattr(pace_module, "QUICK", 60.0)
    monkeypatch.setattr(rescue_module, "STUCK", 60.0)
    pace = warm.bundled.server.pace
    assert pace is not None
    for _ in range(MAX_PROVE_HERE):
        if pace.inline(b"hello"):
            break
        exchange(warm.bundled.node, [rpc(b"hello", b"x")])
    assert pace.inline(b"hello")
    monkeypatch.setattr(accept_module, "Connection", Counting)
    Counting.made = 0
    for _ in range(20):
        assert exchange(warm.bundled.node, [rpc(b"hello", b"x")]) == (
            b"\xad\x08\x00\x00Hello, x",
            "close",
        )
    assert Counting.made == 0
    # a request that is not whole at the first read still goes the Connection's way
    request = rpc(b"hello", b"x")
    assert exchange(warm.bundled.node, [request[:3], request[3:]], pause=0.05)[1] == "close"
    assert Counting.made == 1


def _slow_reader(node: str, request: bytes) -> bytes:
    """A client with a small receive buffer that reads only after a pause: the fast path's one
    send cannot take the whole answer, so the rest goes the Connection's way."""
    host, port = node.rsplit(":", 1)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect((host, int(port)))
        sock.sendall(request)
        time.sleep(0.3)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


@pytest.mark.parametrize("size", [b"20000", b"65535"])
def test_an_answer_cut_by_a_full_socket_is_finished_the_connections_way(
    warm: Warm, size: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[Event] = []
    table = FunctionTable()
    table.load_file(PY_FUNCTIONS)
    with serve_in_thread(table, ("127.0.0.1:0",), on_event=events.append) as server:
        for _ in range(PROVE + 1):
            exchange(server.node, [rpc(b"big", b"10")])
        # a send buffer the accepted sockets inherit, too small for the answer: the fast
        # path's one send takes only a part of it
        server.server.listeners[0].sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        monkeypatch.setattr(accept_module, "Connection", Counting)
        Counting.sent = []
        request = rpc(b"big", size)
        ours = _slow_reader(server.node, request)
        deadline = time.monotonic() + 5
        while len(events) <= PROVE + 1 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert ours == _slow_reader(warm.real.node, request)
    assert len(ours) == 4 + int(size)
    event = events[PROVE + 1]
    assert (event.kind, event.sent, event.total) == ("rpc", 4 + int(size), 4 + int(size))
    assert len(Counting.sent) == 1 and 0 < Counting.sent[0] < 4 + int(size)
