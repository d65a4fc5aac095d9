"""rpccli ping, rpccli batch and call --local, in process."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli
from tests.peers import EXAMPLES
from tests.protocol.scripted import answer, peer

TIME = re.compile(r"time=\d+\.\d{3} ms")


def warning_peer_reply(text: bytes) -> bytes:
    return struct.pack("<BHB", 100, len(text), 1) + text


# ---- ping ----


def test_ping_ok(bundled_node: str) -> None:
    result = run_cli("ping", bundled_node)
    assert result.code == 0 and result.err == ""
    assert TIME.sub("time=X ms", result.text) == f"{bundled_node}: seq=1 time=X ms ok\n"


def test_ping_count_summary(bundled_node: str) -> None:
    result = run_cli("ping", "-c", "3", "-i", "0", bundled_node)
    lines = result.text.splitlines()
    assert result.code == 0 and len(lines) == 4
    assert [line.split()[1] for line in lines[:3]] == ["seq=1", "seq=2", "seq=3"]
    assert lines[3].startswith(f"--- {bundled_node}: 3 sent, 3 answered, 0 failed; min/avg/max = ")


def test_ping_json(bundled_node: str) -> None:
    result = run_cli("ping", "--json", bundled_node)
    rec = json.loads(result.out)
    assert result.code == 0
    assert (rec["node"], rec["seq"], rec["ok"], rec["warning"], rec["error"]) == (
        bundled_node,
        1,
        True,
        None,
        None,
    )


def test_ping_warning_exit_1() -> None:
    with peer(answer(warning_peer_reply(b"disk almost full"))) as node:
        result = run_cli("ping", node.node)
    assert result.code == 1
    assert result.text.endswith(" WARNING: disk almost full\n")


def test_ping_refused(refused_node: str) -> None:
    result = run_cli("ping", refused_node)
    assert (result.code, result.out) == (3, b"")
    assert result.err == f"rpccli: cannot connect to {refused_node}: refused\n"


def test_ping_partial(bundled_node: str, refused_node: str) -> None:
    result = run_cli("ping", f"{bundled_node},{refused_node}")
    assert result.code == 6
    assert result.err == f"rpccli: cannot connect to {refused_node}: refused\n"


def test_ping_no_reply_without_plugin() -> None:
    with peer(answer(b"")) as node:
        result = run_cli("ping", node.node)
    assert result.code == 1
    assert result.err == (
        f"rpccli: no ping reply from {node.node} (the server may lack --plugin ping)\n"
    )


def test_ping_needs_a_node() -> None:
    result = run_cli("ping")
    assert result.code == 2 and result.err.startswith("rpccli: no node given")


# ---- batch ----

INPUT = (
    b'hello a\nupper "b c"\n# comment\n\n{"function": "echo", "args": ["x", {"base64": "AAE="}]}\n'
)


def test_batch_json_lines_in_order(bundled_node: str) -> None:
    result = run_cli("batch", "-c", "4", bundled_node, input=INPUT)
    assert result.code == 0
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [(r["line"], r["response"]) for r in records] == [
        (1, "Hello, a"),
        (2, "B C"),
        (5, "x \x00\x01"),
    ]
    assert result.err.startswith("rpccli: 3 calls, 0 failed, ")


def test_batch_lines_and_netstring(bundled_node: str) -> None:
    data = b"hello a\nfail\nbig 3\n"
    result = run_cli("batch", "--raw-output", "-q", bundled_node, input=data)
    assert (result.code, result.out) == (6, b"Hello, a\n\n\x00\x01\x02\n")
    assert result.err.startswith("rpccli: line 2: no result from ")
    result = run_cli("batch", "-o", "netstring", "-q", bundled_node, input=data)
    assert result.out == b"8:Hello, a,0:,3:\x00\x01\x02,"


def test_batch_bad_lines_do_not_stop_it(bundled_node: str, refused_node: str) -> None:
    data = (
        b'hello "open\n{"function": 1}\n{bad json\n'
        + f'{{"function": "hello", "node": "{refused_node}"}}\n'.encode()
        + b"echo ''\nhello last\n"
    )
    result = run_cli("batch", bundled_node, input=data)
    assert result.code == 6
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["error"]["type"] if r["error"] else None for r in records] == [
        "usage",
        "usage",
        "usage",
        "connect",
        "usage",
        None,
    ]
    assert records[0]["error"]["message"] == 'unterminated " quote'
    assert records[3]["node"] == refused_node
    assert records[4]["function"] == "echo"
    assert result.err.startswith("rpccli: 6 calls, 5 failed, ")


def test_batch_order_with_slow_calls(bundled_node: str) -> None:
    data = b"sleep 0.3\nhello 1\nsleep 0.1\nhello 2\n"
    result = run_cli("batch", "-c", "4", "-o", "lines", "-q", bundled_node, input=data)
    assert result.out == b"slept 0.3\nHello, 1\nslept 0.1\nHello, 2\n"


def test_batch_window_bounds_memory(bundled_node: str) -> None:
    # many more lines than the window (4 x concurrency): all answered, in order
    data = b"".join(b"echo %d\n" % i for i in range(500))
    result = run_cli("batch", "-c", "3", "-o", "lines", "-q", bundled_node, input=data)
    assert result.out == b"".join(b"%d\n" % i for i in range(500))


def test_batch_timeout_per_line(bundled_node: str) -> None:
    result = run_cli("batch", "-t", "0.2", "-q", bundled_node, input=b"sleep 1\nhello\n")
    records = [json.loads(line) for line in result.out.splitlines()]
    assert result.code == 6
    assert [r["ok"] for r in records] == [False, True]
    assert records[0]["error"]["type"] == "timeout"


def test_batch_failover_in_a_group(bundled_node: str, refused_node: str) -> None:
    result = run_cli(
        "batch", "-q", "-o", "lines", f"{refused_node},{bundled_node}", input=b"hello\n" * 3
    )
    assert (result.code, result.out) == (0, b"Hello, world\n" * 3)


def test_batch_node_per_line_without_default(bundled_node: str) -> None:
    data = f'{{"function": "hello", "node": "{bundled_node}"}}\nhello\n'.encode()
    result = run_cli("batch", "-q", input=data)
    records = [json.loads(line) for line in result.out.splitlines()]
    assert records[0]["ok"] is True
    assert records[1]["error"]["message"].startswith("no node")


def test_batch_bad_node_argument() -> None:
    result = run_cli("batch", "nonode", input=b"hello\n")
    assert result.code == 2 and result.err.startswith("rpccli: unknown node 'nonode'")


def test_batch_file_arguments(bundled_node: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"filed")
    data = f"echo @{tmp_path}/f @@at\n".encode()
    result = run_cli("batch", "-q", "-o", "lines", bundled_node, input=data)
    assert result.out == b"filed @at\n"


def test_batch_empty_input(bundled_node: str) -> None:
    result = run_cli("batch", bundled_node, input=b"")
    assert (result.code, result.out) == (0, b"")
    assert result.err.startswith("rpccli: 0 calls, 0 failed")


# ---- --local ----

FUNCTIONS = str(EXAMPLES / "functions.py")


def test_local_call() -> None:
    result = run_cli("call", "--local", FUNCTIONS, "hello", "a")
    assert (result.code, result.out, result.err) == (0, b"Hello, a", "")


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("fail", "raised RuntimeError: fail was called"),
        ("text", "returned str, not bytes"),
        ("nothere", "unknown function"),
    ],
)
def test_local_no_result_says_why(function: str, reason: str) -> None:
    result = run_cli("call", "--local", FUNCTIONS, function)
    assert (result.code, result.out) == (1, b"")
    assert result.err.startswith(f"rpccli: no result from {function} in {FUNCTIONS}: {reason}")


def test_local_json_and_limits() -> None:
    rec = json.loads(run_cli("call", "--json", "--local", FUNCTIONS, "upper", "x").out)
    assert (rec["node"], rec["response"], rec["ok"]) == (f"local:{FUNCTIONS}", "X", True)
    assert run_cli("call", "--local", FUNCTIONS, "echo", "").code == 2


def test_local_missing_file(tmp_path: Path) -> None:
    result = run_cli("call", "--local", str(tmp_path / "none.py"), "hello")
    assert result.code == 2 and result.err.count("\n") == 1


def test_batch_local() -> None:
    data = b'hello a\ntext\n{"function": "upper", "args": ["x"]}\necho ""\n'
    result = run_cli("batch", "-q", "--local", FUNCTIONS, input=data)
    records = [json.loads(line) for line in result.out.splitlines()]
    assert result.code == 6
    assert [r["response"] for r in records] == ["Hello, a", None, "X", None]
    assert records[1]["error"]["message"].startswith(
        f"no result from text in {FUNCTIONS}: returned str, not bytes"
    )
    assert records[3]["error"]["type"] == "usage"  # the same limits as on the wire
    assert run_cli("batch", "--local", FUNCTIONS, ":1", input=b"hello\n").code == 2


def test_complete_function_for_the_default_node(
    bundled_node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys

    monkeypatch.setenv("RPCCLI_NODE", bundled_node)
    assert run_cli("call", ".", "upper", "x").out == b"X"  # remembered for the node
    env = {**os.environ, "_RPCCLI_COMPLETE": "zsh_complete", "COMP_WORDS": "rpccli call . up"}
    env["COMP_CWORD"] = "3"
    out = subprocess.run(
        [sys.executable, "-m", "rpccli"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[:2] == ["plain", "upper"]


@pytest.mark.parametrize("raw", [[], ["--raw"]])
def test_batch_large_answers_arrive_whole(bundled_node: str, raw: list[str]) -> None:
    # several reads per answer (edge-triggered engine), packet large form and raw until close
    data = b"big 300000\nhello\nbig 70000\n"
    result = run_cli("batch", *raw, "-c", "3", "-q", "-o", "netstring", bundled_node, input=data)
    pattern = bytes(range(256)) * 1200
    assert result.code == 0
    assert result.out == (
        b"300000:" + pattern[:300000] + b",12:Hello, world,70000:" + pattern[:70000] + b","
    )


def test_batch_unix_socket_and_protocol_error(tmp_path: Path) -> None:
    from tests.protocol.scripted import answer as scripted_answer

    with (
        peer(scripted_answer(b"\xad\x02\x00\x00hi"), kind="unix") as good,
        peer(scripted_answer(b"\xad\x09\x00\x00short")) as bad,
    ):
        data = f'hello\n{{"function": "hello", "node": "{bad.node}"}}\n'.encode()
        result = run_cli("batch", "-q", good.node, input=data)
    records = [json.loads(line) for line in result.out.splitlines()]
    assert result.code == 6
    assert records[0]["response"] == "hi"
    assert records[1]["error"]["type"] == "protocol"


@pytest.mark.parametrize(
    ("args", "body"),
    [
        ([b"a", b"b c"], b"Hello, a b c"),
        ([], 'é"\\\n\t\x00\u2028😀'.encode()),
        ([b'"quoted"'], b"{}"),
    ],
)
def test_fast_json_line_is_json_line(args: list[bytes], body: bytes) -> None:
    from rpccli.batch.output import fast_ok_line
    from rpccli.output import json_line, record

    item = {"node": "127.0.0.1:1", "function": "f\u00e9", "args": args, "elapsed": 0.0012345}
    item["line"] = 7
    expected = json_line(
        record(
            node="127.0.0.1:1", function="f\u00e9", args=args, body=body, elapsed=0.0012345, line=7
        )
    )
    assert fast_ok_line(item, body) == expected


def test_fast_json_line_declines_binary() -> None:
    from rpccli.batch.output import fast_ok_line

    item = {"node": "n", "function": "f", "args": [b"\xff"], "elapsed": 0.1, "line": 1}
    assert fast_ok_line(item, b"x") is None
    assert fast_ok_line({**item, "args": []}, b"\xff") is None
