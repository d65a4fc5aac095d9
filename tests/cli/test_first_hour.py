"""Issue 15, the first-hour papercuts: one regression test per rough edge an operator hit.

The runs that need a process of their own (a batch fed by a pipe, a ping ended by Ctrl-C) fork
from tests/forkrun.py's warm server: what they check is what the command does, not its start.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from protocol.errors import ProtocolError
from protocol.reader import PingReader
from protocol.server import serve_in_thread
from protocol.server.functions import FunctionTable
from tests.cli.conftest import Result, run_cli
from tests.conftest import DEMO_FUNCTIONS
from tests.forkrun import rpccli_forks

Write = Callable[[str], Path]


@pytest.fixture
def two_live(refused_node: str) -> Iterator[list[str]]:
    """A group of three: the first refuses, the other two are bundled servers."""
    table = FunctionTable()
    table.load_file(DEMO_FUNCTIONS)
    with (
        serve_in_thread(table, ("127.0.0.1:0",)) as one,
        serve_in_thread(table, ("127.0.0.1:0",)) as two,
    ):
        yield [refused_node, one.node, two.node]


def _answered(lines: bytes) -> list[int]:
    counts = collections.Counter(json.loads(line)["node"] for line in lines.splitlines())
    return sorted(counts.values())


# -- item 2: a down node's turns go evenly to the live ones ------------------------------------
@pytest.mark.parametrize("strategy", ["round-robin", "best"])
def test_one_shot_calls_share_a_down_nodes_turns(two_live: list[str], strategy: str) -> None:
    group = ",".join(two_live)
    nodes = []
    for _ in range(12):
        result = run_cli("call", "--json", "-s", strategy, group, "hello")
        assert result.code == 0, result.err
        nodes.append(json.loads(result.out)["node"])
    assert sorted(collections.Counter(nodes).values()) == [6, 6]


def _batch_answered(group: list[str], strategy: str, concurrency: str, count: int) -> list[int]:
    """A batch run as an operator's pipe feeds it: a process of its own, as run in process
    (CliRunner's input) the uneven -c 4 and -c 16 cases of best did not show on the code before
    the fix."""
    result = rpccli_forks().run(
        [
            "batch",
            "-q",
            "-c",
            concurrency,
            "-s",
            strategy,
            ",".join(group),
        ],
        dict(os.environ),
        input=b"hello\n" * count,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr.decode()
    return _answered(result.stdout)


@pytest.mark.parametrize("concurrency", ["1", "4", "16", "100"])
@pytest.mark.parametrize("strategy", ["round-robin", "best"])
def test_batch_shares_a_down_nodes_turns(
    two_live: list[str], strategy: str, concurrency: str
) -> None:
    # at -c 4 and -c 16 the first call's refusal is learned after the next calls were ordered
    assert _batch_answered(two_live, strategy, concurrency, 12) == [6, 6]


@pytest.mark.parametrize("concurrency", ["1", "4", "16", "100"])
def test_batch_best_shares_a_down_nodes_turns_over_more_calls(
    two_live: list[str], concurrency: str
) -> None:
    assert _batch_answered(two_live, "best", concurrency, 60) == [30, 30]


@pytest.mark.parametrize("strategy", ["round-robin", "best"])
def test_the_shell_shares_a_down_nodes_turns(
    two_live: list[str], strategy: str, write_config: Write
) -> None:
    write_config(f"[nodes.grp]\naddress = {two_live!r}\nstrategy = '{strategy}'\n")
    result = run_cli("shell", "--json", "grp", input=b"hello\n" * 12)
    assert result.code == 0, result.err
    assert _answered(result.out) == [6, 6]


def test_a_burst_shares_a_down_nodes_turns(two_live: list[str]) -> None:
    # every line ordered before the refusal is seen: the failovers still alternate
    result = run_cli(
        "batch", "-q", "-c", "64", "-s", "round-robin", ",".join(two_live), input=b"hello\n" * 12
    )
    assert _answered(result.out) == [6, 6]


# -- item 3: with a default node, a word meant as a node is not sent as a function ---------
def test_a_mistyped_profile_with_a_default_node(bundled_node: str, write_config: Write) -> None:
    write_config(f"[defaults]\nnode = '{bundled_node}'\n[nodes.grp]\naddress = ':1'\n")
    result = run_cli("call", "gpr", "hello")
    assert (result.code, result.out) == (2, b"")
    assert "did you mean grp?" in result.err and "rpccli call . gpr" in result.err
    # the way out: '.' names the default node, and gpr is then the function
    assert "no result" in run_cli("call", ".", "gpr", "hello").err


def test_a_socket_file_with_a_default_node(
    bundled_node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("u.sock")
        result = run_cli("call", "u.sock", "hello", env={"RPCCLI_NODE": bundled_node})
    assert (result.code, result.out) == (2, b"")
    assert "did you mean ./u.sock?" in result.err


def test_a_function_name_still_works_with_a_default_node(
    bundled_node: str, write_config: Write
) -> None:
    write_config(f"[defaults]\nnode = '{bundled_node}'\n[nodes.help]\naddress = ':1'\n")
    assert run_cli("call", "hello", "a").out == b"Hello, a"  # two typos from 'help'


# -- item 4: no result names the two commonest first-day causes ------------------------------
def test_no_result_names_the_rpc_plugin_and_str(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "text")  # the demo's function that returns str
    assert result.code == 1
    assert "--plugins rpc,python3" in result.err
    assert "unavailable modifier requested: 173" in result.err
    assert "must return bytes" in result.err


# -- item 5: a read timeout in a group says the other nodes were not tried ------------------
def test_a_read_timeout_names_the_nodes_not_tried(bundled_node: str, refused_node: str) -> None:
    result = run_cli("call", "-t", "0.5", f"{bundled_node},{refused_node}", "sleep", "3")
    assert result.code == 4
    assert f"not tried: {refused_node}, as the call may have run on {bundled_node}" in result.err
    assert "--retry-unsafe tries it" in result.err


# -- item 7: ping of an HTTP port ---------------------------------------------------------------
def test_ping_reader_recognises_http() -> None:
    reader = PingReader(node="n:1")
    with pytest.raises(ProtocolError, match=r"it answered with HTTP, .*uWSGI.s --socket"):
        reader.feed(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        reader.feed_eof()


# -- item 11: words and help --------------------------------------------------------------------
def test_help_shows_the_help() -> None:
    result = run_cli("help")
    assert result.code == 0 and "Commands:" in result.text
    assert "Usage: rpccli call" in run_cli("help", "call").text


def test_help_names_the_config_file_in_use(write_config: Write) -> None:
    path = write_config("")
    assert f"Config file in use: {path}\n" in run_cli("--help").text
    assert "~/.config/rpccli/config.toml" in run_cli("--help").text
    other = path.with_name("other.toml")
    text = run_cli("--help", env={"RPCCLI_CONFIG": str(other)}).text
    assert f"Config file in use: {other} (not there" in text


def test_one_is_singular(bundled_node: str) -> None:
    result = run_cli("batch", bundled_node, input=b"hello\n")
    assert result.err.startswith("rpccli: 1 call, 0 failed"), result.err
    verbose = run_cli("call", "-v", bundled_node, "echo", "x")
    assert "< body: 1 byte\n" in verbose.err


def test_a_host_without_a_port_suggests_one() -> None:
    result = run_cli("call", "127.0.0.1", "hello")
    assert result.code == 2 and "did you mean 127.0.0.1:PORT (or :PORT)?" in result.err


def test_verbose_shows_what_a_name_resolved_to(bundled_node: str) -> None:
    port = bundled_node.rsplit(":", 1)[1]
    result = run_cli("call", "-v", f"localhost:{port}", "hello")
    assert "* localhost resolves to 127.0.0.1" in result.err


def _ping_until_ctrl_c(node: str) -> Result:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = rpccli_forks().popen(["ping", "-c", "0", "-i", "0.05", node], env)
    lines = [proc.stdout.readline() for _ in range(3)]  # three pings answered
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    return Result(proc.wait(), b"".join(lines) + out, err.decode())


def test_ping_count_0_ended_by_ctrl_c_exits_0(bundled_node: str) -> None:
    result = _ping_until_ctrl_c(bundled_node)
    assert result.code == 0, result.err
    assert b" answered, 0 failed" in result.out


def test_ping_count_0_ended_by_ctrl_c_after_failures(refused_node: str) -> None:
    start = time.monotonic()
    proc = rpccli_forks().popen(["ping", "-c", "0", "-i", "0.05", refused_node], dict(os.environ))
    proc.stderr.readline()  # one refused ping reported
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.wait() == 3 and time.monotonic() - start < 15


# -- item 8: the over-4096-byte warning knows the server's --buffer-size ------------------------
BIG = "a" * 5000


def test_the_buffer_warning_follows_buffer_size(bundled_node: str, write_config: Write) -> None:
    # the bundled server keeps uWSGI's 4096, so these calls are reset: only the warning counts
    assert (
        "warning: the request body is 5008 bytes" in run_cli("call", bundled_node, "echo", BIG).err
    )
    told = run_cli("call", "--buffer-size", "65535", bundled_node, "echo", BIG).err
    assert "warning" not in told and "reset" in told
    write_config(f"[nodes.big]\naddress = '{bundled_node}'\nbuffer_size = 65535\n")
    assert "warning" not in run_cli("call", "big", "echo", BIG).err
    small = run_cli("call", "--buffer-size", "1000", "big", "echo", "a" * 2000).err
    assert "warning: the request body is 2008 bytes: over the server's --buffer-size 1000" in small


def test_batch_warns_once_per_run(bundled_node: str) -> None:
    lines = f"echo {BIG}\n".encode() * 3
    result = run_cli("batch", "-q", "-o", "lines", bundled_node, input=lines)
    assert result.err.count("warning: the request body is 5008 bytes") == 1
    quiet = run_cli("batch", "-q", "--buffer-size", "65535", bundled_node, input=lines)
    assert "warning" not in quiet.err
