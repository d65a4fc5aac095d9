"""Node groups as a public API: GroupClient and AsyncGroupClient (issue 17, item 4), and the
close()/context-manager support of every client (item 5)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from protocol import (
    AddressError,
    AsyncClient,
    AsyncGroupClient,
    Client,
    GroupClient,
    Health,
    NoResult,
    UsageError,
)
from protocol.aio import run
from protocol.server import serve_in_thread
from protocol.server.functions import FunctionTable


def named_table(name: str) -> FunctionTable:
    table = FunctionTable()
    table.register("whoami", lambda *args: name.encode() + b"".join(args))
    return table


@pytest.fixture
def nodes() -> Iterator[list[str]]:
    """Two bundled servers that answer ``whoami`` with their own name: a and b."""
    with ExitStack() as stack:
        yield [stack.enter_context(serve_in_thread(named_table(n), threads=0)).node for n in "ab"]


def dead_node() -> str:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return f"127.0.0.1:{sock.getsockname()[1]}"  # closed on return: connecting is refused


def test_round_robin_takes_the_nodes_in_turn_from_one_string(nodes: list[str]) -> None:
    client = GroupClient(",".join(nodes), strategy="round-robin", health=Health())
    assert [client.call("whoami", "!") for _ in range(4)] == [b"a!", b"b!", b"a!", b"b!"]
    assert client.nodes == nodes
    assert repr(client) == f"GroupClient({','.join(nodes)!r}, strategy='round-robin')"


def test_a_node_that_refuses_is_skipped_and_the_answer_names_who_answered(
    nodes: list[str],
) -> None:
    client = GroupClient([dead_node(), nodes[1]], health=Health(), timeout=2)
    result = client.call_full("whoami")
    assert (result.body, result.node) == (b"b", nodes[1])


def test_no_result_is_the_nodes_answer_and_is_not_retried(nodes: list[str]) -> None:
    client = GroupClient(nodes, health=Health())
    with pytest.raises(NoResult) as caught:
        client.call("missing")
    assert caught.value.node == nodes[0]


def test_fan_out_calls_every_node(nodes: list[str]) -> None:
    dead = dead_node()
    outcomes = GroupClient([*nodes, dead], health=Health()).fan_out("whoami", "?")
    assert [(o.node, o.value) for o in outcomes[:2]] == [(nodes[0], b"a?"), (nodes[1], b"b?")]
    assert not outcomes[2].ok and "refused" in str(outcomes[2].error)


def test_async_group_client_fails_over_and_fans_out(nodes: list[str]) -> None:
    async def main() -> tuple[list[bytes], bytes, list[bytes | None]]:
        async with AsyncGroupClient(nodes, strategy="round-robin", health=Health()) as client:
            turns = [await client.call("whoami") for _ in range(3)]
        failover = AsyncGroupClient([dead_node(), nodes[0]], health=Health())
        fanned = await AsyncGroupClient(nodes, health=Health()).fan_out("whoami", "*")
        return turns, await failover.call("whoami"), [o.value for o in fanned]

    turns, answered, fanned = run(main())
    assert turns == [b"a", b"b", b"a"]
    assert answered == b"a"
    assert fanned == [b"a*", b"b*"]


def test_a_comma_in_client_points_to_the_group_clients() -> None:
    for cls in (Client, AsyncClient):
        with pytest.raises(AddressError, match=r"use protocol\.GroupClient"):
            cls("127.0.0.1:3031,127.0.0.1:3032")


def test_strategy_all_is_fan_out() -> None:
    with pytest.raises(UsageError, match="fan_out"):
        GroupClient("127.0.0.1:3031", strategy="all")
    with pytest.raises(UsageError, match="unknown strategy"):
        GroupClient("127.0.0.1:3031", strategy="fastest")


def test_every_client_closes_and_is_a_context_manager(nodes: list[str]) -> None:
    with Client(nodes[0]) as client:
        assert client.call("whoami") == b"a"
    client.close()
    with GroupClient(nodes) as group:
        assert group.call("whoami") == b"a"

    async def main() -> bytes:
        async with AsyncClient(nodes[1]) as aclient:
            return await aclient.call("whoami")

    assert run(main()) == b"b"
