"""An empty answer (``ad 00 00 00``: a packet with a 0-byte body) is no result, never success.

uWSGI never sends one -- no result is its 0-byte close -- and its bytes as a success would be
exactly the documented failure markers of batch output (an empty line, ``0:,``). So every reader
of answers says "empty answer", exit 1, JSON error type ``no_result``: the clients, node groups,
``rpccli call``, ``batch`` (its epoll engine reads answers itself, and its lanes) and the shell.
The large form announcing CONTENT_LENGTH 0 is the same case; in raw mode the analogous case is
the 0-byte close, no result already.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from protocol.aio import AsyncClient, run
from protocol.client import Client
from protocol.errors import NoResult
from protocol.nodes import Health, NodeGroup
from protocol.wire import encode_vars
from rpccli.cli import main
from tests.peers import ROOT
from tests.protocol.scripted import Peer, answer, peer, read_request

EMPTY = b"\xad\x00\x00\x00"
# the modifier2-5 form with CONTENT_LENGTH 0: the same empty answer, framed the large way
_BLOCK = encode_vars({b"CONTENT_LENGTH": b"0"})
EMPTY_LARGE = bytes([0xAD, len(_BLOCK), 0, 5]) + _BLOCK


@pytest.fixture(params=[EMPTY, EMPTY_LARGE], ids=["plain", "large"])
def empty_node(request: pytest.FixtureRequest) -> Iterator[str]:
    with peer(answer(request.param)) as server:
        yield server.node


@pytest.fixture
def empty_peer() -> Iterator[Peer]:
    with peer(answer(EMPTY)) as server:
        yield server


def counting_good(conn: socket.socket, server: Peer) -> None:
    read_request(conn, server)
    conn.sendall(b"\xad\x02\x00\x00ok")


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Empty XDG dirs and no RPCCLI_ variables (tests/conftest.py), for every run here."""


def cli(*args: str, stdin: bytes = b"") -> tuple[int, bytes, str]:
    """``rpccli ARGS`` in this process: exit code, stdout bytes, stderr text."""
    with CliRunner().isolation(input=stdin) as (out, err, _):
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
    return code, out.getvalue(), err.getvalue().decode("utf-8", "replace")


# ---- the library ----


def test_client_call_and_call_full_raise_no_result(empty_node: str) -> None:
    client = Client(empty_node, timeout=5)
    with pytest.raises(NoResult, match=f"empty answer from {empty_node}"):
        client.call("hello")
    with pytest.raises(NoResult, match="empty answer"):
        client.call_full("hello", [b"a"])


def test_async_client_raises_no_result(empty_node: str) -> None:
    client = AsyncClient(empty_node, timeout=5)
    with pytest.raises(NoResult, match=f"empty answer from {empty_node}"):
        run(client.call("hello"))
    with pytest.raises(NoResult, match="empty answer"):
        run(client.call_full("hello", [b"a"]))


def test_node_group_neither_succeeds_nor_fails_over(empty_peer: Peer) -> None:
    # no result is the node's answer: the next node is not tried (the function may have run)
    with peer(counting_good) as good:
        group = NodeGroup([empty_peer.node, good.node], strategy="first", health=Health())
        with pytest.raises(NoResult, match="empty answer"):
            group.call(lambda address: Client(address, timeout=5).call("hello"))
        assert good.requests == []
        outcomes = group.fan_out(lambda address: Client(address, timeout=5).call("hello"))
    assert isinstance(outcomes[0].error, NoResult) and outcomes[0].value is None
    assert outcomes[1].ok and outcomes[1].value == b"ok"


def test_raw_mode_reads_those_bytes_as_the_result(empty_peer: Peer) -> None:
    # raw mode never interprets bytes: its empty answer is the 0-byte close (no result already)
    assert Client(empty_peer.node, timeout=5).call("hello", mode="raw") == EMPTY
    with peer(answer(b"")) as closing, pytest.raises(NoResult, match="no result"):
        Client(closing.node, timeout=5).call("hello", mode="raw")


# ---- the command line ----


def test_call_exits_1_with_empty_answer_in_a_real_process(empty_node: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rpccli", "call", "-t", "5", empty_node, "hello"],
        capture_output=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == b""
    err = result.stderr.decode()
    assert err.startswith(f"rpccli: empty answer from {empty_node}") and err.count("\n") == 1


def test_call_json_says_no_result(empty_peer: Peer) -> None:
    code, out, _ = cli("call", "--json", "-t", "5", empty_peer.node, "hello")
    assert code == 1
    record = json.loads(out)
    assert record["ok"] is False and record["response"] is None
    assert record["error"]["type"] == "no_result"
    assert "empty answer" in record["error"]["message"]


def test_fan_out_gives_the_node_a_failure_record(empty_peer: Peer) -> None:
    with peer(counting_good) as good:
        group = f"{empty_peer.node},{good.node}"
        code, out, err = cli("call", "--json", "-s", "all", "-t", "5", group, "hello")
    assert code == 6
    records = {r["node"]: r for r in map(json.loads, out.splitlines())}
    assert records[good.node]["ok"] is True
    bad = records[empty_peer.node]
    assert bad["ok"] is False and bad["error"]["type"] == "no_result"
    assert "empty answer" in err


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_batch_raw_output_and_netstring_mark_a_failure(empty_peer: Peer, concurrency: str) -> None:
    base = ["batch", "-q", "-t", "5", "--lanes", "1", "-c", concurrency]
    code, out, err = cli(*base, "--raw-output", empty_peer.node, stdin=b"hello\nhello a\n")
    assert (code, out) == (6, b"\n\n")
    assert err.count("empty answer") == 2 and err.startswith("rpccli: line 1: empty answer")
    code, out, err = cli(*base, "-o", "netstring", empty_peer.node, stdin=b"hello\n")
    assert (code, out) == (6, b"0:,")
    assert err.startswith("rpccli: line 1: empty answer")


def test_batch_json_records_in_the_engine_and_in_lanes(empty_peer: Peer) -> None:
    # the epoll engine reads answers itself; with lanes it runs in forked processes: a real one
    lines = b"".join(b"hello %d\n" % i for i in range(20))
    command = [sys.executable, "-m", "rpccli", "batch", "-q", "-t", "5", "--json", "-c", "8"]
    for lanes in ("1", "2"):
        result = subprocess.run(
            [*command, "--lanes", lanes, empty_peer.node],
            input=lines,
            capture_output=True,
            cwd=ROOT,
            env=os.environ.copy(),
            timeout=60,
        )
        assert result.returncode == 6, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["line"] for r in records] == list(range(1, 21))
        for record in records:
            assert record["ok"] is False and record["error"]["type"] == "no_result"
            assert "empty answer" in record["error"]["message"]


def test_batch_through_a_dns_name_uses_the_blocking_client(empty_peer: Peer) -> None:
    # a node that is a name, not a literal, goes through Client.exchange inside the engine
    port = empty_peer.node.rsplit(":", 1)[1]
    code, out, _ = cli("batch", "-q", "-t", "5", "--json", f"localhost:{port}", stdin=b"hello\n")
    assert code == 6
    record = json.loads(out)
    assert record["error"]["type"] == "no_result" and "empty answer" in record["error"]["message"]


def test_shell_script_line_fails_with_exit_1(empty_peer: Peer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rpccli", "shell", "--raw-output", empty_peer.node],
        input=b"hello\n",
        capture_output=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == b"\n"
    assert b"empty answer" in result.stderr
