"""`rpccli shell NODE < script`: no prompt_toolkit, one command per line, results as `call`
prints them in a pipe, one error line per failed line, and the documented exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.forkrun import rpccli_forks
from tests.peers import ROOT


def shell(stdin: bytes, *args: str, cold: bool = False) -> subprocess.CompletedProcess[bytes]:
    """``rpccli shell ARGS < stdin``: forked from tests/forkrun.py's warm server (what a script
    does), or with ``cold`` a ``python -m rpccli`` of its own (the real program's start)."""
    if not cold:
        return rpccli_forks().run(["shell", *args], os.environ.copy(), stdin, ROOT, timeout=60)
    return subprocess.run(
        [sys.executable, "-m", "rpccli", "shell", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=60,
        check=False,
    )


def test_lines_run_in_order_with_exact_bytes(bundled_node: str) -> None:
    script = b"hello world\n# a comment\n\necho $'\\x00\\xff' x\nupper abc\n"
    result = shell(script, bundled_node, cold=True)  # one cold run: the real program's
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"Hello, world\x00\xff xABC"
    assert result.stderr == b""


def test_raw_output_gives_one_line_per_call(bundled_node: str) -> None:
    # piped, N calls are N lines (an empty one for a failed call), not one blob
    script = b"hello a\n# comment\n.timeout 3\nnope\nbig 3\n"
    result = shell(script, "--raw-output", bundled_node)
    assert result.returncode == 1
    assert result.stdout == b"Hello, a\n\n\x00\x01\x02\n"


def test_failed_lines_are_reported_and_the_last_failure_is_the_exit_code(
    bundled_node: str,
) -> None:
    script = b"nope\nhello\necho a ''\nhello again\n"
    result = shell(script, bundled_node)
    assert result.returncode == 2  # line 3, a usage error, failed last
    assert result.stdout == b"Hello, worldHello, again"
    lines = result.stderr.decode().splitlines()
    assert lines[0].startswith("rpccli: line 1: no result from")
    assert lines[1].startswith("rpccli: line 3: argument 2 is empty")


def test_refused_node_gives_exit_code_3(xdg_dirs) -> None:
    result = shell(b"hello\n", "127.0.0.1:1")
    assert result.returncode == 3
    assert b"line 1: cannot connect to 127.0.0.1:1: refused" in result.stderr


def test_meta_commands_and_quit_in_a_script(bundled_node: str) -> None:
    script = b".json on\nhello x\n.quit\nhello never\n"
    result = shell(script, bundled_node)
    assert result.returncode == 0
    assert result.stdout.count(b"\n") == 1
    assert b'"response": "Hello, x"' in result.stdout


def test_stdin_argument_is_refused(bundled_node: str) -> None:
    result = shell(b"echo @-\n", bundled_node)
    assert result.returncode == 2
    assert b"@- (standard input) cannot be used here" in result.stderr


def test_no_node_in_a_script_is_a_usage_error(xdg_dirs) -> None:
    # no demo server behind a script's back: cron or CI that forgot the node must fail
    result = shell(b"hello\n")
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode().splitlines() == [
        "rpccli: no node given and standard input is not a terminal: pass NODE or set "
        "RPCCLI_NODE (--demo runs the script against the bundled demo server)"
    ]


def test_demo_flag_starts_the_bundled_demo_server_and_says_so(xdg_dirs) -> None:
    result = shell(b"hello\n.node\n", "--demo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"Hello, world127.0.0.1:")
    assert b"started the bundled demo server on 127.0.0.1:" in result.stderr
    # the demo server's port is thrown away: its names are not kept as a node used before
    assert not list((xdg_dirs["state"] / "rpccli").glob("names/*.json"))


def test_demo_server_failures_say_why(xdg_dirs) -> None:
    # the demo server runs in the shell's process: its log's reason replaces "see the server log"
    result = shell(b"fail\ntext\nnope\n", "--demo")
    assert result.returncode == 1
    errors = result.stderr.decode().splitlines()[1:]
    assert [e.split(": ", 3)[3] for e in errors] == [
        "fail: raised RuntimeError: fail was called (from the demo server's log; "
        "uWSGI sends no error detail)",
        "text: returned str, not bytes (from the demo server's log; uWSGI sends no error detail)",
        "nope: unknown function 'nope' (from the demo server's log; uWSGI sends no error detail)",
    ]


def test_bad_node_is_a_usage_error(xdg_dirs) -> None:
    result = shell(b"hello\n", "no-such-profile")
    assert result.returncode == 2
    assert result.stderr.startswith(b"rpccli: unknown node 'no-such-profile'")


def test_default_node_from_env(bundled_node: str, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RPCCLI_NODE", bundled_node)
    result = shell(b"hello env\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"Hello, env", b"")


def test_demo_with_a_node_is_a_usage_error(xdg_dirs) -> None:
    result = shell(b"", "--demo", "127.0.0.1:1")
    assert result.returncode == 2
    assert b"--demo starts its own server" in result.stderr


def test_bad_timeout_is_refused(bundled_node: str) -> None:
    result = shell(b".timeout 0\n.timeout 1e9\n.timeout x\n.timeout 2.5\n.timeout\n", bundled_node)
    assert result.returncode == 2  # the last FAILED line decides, though later lines worked
    assert result.stdout == b"2.5\n"
    errors = result.stderr.decode().splitlines()
    assert [e.split(":")[1] for e in errors] == [" line 1", " line 2", " line 3"]
    assert "at most 86400" in errors[1]
