"""protocol.fanout's bounds: at most ``limit`` connections open at once (by default 1024 and at
most half of ``ulimit -n``), outcomes in the order of the nodes whatever order they end in, and
the group's health learns from each outcome as NodeGroup.fan_out's does."""

from __future__ import annotations

import resource
import socket
from collections.abc import Iterator

import pytest

from protocol import Client, Health, NodeGroup, fanout, rpc_request
from protocol.server import BackgroundServer, serve_in_thread
from protocol.server.functions import FunctionTable


@pytest.fixture(scope="module")
def thirty() -> Iterator[BackgroundServer]:
    """One bundled server on 30 loopback ports: 30 nodes that answer ``hello`` with ``hi``."""
    table = FunctionTable()
    table.register("hello", lambda *args: b"hi")
    with serve_in_thread(table, ["127.0.0.1:0"] * 30, threads=0) as server:
        yield server


def test_no_more_than_limit_connections_are_open_at_once(
    thirty: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    most: list[int] = []
    poll = fanout._Loop.poll

    def watched(self: fanout._Loop[object]) -> None:
        most.append(self.open)
        poll(self)

    monkeypatch.setattr(fanout._Loop, "poll", watched)
    group = NodeGroup(thirty.nodes, strategy="all", health=Health())
    outcomes = group.fan_out_calls(Client, rpc_request("hello"), function="hello", limit=4)
    assert [o.node for o in outcomes] == thirty.nodes
    assert [o.value.body for o in outcomes if o.value is not None] == [b"hi"] * 30
    assert most and max(most) <= 4


def test_outcomes_keep_the_order_of_the_nodes_and_teach_health(thirty: BackgroundServer) -> None:
    with socket.socket() as held:  # bound, never listening: refused
        held.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{held.getsockname()[1]}"
        nodes = [*thirty.nodes[:3], dead, *thirty.nodes[3:6]]
        health = Health()
        outcomes = NodeGroup(nodes, strategy="all", health=health).fan_out_calls(
            Client, rpc_request("hello"), function="hello"
        )
    assert [o.node for o in outcomes] == nodes
    assert [o.ok for o in outcomes] == [True] * 3 + [False] + [True] * 3
    assert str(outcomes[3].error) == f"cannot connect to {dead}: refused"
    assert not health.is_up(dead) and health.is_up(nodes[0])


def test_pings_are_told_in_the_order_of_the_nodes(thirty: BackgroundServer) -> None:
    told: list[str] = []
    group = NodeGroup(thirty.nodes, strategy="all", health=Health())
    outcomes = group.fan_out_pings(Client, limit=7, on_outcome=lambda o: told.append(o.node))
    assert told == [o.node for o in outcomes] == thirty.nodes
    assert all(o.ok and o.value is not None and o.value.warning is None for o in outcomes)


@pytest.mark.parametrize(
    ("soft", "limit"),
    [(1024, 512), (20000, 1024), (100, 50), (resource.RLIM_INFINITY, 1024)],
)
def test_the_default_limit_leaves_half_the_descriptors(
    monkeypatch: pytest.MonkeyPatch, soft: int, limit: int
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (soft, resource.RLIM_INFINITY))
    assert fanout.default_limit() == limit
