"""Several nodes: strategies, safe failover, fan-out, and protocol.nodes itself."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from protocol.address import Address
from protocol.errors import CallTimeout, ConnectError, NoResult, ProtocolError
from protocol.nodes import Health, NodeGroup, may_retry
from tests.cli.conftest import Result, run_cli
from tests.protocol.scripted import answer, full_backlog, peer, silent


def test_first_fails_over_when_refused(bundled_node: str, refused_node: str) -> None:
    result = run_cli("call", f"{refused_node},{bundled_node}", "hello")
    assert (result.code, result.out, result.err) == (0, b"Hello, world", "")


def test_all_refused_names_every_node(refused_node: str) -> None:
    other = refused_node.rsplit(":", 1)[0] + ":1"
    result = run_cli("call", f"{refused_node},{other}", "hello")
    assert result.code == 3
    assert result.err == (
        f"rpccli: all 2 nodes failed: cannot connect to {refused_node}: refused; "
        f"cannot connect to {other}: refused\n"
    )


def test_no_failover_after_the_request_was_sent(bundled_node: str) -> None:
    # the silent peer read the request: the function may have run, so no retry by default
    with peer(silent) as quiet:
        nodes = f"{quiet.node},{bundled_node}"
        result = run_cli("call", "-t", "0.3", nodes, "hello")
        assert result.code == 4 and f"no complete answer from {quiet.node}" in result.err
        result = run_cli("call", "-t", "0.3", "--retry-unsafe", nodes, "hello")
        assert (result.code, result.out) == (0, b"Hello, world")


def test_connect_timeout_fails_over(bundled_node: str) -> None:
    with full_backlog() as hanging:
        result = run_cli("call", "--connect-timeout", "0.2", f"{hanging},{bundled_node}", "hello")
    assert (result.code, result.out) == (0, b"Hello, world")


def test_no_result_is_not_failed_over(bundled_node: str, refused_node: str) -> None:
    result = run_cli("call", f"{bundled_node},{refused_node}", "fail")
    assert result.code == 1


def test_protocol_error_exit_5() -> None:
    with peer(answer(b"\xad\x05\x00\x00abc")) as bad:
        result = run_cli("call", bad.node, "hello")
    assert result.code == 5
    assert result.err == (
        f"rpccli: bad response from {bad.node}: response truncated: connection closed after "
        "7 bytes\n"
    )


def fan_out(*argv: str) -> Result:
    return run_cli("call", "--strategy", "all", *argv)


def test_all_json_lines_in_node_order(bundled_node: str, refused_node: str) -> None:
    result = fan_out("--json", f"{bundled_node},{refused_node}", "hello", "x")
    assert result.code == 6
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["node"] for r in records] == [bundled_node, refused_node]
    assert [r["ok"] for r in records] == [True, False]
    assert records[0]["response"] == "Hello, x"
    assert records[1]["error"]["type"] == "connect"
    assert result.err.endswith("rpccli: 1 of 2 nodes failed\n")


def test_all_piped_bytes(bundled_node: str) -> None:
    # piped, a fan-out defaults to JSON Lines; -o bytes asks for the bytes
    with peer(answer(b"\xad\x02\x00\x00hi")) as other:
        result = fan_out("-o", "bytes", f"{bundled_node},{other.node}", "hello")
    assert (result.code, result.out, result.err) == (0, b"Hello, world\nhi\n", "")


def test_all_failed_alike_keeps_the_code(refused_node: str) -> None:
    other = refused_node.rsplit(":", 1)[0] + ":1"
    assert fan_out(f"{refused_node},{other}", "hello").code == 3


def test_all_failed_differently_is_6(bundled_node: str, refused_node: str) -> None:
    assert fan_out(f"{bundled_node},{refused_node}", "fail").code == 6


def test_all_pretty_table(bundled_node: str, refused_node: str) -> None:
    result = fan_out("-o", "pretty", f"{bundled_node},{refused_node}", "hello")
    assert result.code == 6
    text = result.text
    assert "hello on 2 nodes" in text and "Hello, world" in text and "FAIL" in text


def test_profile_group_with_strategy(
    bundled_node: str, refused_node: str, write_config: Callable[[str], object]
) -> None:
    write_config(
        f'[nodes.pair]\naddress = ["{refused_node}", "{bundled_node}"]\nstrategy = "all"\n'
    )
    result = run_cli("call", "--json", "pair", "hello")
    assert result.code == 6 and len(result.out.splitlines()) == 2
    result = run_cli("call", "--strategy", "first", "pair", "hello")
    assert (result.code, result.out) == (0, b"Hello, world")


# ---- protocol.nodes directly: order, health, retry rules ----

NODES = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]


def names(addresses: list[Address]) -> list[str]:
    return [str(a) for a in addresses]


def test_round_robin_rotates() -> None:
    group = NodeGroup(NODES, strategy="round-robin", health=Health())
    assert [names(group.order())[0] for _ in range(4)] == [*NODES, NODES[0]]


def test_random_is_a_permutation() -> None:
    group = NodeGroup(NODES, strategy="random", health=Health(), rng=random.Random(1))
    orders = {tuple(names(group.order())) for _ in range(20)}
    assert all(sorted(o) == sorted(NODES) for o in orders) and len(orders) > 1


def test_best_picks_least_recently_chosen_healthy_node() -> None:
    health = Health()
    group = NodeGroup(NODES, strategy="best", health=health)
    chosen = []
    for _ in range(3):
        first = names(group.order())[0]
        health.chosen(first)
        chosen.append(first)
    assert chosen == NODES
    health.mark_down(NODES[0])
    health.chosen(NODES[1])
    health.chosen(NODES[2])
    # node 1 was chosen longest ago but is down: the least recently chosen healthy one wins
    assert names(group.order()) == [NODES[1], NODES[2], NODES[0]]


def test_down_nodes_go_last_and_come_back() -> None:
    health = Health(cooldown=0)
    group = NodeGroup(NODES, health=health)
    health.mark_down(NODES[0])
    assert names(group.order())[0] == NODES[0]  # cooldown 0: already healthy again
    health = Health(cooldown=60)
    group = NodeGroup(NODES, health=health)
    health.mark_down(NODES[0])
    assert names(group.order()) == [NODES[1], NODES[2], NODES[0]]


def test_call_marks_refused_node_down(bundled_node: str, refused_node: str) -> None:
    health = Health()
    group = NodeGroup([refused_node, bundled_node], health=health)
    from protocol.client import Client

    assert group.call(lambda a: Client(a).call("hello")) == b"Hello, world"
    assert not health.is_up(refused_node) and health.is_up(bundled_node)


@pytest.mark.parametrize(
    ("error", "safe", "unsafe"),
    [
        (ConnectError("n", "refused"), True, True),
        (CallTimeout("n", "connect", sent=False), True, True),
        (CallTimeout("n", "read", sent=True), False, True),
        (ProtocolError("n", "bad"), False, True),
        (NoResult("n", "none"), False, False),
    ],
)
def test_may_retry(error: Exception, safe: bool, unsafe: bool) -> None:
    assert may_retry(error, retry_unsafe=False) is safe  # type: ignore[arg-type]
    assert may_retry(error, retry_unsafe=True) is unsafe  # type: ignore[arg-type]


def test_fan_out_outcomes(bundled_node: str, refused_node: str) -> None:
    from protocol.client import Client

    group = NodeGroup([bundled_node, refused_node], strategy="all", health=Health())
    outcomes = group.fan_out(lambda a: Client(a).call("hello"))
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[0].value == b"Hello, world"
    assert isinstance(outcomes[1].error, ConnectError)


def test_unknown_strategy() -> None:
    from protocol.errors import UsageError

    with pytest.raises(UsageError, match="unknown strategy"):
        NodeGroup(NODES, strategy="fastest")


def _batch_over_two_nodes(bundled_node: str, strategy: str, calls: int) -> Result:
    """``calls`` hello lines through batch over the bundled server and a peer that says "hi"."""
    with peer(answer(b"\xad\x02\x00\x00hi")) as other:
        return run_cli(
            "batch",
            "-q",
            "-o",
            "lines",
            "-s",
            strategy,
            f"{bundled_node},{other.node}",
            input=b"hello\n" * calls,
        )


@pytest.mark.parametrize("strategy", ["round-robin", "best"])
def test_batch_spreads_calls_over_a_group(bundled_node: str, strategy: str) -> None:
    result = _batch_over_two_nodes(bundled_node, strategy, 4)
    assert (result.code, result.out) == (0, b"Hello, world\nhi\nHello, world\nhi\n")


def test_random_uses_every_node(bundled_node: str) -> None:
    result = _batch_over_two_nodes(bundled_node, "random", 40)
    assert set(result.out.splitlines()) == {b"Hello, world", b"hi"}  # 2**-39 to fail by chance


def test_dns_names_in_call_and_batch(bundled_node: str) -> None:
    node = "localhost:" + bundled_node.rsplit(":", 1)[1]
    assert run_cli("call", node, "hello").out == b"Hello, world"
    result = run_cli("batch", "-q", "-c", "2", "-o", "lines", node, input=b"hello a\nhello b\n")
    assert (result.code, result.out) == (0, b"Hello, a\nHello, b\n")


def test_verbose_says_when_it_fails_over(bundled_node: str, refused_node: str) -> None:
    result = run_cli("call", "-v", f"{refused_node},{bundled_node}", "hello")
    assert result.code == 0 and result.out == b"Hello, world"
    assert result.err.startswith(
        f"* cannot connect to {refused_node}: refused; trying the next node\n> {bundled_node}\n"
    )


def test_fan_out_piped_defaults_to_json_lines(bundled_node: str, refused_node: str) -> None:
    import json

    result = run_cli("call", "-s", "all", f"{bundled_node},{refused_node}", "echo", "a\nb")
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert result.code == 6
    assert [(r["node"], r["response"]) for r in rows] == [
        (bundled_node, "a\nb"),
        (refused_node, None),
    ]


def test_fan_out_explicit_bytes_keeps_bytes_and_newlines(bundled_node: str) -> None:
    port = bundled_node.rsplit(":", 1)[1]
    result = run_cli(
        "call", "-s", "all", "-o", "bytes", f"{bundled_node},localhost:{port}", "hello"
    )
    assert (result.code, result.out) == (0, b"Hello, world\nHello, world\n")


def test_fan_out_table_shows_binary_as_hex() -> None:
    import io

    from rich.console import Console

    from rpccli.output.pretty import print_table

    out = io.StringIO()
    row = {"node": "n", "ok": True, "response": "\x00\x01!\"'", "response_base64": "AAEhIic="}
    print_table(Console(file=out, width=100), [{**row, "bytes": 5, "elapsed_ms": 1.0}])
    assert "(5 binary bytes: 00 01 21 22 27)" in out.getvalue()


def test_fan_out_and_group_calls_teach_every_answering_node(
    bundled_node: str, second_node: str, refused_node: str
) -> None:
    from rpccli.names import known_names

    group = f"{bundled_node},{second_node},{refused_node}"
    assert run_cli("call", "-s", "all", "--json", group, "hello").code == 6
    assert run_cli("call", "--json", f"{refused_node},{second_node}", "echo", "x").code == 0
    assert "hello" in known_names(bundled_node) and "hello" in known_names(second_node)
    assert "hello" in known_names(group) and "echo" in known_names(second_node)
    assert "hello" not in known_names(refused_node)
