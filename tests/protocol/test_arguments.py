"""Only str (sent as UTF-8) and bytes-like values are arguments; anything else is a RequestError
that names the argument and its type, raised before anything is sent (issue 17, item 1)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from protocol import AsyncGroupClient, Client, GroupClient, RequestError
from protocol.aio import AsyncClient, run
from protocol.server import serve_in_thread
from protocol.server.functions import FunctionTable
from protocol.wire import RequestEncoder, rpc_request

#: not arguments: what each would have become before (bytes(5) is five NUL bytes)
REFUSED: list[tuple[object, str]] = [
    (5, "int"),
    (1.5, "float"),
    (None, "NoneType"),
    (True, "bool"),
    ([1, 2], "list"),
    ({"a": 1}, "dict"),
    ("\ud800", "lone surrogate"),
]
ACCEPTED: list[tuple[object, bytes]] = [
    ("héllo", "héllo".encode()),
    (b"\x00\xff", b"\x00\xff"),
    (bytearray(b"ab"), b"ab"),
    (memoryview(b"cd"), b"cd"),
    ("\udcff", b"\xff"),  # a str decoded with surrogateescape sends its original bytes
]


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    """A listening socket that nobody accepts on: a connection attempt shows in its queue."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.setblocking(False)
        yield sock, f"127.0.0.1:{sock.getsockname()[1]}"


def nothing_connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def calls(node: str, value: Any) -> dict[str, Any]:
    """Every way a caller hands an argument (or a name) to the library."""
    return {
        "Client.call": lambda: Client(node).call("echo", value),
        "Client.call 2nd": lambda: Client(node).call("echo", "x", value),
        "Client.call_full": lambda: Client(node).call_full("echo", [value]),
        "Client.call name": lambda: Client(node).call(value),
        "AsyncClient.call": lambda: run(AsyncClient(node).call("echo", value)),
        "AsyncClient.call_full": lambda: run(AsyncClient(node).call_full("echo", [value])),
        "GroupClient.call": lambda: GroupClient(node).call("echo", value),
        "GroupClient.fan_out": lambda: GroupClient(node).fan_out("echo", value),
        "AsyncGroupClient.call": lambda: run(AsyncGroupClient(node).call("echo", value)),
        "rpc_request": lambda: rpc_request("echo", [value]),
        "rpc_request name": lambda: rpc_request(value),  # type: ignore[arg-type]
        "RequestEncoder": lambda: RequestEncoder()("echo", [value]),
    }


@pytest.mark.parametrize(("value", "what"), REFUSED, ids=[w for _, w in REFUSED])
def test_a_value_that_is_neither_text_nor_bytes_is_refused_before_sending(
    listener: tuple[socket.socket, str], value: object, what: str
) -> None:
    sock, node = listener
    for name, call in calls(node, value).items():
        with pytest.raises(RequestError) as caught:
            call()
        message = str(caught.value)
        if what == "lone surrogate":
            assert "lone surrogate" in message, name
        else:
            assert f"not {what}" in message, name
        assert "argument" in message or "function name" in message, name
        assert nothing_connected(sock), f"{name} connected for {what}"


def test_args_that_are_not_a_sequence_are_refused(listener: tuple[socket.socket, str]) -> None:
    sock, node = listener
    for args in (5, None, "abc", b"abc"):
        with pytest.raises(RequestError, match="args= must be a sequence"):
            Client(node).call_full("echo", args)  # type: ignore[arg-type]
    assert nothing_connected(sock)


def test_modifier2_must_be_a_small_int() -> None:
    for value in (1.0, "1", None, 256, -1):
        with pytest.raises(RequestError, match="modifier2"):
            rpc_request("f", modifier2=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "sent"), ACCEPTED, ids=[repr(v)[:12] for v, _ in ACCEPTED])
def test_text_and_bytes_like_values_are_sent(value: Any, sent: bytes) -> None:
    table = FunctionTable()
    table.register("echo", lambda *args: b"|".join(args))
    with serve_in_thread(table, threads=0) as server:
        assert Client(server.node).call("echo", value, "z") == sent + b"|z"
        assert run(AsyncClient(server.node).call("echo", value)) == sent
