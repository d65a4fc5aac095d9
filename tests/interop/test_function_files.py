"""Differential: real-world-shaped function files under real uWSGI and under `rpccli serve`.

Both sides load the same files from tests/interop/function_files/ with 2 processes; uWSGI runs
with --master --plugins signal,cache and the caches the files name. Every call, ping and signal
packet must get the same answer from both (docs/serve.md#the-uwsgi-api,
docs/protocol.md#other-packets).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from protocol.client import Client
from tests.peers import Uwsgi, start_uwsgi, wait_until
from tests.server.test_serve_cli import Served, serving

pytestmark = pytest.mark.interop

FILES = Path(__file__).parent / "function_files"
DECORATED = FILES / "decorated.py"
RULES = FILES / "cache_rules.py"
DJANGO = FILES / "mysite" / "rpc.py"
UWSGI_EXTRA = [
    "--plugins", "signal,cache",
    "--cache2", "name=default,items=100",
    "--cache2", "name=sessions,items=100",
]  # fmt: skip


def _real(path: Path) -> Uwsgi:
    return start_uwsgi(python=[path], lua=(), processes=2, extra=UWSGI_EXTRA)


@pytest.fixture(params=["uwsgi", "serve"])
def node_of(request: pytest.FixtureRequest) -> Iterator[object]:
    """A function that starts the given file on one side and returns its node."""
    started: list[Uwsgi] = []
    contexts: list[object] = []

    def start(path: Path) -> str:
        if request.param == "uwsgi":
            real = _real(path)
            started.append(real)
            return real.node
        ctx = serving("--no-demo", "-q", str(path), "--bind", "127.0.0.1:0", "--processes", "2")
        srv: Served = ctx.__enter__()
        contexts.append((ctx, srv))
        return srv.nodes[0]

    yield start
    for real in started:
        real.stop()
    for ctx, srv in contexts:
        srv.stop()  # SIGTERM: the parent stops its workers, which hold the log pipe too
        ctx.__exit__(None, None, None)  # type: ignore[attr-defined]


def raw(node: str, modifier1: int, modifier2: int, body: bytes = b"") -> bytes:
    host, port = node.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(struct.pack("<BHB", modifier1, len(body), modifier2) + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def both(path: Path) -> tuple[str, str, list[object]]:
    # the two servers start at once (each waits for its own sign of life), and stop at once
    with ThreadPoolExecutor(1) as other:
        starting = other.submit(_real, path)
        ctx = serving("--no-demo", "-q", str(path), "--bind", "127.0.0.1:0", "--processes", "2")
        srv = ctx.__enter__()
        try:
            real = starting.result()
        except BaseException:
            srv.stop()
            ctx.__exit__(None, None, None)
            raise
    return real.node, srv.nodes[0], [real, ctx, srv]


def _stop(things: list[object]) -> None:
    real, ctx, srv = things
    with ThreadPoolExecutor(1) as other:
        stopping = other.submit(real.stop)  # type: ignore[attr-defined]
        try:
            srv.stop()  # type: ignore[attr-defined]
            ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
        finally:
            stopping.result()


def test_cache_lock_and_signal_rules_are_uwsgis() -> None:
    real, ours, things = both(RULES)
    try:
        loaded = Client(real).call("loaded")
        assert loaded is not None and b"ValueError: unable to register signal" in loaded
        assert Client(ours).call("loaded") == loaded
        for _ in range(4):  # both workers, twice: re-registering in a worker is allowed
            rules = Client(real).call("rules")
            assert Client(ours).call("rules") == rules
        assert rules is not None and b"TypeError: a bytes-like object is required" in rules
    finally:
        _stop(things)


def test_django_style_module_with_an_import_guard() -> None:
    real, ours, things = both(DJANGO)
    try:
        for name in ("version", "under_uwsgi"):
            assert Client(ours).call(name) == Client(real).call(name)
        assert Client(ours).call("under_uwsgi") == b"yes"
    finally:
        _stop(things)


def test_decorators_signals_timer_and_shared_state(node_of) -> None:  # type: ignore[no-untyped-def]
    node = node_of(DECORATED)
    client = Client(node)
    assert client.call("hello") == b"hello world"
    assert client.call("locked", "x") == b"locked x"
    # numproc is 2 and both workers answer, with worker ids 1 and 2
    seen: set[bytes | None] = set()

    def both_answered() -> bool:
        seen.update(client.call("whoami") for _ in range(20))
        return len(seen) == 2

    wait_until(both_answered, timeout=10, what="both workers")  # a worker may start late
    assert seen == {b"1/2", b"2/2"}
    # @postfork ran in each worker; the cache is shared, so any worker sees both
    for _ in range(10):
        assert client.call("get", "postfork-1") == b"ran"
        assert client.call("get", "postfork-2") == b"ran"
    # the timer fires in the master and its handler writes the shared cache
    wait_until(lambda: client.call("get", "ticked") == b"yes", timeout=5, what="timer")
    # a signal raised inside a worker, to "workers": every worker runs the handler
    assert client.call("fire", "18") == b"fired"
    for wid in (1, 2):
        wait_until(lambda w=wid: client.call("get", f"sig18-{w}") == b"ran", timeout=5)
    # "active-workers" reaches each worker too, "worker2" only worker 2 (sent from outside)
    assert raw(node, 110, 20) == raw(node, 110, 19) == b"\xff\x00\x00\x01"
    for wid in (1, 2):
        wait_until(lambda w=wid: client.call("get", f"sig20-{w}") == b"ran", timeout=5)
    wait_until(lambda: client.call("get", "sig19-2") == b"ran", timeout=5, what="signal 19")
    assert client.call("get", "sig19-1") == b"-"
    # modifier1 110 from outside: registered, unregistered, 0 and 255 all answer ff 00 00 01
    for num in (17, 99, 0, 255):
        assert raw(node, 110, num) == b"\xff\x00\x00\x01"
    assert raw(node, 110, 17, b"ignored body") == b"\xff\x00\x00\x01"
    wait_until(lambda: client.call("get", "sig17") == b"17", timeout=5, what="signal 17")
    # the warning set in one worker is what every worker's ping answers
    assert client.call("warn", "disk almost full") == b"ok"
    for _ in range(40):
        assert raw(node, 100, 0) == b"\x64\x10\x00\x01disk almost full"
