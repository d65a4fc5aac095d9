"""Client behaviour against scripted loopback peers, the same cases for every client.

The ``api`` fixture runs each case with the blocking Client and with the AsyncClient on asyncio's
loop and on uvloop, so all of them are held to exactly the same cases and messages. test_client.py
and test_aio.py hold what is particular to one client.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import pytest

from protocol.client import CallResult, PingResult
from protocol.errors import (
    CallError,
    CallTimeout,
    ConnectError,
    NoResult,
    ProtocolError,
    RequestError,
    ResponseTooLarge,
)
from tests.peers import free_port, short_tmpdir
from tests.protocol.apis import Async, Blocking
from tests.protocol.scripted import (
    answer,
    fill_backlog,
    full_backlog,
    peer,
    read_request,
    reject_big_header,
    reset_after,
    silent,
    trickle,
)
from tests.protocol.wirehelp import large, packet

GOLDEN_HELLO = bytes.fromhex("ad 0e 00 00 05 00 68 65 6c 6c 6f 01 00 61 02 00 62 62")
#: generous: these tests prove that a deadline exists, never how precise it is
SLACK = 3.0


class API(Protocol):
    def call_full(
        self, node: str, function: str | bytes, args: Any = (), **kw: Any
    ) -> CallResult: ...

    def call(self, node: str, function: str | bytes, *args: str | bytes, **kw: Any) -> bytes: ...

    def ping(self, node: str, **kw: Any) -> PingResult: ...


@pytest.fixture(params=["blocking", "asyncio", "uvloop"])
def api(request: pytest.FixtureRequest) -> API:
    """The blocking Client, or the AsyncClient on asyncio's own loop or on uvloop."""
    if request.param == "blocking":
        return Blocking()
    return Async(use_uvloop=request.param == "uvloop")


def failure(api: API, node: str, function: str = "hello", *args: str | bytes, **kw: Any) -> Any:
    """Call, expect a CallError, check it names the node, and return it."""
    with pytest.raises(CallError) as info:
        api.call_full(node, function, args, **kw)
    assert node in str(info.value) and info.value.node == node
    assert "\n" not in str(info.value)
    return info.value


# ---- answers ----


@pytest.mark.parametrize("kind", ["tcp", "unix", "abstract", "abstract-plain"])
def test_packet_call_sends_the_golden_request(api: API, kind: str) -> None:
    with peer(answer(packet(b"Hello, a bb")), kind) as server:
        result = api.call_full(server.node, "hello", ["a", "bb"])
        assert server.requests == [GOLDEN_HELLO]
    assert result.body == b"Hello, a bb" and result.node == server.node
    assert result.request == GOLDEN_HELLO
    assert result.response.header is not None and not result.response.large
    timings = result.timings
    assert 0 <= timings.connect <= timings.first_byte <= timings.total


def test_raw_mode_reads_until_close(api: API) -> None:
    with peer(answer(b"\x00raw\xff")) as server:
        assert api.call(server.node, "hello", "a", "bb", mode="raw") == b"\x00raw\xff"
        assert server.requests == [GOLDEN_HELLO[:3] + b"\x01" + GOLDEN_HELLO[4:]]


def test_large_form(api: API) -> None:
    body = bytes(range(256)) * 400
    with peer(answer(large(body))) as server:
        result = api.call_full(server.node, "big")
    assert result.body == body and result.response.large


def test_modifier2_override_is_read_raw(api: API) -> None:
    with peer(answer(b"HTTP/1.0 200 OK\r\n\r\nhi")) as server:
        result = api.call_full(server.node, "hello", modifier2=2)
        assert server.requests[0][3] == 2
    assert result.body.endswith(b"hi") and result.response.header is None


def test_ping(api: API) -> None:
    with peer(answer(b"\x64\x00\x00\x01")) as server:
        result = api.ping(server.node)
        assert server.requests == [b"\x64\x00\x00\x00"]
    assert result.warning is None and result.node == server.node
    with peer(answer(b"\x64\x04\x00\x01full")) as server:
        assert api.ping(server.node).warning == "full"


def test_localhost_is_resolved(api: API) -> None:
    with peer(answer(packet(b"ok"))) as server:
        port = server.node.rpartition(":")[2]
        # localhost may resolve to ::1 first, where nothing listens: every address is tried
        assert api.call(f"localhost:{port}", "hello") == b"ok"


# ---- failures ----


def test_refused(api: API) -> None:
    node = f"127.0.0.1:{free_port()}"
    error = failure(api, node)
    assert isinstance(error, ConnectError)
    assert str(error) == f"cannot connect to {node}: refused"


def test_no_such_unix_socket(api: API) -> None:
    node = str(short_tmpdir() / "missing.sock")
    error = failure(api, node)
    assert isinstance(error, ConnectError) and "no such socket" in str(error)
    assert isinstance(failure(api, "@rpccli-nobody-listens-here"), ConnectError)


def test_trickling_peer_hits_the_whole_call_deadline(api: API) -> None:
    with peer(trickle) as server:
        start = time.monotonic()
        # a byte every 0.2 s: no single read waits as long as the 0.5 s the whole call may take
        error = failure(api, server.node, timeout=0.5)
        elapsed = time.monotonic() - start
    assert isinstance(error, CallTimeout) and error.sent
    assert "within 0.5s" in str(error) and "bytes received" in str(error)
    assert elapsed < 0.5 + SLACK


def test_silent_peer_times_out(api: API) -> None:
    with peer(silent) as server:
        start = time.monotonic()
        error = failure(api, server.node, timeout=0.2)
        assert time.monotonic() - start < 0.2 + SLACK
    assert isinstance(error, CallTimeout) and "no complete answer" in str(error)
    with peer(silent) as server, pytest.raises(CallTimeout):
        api.ping(server.node, timeout=0.2)


def test_connect_timeout_against_a_full_backlog(api: API) -> None:
    connect_times_out_against_a_full_backlog(api)


def connect_times_out_against_a_full_backlog(api: API) -> None:
    """Shared with test_client.py, which runs it on the path without SOCK_NONBLOCK."""
    with full_backlog() as node:
        start = time.monotonic()
        error = failure(api, node, timeout=30, connect_timeout=0.3)
        elapsed = time.monotonic() - start
    assert isinstance(error, CallTimeout) and not error.sent
    assert str(error) == f"cannot connect to {node}: timed out after 0.3s"
    assert elapsed < 0.3 + SLACK


def test_a_connect_that_completes_late(api: API) -> None:
    # the peer's queue is full, so the client's SYN is dropped; the peer starts accepting after
    # 0.3 s and the kernel's SYN retry (about 1 s) gets through: the slow connect path
    def serve(conn: Any, server: Any) -> None:
        if read_request(conn, server):
            conn.sendall(packet(b"late"))

    with peer(serve, backlog=0, accept_after=0.3) as server:
        port = int(server.node.rpartition(":")[2])
        held = fill_backlog(("127.0.0.1", port))
        try:
            result = api.call_full(server.node, "hello", timeout=10, connect_timeout=8)
        finally:
            for sock in held:
                sock.close()
    assert result.body == b"late"
    assert result.timings.connect > 0.3


def test_close_without_a_byte_is_no_result(api: API) -> None:
    with peer(answer(b"")) as server:
        error = failure(api, server.node, "nosuch")
    assert type(error) is NoResult
    assert "nosuch is not registered there, raised, or returned nothing" in str(error)
    # the two commonest first-day causes, and how to tell them (issue 15, item 4)
    assert "--plugins rpc,python3" in error.hint and "must return bytes" in error.hint
    with peer(answer(b"")) as server:
        error = failure(api, server.node, "nosuch", mode="raw")
    assert type(error) is NoResult


def test_reset_without_a_byte_is_no_result(api: API) -> None:
    with peer(reset_after(b"")) as server:
        error = failure(api, server.node, "hello")
    assert type(error) is NoResult
    assert f"connection reset by {server.node}; no result" in str(error)


def test_reset_after_some_bytes_is_a_protocol_error(api: API) -> None:
    with peer(reset_after(b"\xad\x09\x00")) as server:
        error = failure(api, server.node)
    assert type(error) is ProtocolError and "connection reset after 3 bytes" in str(error)


def test_truncated_and_malformed_answers(api: API) -> None:
    with peer(answer(b"\xad\x09\x00\x00abc")) as server:
        error = failure(api, server.node)
    assert type(error) is ProtocolError and "truncated" in str(error)
    with peer(answer(b"\xad\x02\x00\x07hi")) as server:
        error = failure(api, server.node)
    assert type(error) is ProtocolError and "modifier2 7" in str(error)
    with peer(answer(b"\x64\x00\x00\x07")) as server, pytest.raises(ProtocolError) as info:
        api.ping(server.node)
    assert server.node in str(info.value)


# the request body is over uWSGI's default 4096-byte buffer (docs/protocol.md#buffer-size)
BIG_ARG = b"x" * 5000
BIG_CAUSE = (
    "the 5008-byte request is over the server's --buffer-size, 4096 by default: "
    "start uWSGI with --buffer-size 65535"
)


def test_buffer_size_hint_when_a_big_request_is_reset(api: API) -> None:
    with peer(reject_big_header) as server:
        error = failure(api, server.node, "echo", BIG_ARG)
    # the real cause leads, alone (no glued no-result text); body = 2 + 4 + 2 + 5000 bytes
    assert isinstance(error, NoResult) and str(error) in (
        f"{server.node} reset the connection ({BIG_CAUSE})",
        f"no result from {server.node} ({BIG_CAUSE})",  # the peer's close won the race
    )
    assert error.hint == BIG_CAUSE  # .hint holds the cause, as docs/library.md says


def test_buffer_size_hint_when_a_big_request_gets_no_bytes(api: API) -> None:
    with peer(answer(b"")) as server:
        error = failure(api, server.node, "echo", BIG_ARG)
        assert len(server.requests[0]) == 4 + 2 + 4 + 2 + 5000
    assert type(error) is NoResult and str(error) == f"no result from {server.node} ({BIG_CAUSE})"
    assert (error.detail, error.hint) == (f"no result from {server.node}", BIG_CAUSE)


def test_a_big_request_reaches_a_slow_reader_whole(api: API) -> None:
    big_request_reaches_a_slow_reader(api)


def big_request_reaches_a_slow_reader(api: API) -> None:
    """The peer reads late through a small buffer, so the request waits in the kernels for it
    (test_client.py also makes the client's kernel take it in parts)."""

    def late_reader(conn: Any, server: Any) -> None:
        time.sleep(0.3)
        conn.sendall(packet(str(len(read_request(conn, server))).encode()))

    with peer(late_reader, rcvbuf=4096) as server:
        assert api.call(server.node, "echo", b"x" * 60000) == b"60012"
        assert server.requests[0].endswith(b"x" * 60000)


def test_a_big_request_nobody_reads_times_out_on_time(api: API) -> None:
    big_request_nobody_reads_times_out(api)


def big_request_nobody_reads_times_out(api: API) -> None:
    """Shared with test_client.py, which makes the client's kernel take the request in parts."""

    def never_reads(conn: Any, server: Any) -> None:
        server.stopping.wait(10)

    with peer(never_reads, rcvbuf=4096) as server:
        start = time.monotonic()
        error = failure(api, server.node, "echo", b"x" * 60000, timeout=0.2)
        elapsed = time.monotonic() - start
    assert isinstance(error, CallTimeout) and elapsed < 0.2 + SLACK


def test_a_control_character_in_the_function_name_is_escaped(api: API) -> None:
    with peer(answer(b"")) as server:
        error = failure(api, server.node, "hel\x01lo\x1b[2J")
    assert "'hel\\x01lo\\x1b[2J' is not registered there" in str(error)


def test_response_cap(api: API) -> None:
    with peer(answer(packet(b"x" * 1000))) as server:
        error = failure(api, server.node, max_response=100)
    assert isinstance(error, ResponseTooLarge) and "1000 bytes, over the limit of 100" in str(error)
    with peer(answer(b"y" * 1000)) as server:
        error = failure(api, server.node, max_response=100, mode="raw")
    assert isinstance(error, ResponseTooLarge)
    with peer(answer(packet(b"x" * 100))) as server:
        assert api.call(server.node, "hello", max_response=100) == b"x" * 100


def test_bad_requests_send_nothing(api: API) -> None:
    def count(conn: Any, server: Any) -> None:
        read_request(conn, server)

    with peer(count) as server:
        with pytest.raises(RequestError, match="255 arguments"):
            api.call_full(server.node, "f", ["a"] * 255)
        with pytest.raises(RequestError, match="empty"):
            api.call_full(server.node, "f", ["a", ""])
        with pytest.raises(RequestError, match="unknown mode"):
            api.call_full(server.node, "f", mode="xml")
        time.sleep(0.1)
        assert server.requests == []


def test_bytes_after_a_complete_answer_are_a_protocol_error(api: API) -> None:
    def late_bytes(conn: Any, server: Any) -> None:
        read_request(conn, server)
        conn.sendall(packet(b"hi"))
        time.sleep(0.01)
        conn.sendall(b"!")

    with peer(late_bytes) as server:
        error = failure(api, server.node)
    assert type(error) is ProtocolError and "unexpected bytes after the end" in str(error)


def test_a_server_that_keeps_the_connection_open_still_answers(api: API) -> None:
    def no_close(conn: Any, server: Any) -> None:
        read_request(conn, server)
        conn.sendall(packet(b"kept open"))
        server.stopping.wait(5)

    with peer(no_close) as server:
        # the client waits only a short grace for the close (docs/protocol.md#responses: uWSGI
        # always closes)
        start = time.monotonic()
        assert api.call(server.node, "hello", timeout=5) == b"kept open"
        assert time.monotonic() - start < 2.5  # the grace, not the 5 s deadline
