"""What is particular to the blocking Client; test_client_cases.py holds the cases it shares with
the AsyncClient."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import protocol.client
from protocol import Client
from tests.protocol.apis import Blocking
from tests.protocol.scripted import answer, peer
from tests.protocol.test_client_cases import (
    big_request_nobody_reads_times_out,
    big_request_reaches_a_slow_reader,
    connect_times_out_against_a_full_backlog,
)
from tests.protocol.wirehelp import packet


@pytest.fixture
def api() -> Blocking:
    return Blocking()


def test_call_returns_the_body_and_one_client_serves_many_calls() -> None:
    with peer(answer(packet(b"pong"))) as server:
        client = Client(server.node, timeout=2)
        assert [client.call("hello") for _ in range(3)] == [b"pong"] * 3
    assert repr(client) == f"Client({server.node!r}, timeout=2, mode='packet')"


def test_args_must_be_a_sequence() -> None:
    from protocol.errors import RequestError

    with pytest.raises(RequestError, match="args= must be a sequence"):
        Client(":1").call_full("f", "abc")


def test_constructor_checks_node_and_mode() -> None:
    from protocol.errors import AddressError, RequestError

    with pytest.raises(AddressError):
        Client("nonsense")
    with pytest.raises(RequestError):
        Client(":1", mode="xml")  # type: ignore[arg-type]
    client = Client("[::1]:3031", timeout=2)
    assert client.connect_timeout == 2 and client.node == "[::1]:3031"


def test_a_read_past_or_at_its_deadline_times_out_at_once_never_forever() -> None:
    # poll() waits forever for a negative timeout: a deadline that has passed, or is a few
    # nanoseconds away, must end the read, not make it wait for ever
    import select
    import time

    from protocol.waits import _recv

    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        poller = select.poll()
        poller.register(a, select.POLLIN)
        start = time.monotonic()
        for deadline in (start - 3, start, time.monotonic() + 1e-9, time.monotonic() + 0.02):
            with pytest.raises(TimeoutError):
                _recv(a, poller, deadline)
        assert time.monotonic() - start < 1
        b.sendall(b"x")
        assert _recv(a, poller, time.monotonic() + 1) == b"x"


class _SmallSendBuffer(socket.SocketType):
    """A socket whose kernel takes only a few KiB of a send at once."""

    __slots__ = ()

    def __init__(self, *args: int) -> None:
        super().__init__(*args)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


@pytest.fixture
def small_send_buffer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # on loopback a fresh socket takes a whole 64 KiB request in one send(); the rest of a
    # request that does not fit goes out under the deadline, which this makes happen
    monkeypatch.setattr(protocol.client, "_Socket", _SmallSendBuffer)
    yield


def test_a_request_sent_in_parts_reaches_a_slow_reader(
    api: Blocking, small_send_buffer: None
) -> None:
    big_request_reaches_a_slow_reader(api)


def test_a_request_sent_in_parts_to_nobody_times_out_on_time(
    api: Blocking, small_send_buffer: None
) -> None:
    big_request_nobody_reads_times_out(api)


def test_without_sock_nonblock_the_socket_is_made_non_blocking_by_hand(
    api: Blocking, monkeypatch: pytest.MonkeyPatch
) -> None:
    # macOS has no SOCK_NONBLOCK: the path it takes, exercised here. A connect left blocking
    # would hang on the full backlog instead of timing out after the connect timeout.
    monkeypatch.setattr(protocol.client, "_NONBLOCK", 0)
    connect_times_out_against_a_full_backlog(api)
    with peer(answer(packet(b"pong"))) as server:
        assert Client(server.node, timeout=2).call("hello") == b"pong"
