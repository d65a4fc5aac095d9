"""`rpccli call --repeat N --interval S`: N calls, each printed as usual, one summary line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from tests.cli.conftest import Result
from tests.peers import ROOT


def test_repeat_prints_each_result_and_a_summary(cli: Callable[..., Result], bundled_node: str):
    result = cli("call", "--repeat", "3", bundled_node, "hello", "you")
    assert result.code == 0
    assert result.out == b"Hello, you" * 3  # piped: the bytes of each result, as usual
    summary = result.err.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith("rpccli: 3 calls, 0 errors; min ")
    assert all(word in summary[0] for word in (" avg ", " p50 ", " p99 ", " max "))


def test_repeat_json_writes_one_record_per_call(cli: Callable[..., Result], bundled_node: str):
    result = cli("call", "--json", "--repeat", "4", "--interval", "0.01", bundled_node, "hello")
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["response"] for r in records] == ["Hello, world"] * 4
    assert result.code == 0


def test_failed_calls_are_counted_and_the_run_goes_on(
    cli: Callable[..., Result], refused_node: str
) -> None:
    result = cli("call", "--repeat", "2", refused_node, "hello")
    assert result.code == 3  # every call failed: the call's own code
    lines = result.err.strip().splitlines()
    assert len(lines) == 3 and "cannot connect" in lines[0]
    assert lines[-1] == "rpccli: 2 calls, 2 errors"


def test_repeat_0_runs_until_ctrl_c_then_sums_up(bundled_node: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rpccli", "call", "--repeat", "0", "--interval", "0.01",
         bundled_node, "hello"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    calls = out.count(b"Hello, world")
    assert calls > 0
    assert f"rpccli: {calls} calls, 0 errors; " in err.decode()


def test_repeat_refuses_what_is_no_single_call(
    cli: Callable[..., Result], bundled_node: str
) -> None:
    for extra in (["--dry-run"], ["-s", "all"], ["--local", "rpccli/demo_functions.py"]):
        node = [] if extra[0] == "--local" else [f"{bundled_node},{bundled_node}"]
        result = cli("call", "--repeat", "2", *extra, *node, "hello")
        assert result.code == 2 and result.out == b""
        assert result.err == "rpccli: --repeat is not for --local, --dry-run, --explain or -s all\n"
