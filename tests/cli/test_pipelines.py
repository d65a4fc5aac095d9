"""Real processes: pipelines, the light call path, a real terminal (pexpect), broken pipes.

What a command does in a pipeline or on a terminal runs through the warm command of
tests/forkcommand.py (in a shell, on a terminal) or tests/forkrun.py's fork server (with pipes):
each is still a process of its own, with its own descriptors, signals and exit code, without a
cold start. What only a cold process shows stays cold: the console script pip wrote
(test_console_script), ``python -m rpccli`` (test_json_lines_from_a_real_process), what the
piped paths import (the PROBE tests), and a closed stdout or stderr, which is how the process
starts (the launcher has no descriptor to pass).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from protocol.server import BackgroundServer
from tests.forkcommand import rpccli_command
from tests.forkrun import ForkedPopen, rpccli_forks
from tests.peers import wait_until

RPCCLI = [sys.executable, "-m", "rpccli"]
SCRIPT = Path(sys.executable).parent / "rpccli"


def warm() -> list[str]:
    """The warm `rpccli` (tests/forkcommand.py): for a shell's command line or a terminal."""
    return [str(rpccli_command())]


def big_bytes(n: int) -> bytes:
    pattern = bytes(range(256))
    return (pattern * (n // 256 + 1))[:n]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    clean.update(XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_STATE_HOME=str(tmp_path / "s"))
    clean.pop("NO_COLOR", None)
    return clean


def sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, env=env, timeout=60
    )


def test_sha256_of_piped_output(bundled_node: str, env: dict[str, str]) -> None:
    cmd = shlex.join([*warm(), "call", bundled_node, "big", "300000"])
    result = sh(f"{cmd} | sha256sum", env)
    assert result.returncode == 0 and result.stderr == b""
    expected = hashlib.sha256(big_bytes(300000)).hexdigest()
    assert result.stdout.decode().split()[0] == expected


def test_console_script(bundled_node: str, env: dict[str, str]) -> None:
    from tests.peers import require

    script = str(SCRIPT) if SCRIPT.exists() else require("rpccli")
    result = subprocess.run(
        [script, "call", bundled_node, "hello", "x"], capture_output=True, env=env
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"Hello, x", b"")


def test_batch_pipeline(bundled_node: str, env: dict[str, str]) -> None:
    batch = shlex.join([*warm(), "batch", "-c", "4", bundled_node])
    py = shlex.quote(sys.executable)
    command = (
        f"printf 'hello a\\nupper b\\nfail\\n' | {batch} "
        f"| {py} -c 'import sys, json; [print(json.loads(l)[\"response\"]) for l in sys.stdin]'"
    )
    result = subprocess.run(["bash", "-c", command], capture_output=True, env=env, timeout=60)
    assert result.stdout == b"Hello, a\nB\nNone\n"
    assert b"3 calls, 1 failed" in result.stderr


def test_batch_exit_code_in_pipeline(bundled_node: str, env: dict[str, str]) -> None:
    batch = shlex.join([*warm(), "batch", "-q", "--raw-output", bundled_node])
    result = sh(f"printf 'hello\\nfail\\n' | {batch} | cat", env)
    assert result.returncode == 6 and result.stdout == b"Hello, world\n\n"


def test_broken_pipe_is_quiet(bundled_node: str, env: dict[str, str]) -> None:
    cmd = shlex.join([*warm(), "call", bundled_node, "big", "1000000"])
    result = sh(f"{cmd} | head -c1 | od -An -tx1", env)
    assert result.returncode == 0
    assert result.stdout.split() == [b"00"] and result.stderr == b""


def test_batch_broken_pipe_is_quiet(bundled_node: str, env: dict[str, str]) -> None:
    batch = shlex.join([*warm(), "batch", "-q", bundled_node])
    command = f"yes hello | head -n 3000 | {batch} | head -n1 >/dev/null; echo ${{PIPESTATUS[2]}}"
    result = subprocess.run(["bash", "-c", command], capture_output=True, env=env, timeout=60)
    assert result.stdout == b"0\n" and result.stderr == b""


PROBE = """
import sys
from rpccli.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'prompt_toolkit', 'asyncio'})
sys.stderr.write(repr(heavy))
sys.exit(code)
"""


@pytest.mark.parametrize("extra", [[], ["--json"], ["-v"], ["--dry-run"]])
def test_piped_call_path_stays_light(
    bundled_node: str, env: dict[str, str], extra: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "call", *extra, bundled_node, "hello"],
        capture_output=True,
        env=env,
    )
    assert result.returncode == 0
    assert result.stderr.decode().splitlines()[-1] == "[]"


def test_piped_batch_and_ping_stay_light(bundled_node: str, env: dict[str, str]) -> None:
    for argv in (["ping", bundled_node], ["batch", "-q", bundled_node]):
        result = subprocess.run(
            [sys.executable, "-c", PROBE, *argv], input=b"hello\n", capture_output=True, env=env
        )
        assert result.returncode == 0 and result.stderr.decode().splitlines()[-1] == "[]"


def spawn(args: list[str], env: dict[str, str]) -> pexpect.spawn:
    env = {**env, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}
    return pexpect.spawn(str(rpccli_command()), args, env=env, timeout=20)


def run_tty(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    child = spawn(args, env)
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


def test_tty_text_gets_a_display_newline(bundled_node: str, env: dict[str, str]) -> None:
    code, out = run_tty(["call", bundled_node, "hello"], env)
    assert code == 0 and out == b"Hello, world\r\n"


def test_tty_binary_is_a_hexdump(bundled_node: str, env: dict[str, str]) -> None:
    code, out = run_tty(["call", bundled_node, "big", "300"], env)
    assert code == 0
    assert b"00000000  00 01 02 03" in out and b"binary response, 300 bytes" in out


def test_tty_json_is_highlighted_unless_no_color(bundled_node: str, env: dict[str, str]) -> None:
    args = ["call", bundled_node, "echo", '{"a": [1, true]}']
    code, out = run_tty(args, env)
    assert code == 0 and b"\x1b[" in out and b'"a"' in out
    code, out = run_tty(args, {**env, "NO_COLOR": "1"})
    assert code == 0 and b"\x1b[" not in out
    assert out.replace(b"\r\n", b"\n") == b'{\n  "a": [\n    1,\n    true\n  ]\n}\n'


def test_tty_fan_out_table(bundled_node: str, env: dict[str, str]) -> None:
    code, out = run_tty(["call", "-s", "all", f"{bundled_node},{bundled_node}", "hello"], env)
    # the same node twice is one node
    assert code == 0 and b"Hello, world" in out


def test_tty_batch_pretty(bundled_node: str, env: dict[str, str]) -> None:
    path = Path(env["XDG_CONFIG_HOME"]).parent / "in.txt"
    path.write_bytes(b"hello a\nfail\n")
    child = pexpect.spawn(
        "bash",
        ["-c", f"{shlex.join([*warm(), 'batch', '-q', bundled_node])} < {shlex.quote(str(path))}"],
        env={**env, "TERM": "xterm", "NO_COLOR": "1"},
        timeout=20,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 6
    lines = child.before.decode().splitlines()
    assert lines[0] == "   1 hello: Hello, a"
    assert lines[1].startswith("   2 fail: no result from")


def test_json_lines_from_a_real_process(bundled_node: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [*RPCCLI, "call", "--json", bundled_node, "hello"], capture_output=True, env=env
    )
    assert json.loads(result.stdout)["response"] == "Hello, world"


def interrupt_when(
    argv: list[str], env: dict[str, str], started: Callable[[ForkedPopen], bytes]
) -> subprocess.CompletedProcess[bytes]:
    """Run rpccli, send SIGINT once ``started`` saw it working (it returns the stdout it read)."""
    import signal

    proc = rpccli_forks().popen(argv, env)
    try:
        seen = started(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()  # this test's own process, by its pid
            proc.communicate()
    return subprocess.CompletedProcess(argv, proc.wait(), seen + out, err)


def test_ctrl_c_during_a_call_exits_130(own_server: BackgroundServer, env: dict[str, str]) -> None:
    def mid_call(proc: ForkedPopen) -> bytes:
        wait_until(lambda: own_server.server.running() == 1, what="the call on the server")
        return b""

    result = interrupt_when(["call", own_server.node, "sleep", "5"], env, mid_call)
    assert result.returncode == 130
    # click adds a newline first, to end the terminal's ^C echo
    assert result.stdout == b"" and result.stderr.lstrip(b"\n") == b"rpccli: interrupted\n"


def test_ctrl_c_ends_endless_ping_with_a_summary(bundled_node: str, env: dict[str, str]) -> None:
    def first_reply(proc: ForkedPopen) -> bytes:
        return proc.stdout.readline()  # the first output line: the pings are running

    result = interrupt_when(["ping", "-c", "0", "-i", "0.1", bundled_node], env, first_reply)
    # Ctrl-C is how -c 0 ends: the exit code says how the pings went (iputils ping does so)
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith(f"{bundled_node}: seq=1 ")
    assert lines[-1].startswith(f"--- {bundled_node}: ")
    assert result.stderr.decode() == ""


def test_batch_streams_answers_before_more_input(bundled_node: str, env: dict[str, str]) -> None:
    # `tail -f log | rpccli batch -c 4`: each answer must come out while stdin stays open
    import queue
    import threading

    proc = rpccli_forks().popen(["batch", "-q", "-c", "4", "-o", "lines", bundled_node], env)
    lines: queue.Queue[bytes] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    try:
        for word in (b"a", b"b"):
            proc.stdin.write(b"# a comment first\nhello " + word + b"\n")
            proc.stdin.flush()
            assert lines.get(timeout=30) == b"Hello, " + word + b"\n"
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()
        proc.stderr.close()


def test_batch_over_long_line_is_skipped(bundled_node: str, env: dict[str, str]) -> None:
    data = b"hello " + b"x" * (1024 * 1024 + 10) + b"\nhello after\n"
    result = rpccli_forks().run(["batch", "-q", bundled_node], env, input=data)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 6
    assert records[0]["line"] == 1 and records[0]["error"]["message"] == (
        "the line is over 1048576 bytes"
    )
    assert (records[1]["line"], records[1]["response"]) == (2, "Hello, after")


# ---- stdout that cannot be written, stderr closed ----

WRITE_FAILURES = [
    ("call {node} hello", "No space left on device"),
    ("call --json {node} hello", "No space left on device"),
    ("ping {node}", "No space left on device"),
    ("--help", "No space left on device"),
    ("completion bash", "No space left on device"),
]


@pytest.mark.parametrize(("command", "reason"), WRITE_FAILURES)
def test_full_disk_is_one_line_and_exit_74(
    bundled_node: str, env: dict[str, str], command: str, reason: str
) -> None:
    cmd = shlex.join([*warm(), *shlex.split(command.format(node=bundled_node))])
    result = sh(f"{cmd} > /dev/full", env)
    assert result.returncode == 74
    assert result.stderr == f"rpccli: cannot write the output: {reason}\n".encode()


def test_batch_to_a_full_disk(bundled_node: str, env: dict[str, str]) -> None:
    cmd = shlex.join([*warm(), "batch", "-q", bundled_node])
    result = sh(f"printf 'hello\\n' | {cmd} > /dev/full", env)
    assert (result.returncode, result.stderr) == (
        74,
        b"rpccli: cannot write the output: No space left on device\n",
    )


def test_closed_stdout(bundled_node: str, env: dict[str, str]) -> None:
    cmd = shlex.join([*RPCCLI, "call", bundled_node, "hello"])
    result = sh(f"{cmd} >&-", env)
    assert (result.returncode, result.stderr) == (
        74,
        b"rpccli: cannot write the output: standard output is closed\n",
    )


def test_closed_stderr_keeps_the_exit_code(env: dict[str, str]) -> None:
    from tests.peers import free_port

    cmd = shlex.join([*RPCCLI, "call", f"127.0.0.1:{free_port()}", "hello"])
    result = sh(f"{cmd} 2>&-; echo rc=$?", env)
    assert result.stdout == b"rc=3\n"


def test_batch_from_a_terminal_says_how_it_reads(bundled_node: str, env: dict[str, str]) -> None:
    # a silent wait on a terminal looks like a hang
    child = spawn(["batch", "-o", "lines", bundled_node], env)
    child.expect_exact("rpccli: reading calls from the terminal, one per line; Ctrl-D ends")
    child.sendline("hello t")
    child.expect_exact("Hello, t")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
