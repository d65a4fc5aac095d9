"""The bundled server in-process (serve_in_thread), driven by protocol.Client and raw sockets."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import Client
from protocol.errors import NoResult, UsageError
from protocol.server import BackgroundServer, Event, format_event, serve_in_thread
from protocol.server.listen import BindError
from tests.conftest import DEMO_FUNCTIONS, EXAMPLE_FUNCTIONS
from tests.peers import short_tmpdir
from tests.server.events import Recorder, demo_table


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[BackgroundServer, Recorder]]:
    recorder = Recorder()
    with serve_in_thread(demo_table(), socket_timeout=0.5, on_event=recorder) as server:
        yield server, recorder


def raw(node: str, data: bytes, *, shut: bool = False) -> tuple[bytes, str]:
    host, port = node.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except ConnectionResetError:
            return out, "reset"
        return out, "close"


def test_calls_through_the_client(bundled_node: str) -> None:
    client = Client(bundled_node)
    assert client.call("hello", "a", "b") == b"Hello, a b"
    assert client.call("hello", "raw", mode="raw") == b"Hello, raw"
    assert len(client.call("big", "100000")) == 100000
    assert client.call_full("big", ["70000"]).response.large
    assert client.ping().warning is None
    with pytest.raises(NoResult):
        client.call("fail")


def test_every_call_is_logged_with_its_reason(recorded: tuple[BackgroundServer, Recorder]) -> None:
    server, recorder = recorded
    start = len(recorder.events)
    client = Client(server.node)
    client.call("upper", "abc")
    for name in ("text", "no_such"):
        with pytest.raises(NoResult):
            client.call(name)
    events = recorder.wait_for(start + 3)[start:]
    assert [(e.kind, e.function, e.sent, e.reason) for e in events] == [
        ("rpc", b"upper", 7, None),
        ("rpc", b"text", 0, "returned str, not bytes"),
        ("rpc", b"no_such", 0, "unknown function 'no_such'"),
    ]
    line = format_event(events[1])
    assert line.startswith(events[1].peer + " text() -> 0-byte close: returned str, not bytes")


def test_rejections_and_timeouts_are_logged(recorded: tuple[BackgroundServer, Recorder]) -> None:
    server, recorder = recorded
    start = len(recorder.events)
    assert raw(server.node, b"\xad\x88\x13\x00" + b"x" * 5000) == (b"", "reset")
    # an incomplete request: closed after --socket-timeout (0.5 s here), nothing sent
    assert raw(server.node, b"\xad\x10\x00\x00abc") == (b"", "close")
    assert raw(server.node, b"\xad\x10", shut=True) == (b"", "close")
    events = recorder.wait_for(start + 3)[start:]
    kinds = sorted(e.kind for e in events)
    assert kinds == ["incomplete", "rejected", "timeout"]
    rejected = next(e for e in events if e.kind == "rejected")
    assert rejected.reason == "request body of 5000 bytes is over --buffer-size 4096"
    assert "connection reset" in format_event(rejected)
    timeout = next(e for e in events if e.kind == "timeout")
    assert "--socket-timeout 0.5s (7 bytes)" in (timeout.reason or "")


def test_a_slow_call_does_not_block_others(bundled_node: str) -> None:
    slow_done = threading.Event()

    def slow() -> None:
        Client(bundled_node, timeout=30).call("sleep", "2")
        slow_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        for _ in range(20):
            assert Client(bundled_node).call("hello") == b"Hello, world"
        # twenty calls were answered while the sleep was still running
        assert not slow_done.is_set()
    finally:
        thread.join()


def test_a_silent_client_does_not_block_others(bundled_node: str) -> None:
    host, port = bundled_node.rsplit(":", 1)
    silent = [socket.create_connection((host, int(port))) for _ in range(20)]
    try:
        silent[0].sendall(b"\xad\x10")  # half a header, then nothing
        assert Client(bundled_node).call("echo", "still", "served") == b"still served"
    finally:
        for sock in silent:
            sock.close()


def test_threads_zero_runs_in_the_loop() -> None:
    with serve_in_thread(demo_table(), threads=0) as server:
        assert Client(server.node).call("upper", "x") == b"X"
        assert server.server.workers is None


def test_unix_and_abstract_sockets() -> None:
    directory = short_tmpdir()
    path = str(directory / "rpc.sock")
    name = f"@rpccli-test-server-{os.getpid()}"
    with serve_in_thread(demo_table(), (path, name, "127.0.0.1:0")) as server:
        assert server.nodes[:2] == [path, name]
        assert server.nodes[2].startswith("127.0.0.1:")
        for node in server.nodes:
            assert Client(node).call("hello", node) == b"Hello, " + node.encode()
        assert Path(path).exists()
    assert not Path(path).exists()  # removed on close


def test_stale_unix_socket_is_replaced_but_a_live_one_is_not() -> None:
    path = str(short_tmpdir() / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: left over from a killed server
    with serve_in_thread(demo_table(), (path,)) as server:
        assert Client(server.node).call("hello") == b"Hello, world"
        with pytest.raises(BindError, match="another server is listening there"):
            serve_in_thread(demo_table(), (path,))


def test_bind_errors_are_usage_errors() -> None:
    with (
        serve_in_thread(demo_table()) as server,
        pytest.raises(BindError, match=f"cannot listen on {server.node}: address already in use"),
    ):
        serve_in_thread(demo_table(), (server.node,))
    regular = short_tmpdir() / "file"
    regular.write_text("x")
    with pytest.raises(BindError, match="not a socket is in the way"):
        serve_in_thread(demo_table(), (str(regular),))
    with pytest.raises(UsageError):
        serve_in_thread(demo_table(), ("not a node",))


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:  # pragma: no cover - every CI box has ::1
        return
    try:
        server = serve_in_thread(demo_table(), ("[::1]:0",))
    except BindError:  # pragma: no cover - a container without IPv6
        return
    with server:
        assert server.node.startswith("[::1]:")
        assert Client(server.node).call("hello", "v6") == b"Hello, v6"


def test_close_is_idempotent_and_stops_serving() -> None:
    server = serve_in_thread(demo_table())
    node = server.node
    server.close()
    server.close()
    with pytest.raises(Exception, match="refused"):
        Client(node, timeout=2).call("hello")


def test_examples_override_demo_functions(tmp_path: Path) -> None:
    table = demo_table()
    table.load_file(EXAMPLE_FUNCTIONS)
    assert table.source("hello") == str(EXAMPLE_FUNCTIONS)
    assert table.source("binary") == str(DEMO_FUNCTIONS)


def test_format_event_lines() -> None:
    peer = "127.0.0.1:5000"
    # the RESULT's size, as the client reports it, whatever the framing
    ok = Event(peer, "rpc", 173, 0, b"hello", (b"a",), sent=12, size=8, total=12, elapsed=0.0012)
    assert format_event(ok) == "127.0.0.1:5000 hello('a') -> 8 bytes (1.2 ms)"
    raw_ok = Event(peer, "rpc", 173, 1, b"hello", (), sent=8, size=8, total=8, elapsed=0.001)
    assert format_event(raw_ok) == "127.0.0.1:5000 hello() raw -> 8 bytes (1.0 ms)"
    large = Event(peer, "rpc", 173, 0, b"big", (b"100000",), sent=100029, size=100000, total=100029)
    assert (
        format_event(large) == "127.0.0.1:5000 big('100000') -> 100000 bytes (large form, 0.0 ms)"
    )
    cut = Event(peer, "rpc", 173, 1, b"big", (b"9000",), sent=4000, size=9000, total=9000)
    assert "big('9000') raw -> 9000 bytes (cut short: 4000 of 9000 bytes sent, 0.0 ms)" in (
        format_event(cut)
    )
    many = Event(peer, "rpc", 173, 0, b"argc", (b"x",) * 10, sent=6)
    assert "argc('x', 'x', 'x', 'x', ... (10 args))" in format_event(many)
    ping = Event(peer, "ping", 100, 0, sent=9, reason="hello")
    assert format_event(ping) == "127.0.0.1:5000 ping -> warning 'hello'"
    http = Event(peer, "http", 173, 2, b"nope", (), sent=80, reason="unknown function 'nope'")
    assert "HTTP nope() -> 80 bytes HTTP (unknown function 'nope'" in format_event(http)


def test_loop_writes_big_answers_without_blocking() -> None:
    """threads=0: a big answer to a client that reads late is finished by the event loop."""
    recorder = Recorder()
    with serve_in_thread(demo_table(), threads=0, on_event=recorder) as server:
        host, port = server.node.rsplit(":", 1)
        lazy = socket.create_connection((host, int(port)))
        lazy.sendall(rpc_bytes(b"big", b"3000000"))
        # the loop still serves others while that answer waits in the socket
        assert Client(server.node).call("hello") == b"Hello, world"
        data = b""
        while chunk := lazy.recv(1 << 20):
            data += chunk
        lazy.close()
        assert len(data) == 3000000 + 4 + 23 + 2  # header + CONTENT_LENGTH vars block
        events = recorder.wait_for(2)
        assert {(e.function, e.sent) for e in events} >= {(b"big", len(data))}


def test_a_client_that_never_reads_is_dropped_after_the_timeout() -> None:
    recorder = Recorder()
    options = {"threads": 0, "socket_timeout": 0.3, "on_event": recorder}
    with serve_in_thread(demo_table(), **options) as server:  # type: ignore[arg-type]
        host, port = server.node.rsplit(":", 1)
        stuck = socket.create_connection((host, int(port)))
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(rpc_bytes(b"big", b"20000000"))
        (event,) = recorder.wait_for(1)
        assert event.kind == "timeout" and "answer cut short" in (event.reason or "")
        stuck.close()


def rpc_bytes(*items: bytes) -> bytes:
    from protocol.wire import rpc_request

    return rpc_request(items[0], list(items[1:]))


def test_peer_text() -> None:
    from protocol.server.connection import peer_text

    assert peer_text(("127.0.0.1", 5), "x") == "127.0.0.1:5"
    assert peer_text(("::1", 5, 0, 0), "x") == "[::1]:5"
    assert peer_text("", "/run/rpc.sock") == "/run/rpc.sock client"


def test_close_drops_an_answer_still_being_written_and_logs_it() -> None:
    """threads=0: the loop writes a big answer to a client that does not read; close() (no
    grace) ends it and logs the call as dropped, with how much of it went out."""
    recorder = Recorder()
    server = serve_in_thread(demo_table(), threads=0, on_event=recorder)
    host, port = server.node.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(rpc_bytes(b"big", b"20000000"))
        assert stuck.recv(1)  # the answer is on its way: the loop is writing it
        server.close()
        (event,) = recorder.wait_for(1)
    assert event.kind == "dropped" and event.function == b"big"
    assert 0 < event.sent < 20000000
    assert format_event(event).startswith(
        f"{event.peer} big('20000000') -> dropped: still running when the server stopped ("
    )
