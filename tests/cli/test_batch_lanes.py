"""``rpccli batch`` on several processes (rpccli.batch.lanes): the same bytes as one process,
in order, streaming, and nothing left behind. Real processes against the bundled server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from protocol.server import BackgroundServer
from tests.forkrun import ForkedPopen, rpccli_forks
from tests.peers import wait_until

RPCCLI = [sys.executable, "-m", "rpccli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    clean.update(XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_STATE_HOME=str(tmp_path / "s"))
    return clean


def mixed_input(repeat: int) -> bytes:
    """Every kind of line, over several chunks (rpccli.batch.lanes.CHUNK_LINES is 256)."""
    block = [
        b"hello a",
        b'upper "b c"',
        b"",
        b"# a comment",
        b"nosuch",
        b'{"function": "echo", "args": ["x", {"base64": "AAE="}]}',
        b'["argc", "1", "2"]',
        b"{bad json",
        b"hello ''",
        b"binary 3",
        b"echo $'\\x00\\xff'",
        b"empty",
    ]
    return b"\n".join(block * repeat) + b"\n"


def run_batch(node: str, env: dict[str, str], *args: str, data: bytes) -> tuple[int, bytes, str]:
    # a process of its own, forked by tests/forkrun.py
    proc = rpccli_forks().run(["batch", *args, node], env, data, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr.decode()


def start_batch(
    node: str,
    env: dict[str, str],
    concurrency: int,
    lanes: int,
    session: bool = False,
    cold: bool = False,
) -> ForkedPopen | subprocess.Popen[bytes]:
    """``rpccli batch -q -o lines`` as a process with pipes, for tests that talk to it: forked
    by tests/forkrun.py, or ``cold`` (a test that finds the batch's processes by their
    environment needs one: a forked process's /proc/PID/environ is its fork server's)."""
    command = ["batch", "-q", "-c", str(concurrency), "--lanes", str(lanes), "-o", "lines", node]
    if cold:
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        return subprocess.Popen([*RPCCLI, *command], env=env, start_new_session=session, **pipes)
    return rpccli_forks().popen(command, env, session=session)


def lanes_of(proc: ForkedPopen | subprocess.Popen[bytes], count: int) -> list[int]:
    """The pids of the lanes ``proc`` forked, once there are ``count`` (10 s at most)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 10
    while len(children.read_text().split()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return [int(pid) for pid in children.read_text().split()]


def without_timing(json_lines: bytes) -> list[dict[str, object]]:
    records = [json.loads(line) for line in json_lines.splitlines()]
    for record in records:
        record.pop("elapsed_ms")
    return records


def summary_counts(err: str) -> str:
    return err.strip().splitlines()[-1].split(" calls/s")[0].rsplit(",", 1)[0]


@pytest.mark.parametrize("lanes", ["2", "3"])
def test_lanes_write_what_one_process_writes(
    bundled_node: str, env: dict[str, str], lanes: str
) -> None:
    data = mixed_input(60)  # 720 lines: three chunks and a bit
    code, out, err = run_batch(bundled_node, env, "-c", "8", "--lanes", "1", data=data)
    code_n, out_n, err_n = run_batch(bundled_node, env, "-c", "8", "--lanes", lanes, data=data)
    assert (code_n, code) == (6, 6)
    assert without_timing(out_n) == without_timing(out)
    numbers = [r["line"] for r in without_timing(out_n)]
    assert numbers == sorted(numbers) and len(numbers) == 600  # in input order, none lost
    assert summary_counts(err_n) == summary_counts(err) == "rpccli: 600 calls, 240 failed"
    assert f"{lanes} lanes)" in err_n and "lanes)" not in err


@pytest.mark.parametrize("fmt", ["lines", "netstring"])
def test_lanes_keep_bytes_and_error_lines_in_order(
    bundled_node: str, env: dict[str, str], fmt: str
) -> None:
    data = mixed_input(30)
    one = run_batch(bundled_node, env, "-c", "8", "-o", fmt, "--lanes", "1", data=data)
    two = run_batch(bundled_node, env, "-c", "8", "-o", fmt, "--lanes", "2", data=data)
    assert two[1] == one[1]  # the result bytes, binary ones included
    # each failed line's message on stderr, in input order, before the summary
    assert two[2].splitlines()[:-1] == one[2].splitlines()[:-1]
    assert len(one[2].splitlines()) == 4 * 30 + 1  # nosuch, {bad json, hello '', empty


def test_two_lanes_by_default_when_they_pay(bundled_node: str, env: dict[str, str]) -> None:
    data = b"hello a\n" * 50
    _, _, err = run_batch(bundled_node, env, "-c", "16", data=data)
    expected = "2 lanes)" if (os.cpu_count() or 1) >= 2 else "s)"
    assert err.strip().endswith(expected)
    _, _, err = run_batch(bundled_node, env, "-c", "3", data=data)  # few calls in flight
    assert "lanes" not in err


def test_local_functions_stay_in_one_process(env: dict[str, str], tmp_path: Path) -> None:
    functions = tmp_path / "f.py"
    functions.write_text(
        "import os, uwsgi\nuwsgi.register_rpc('pid', lambda: str(os.getpid()).encode())\n"
    )
    proc = subprocess.run(
        [*RPCCLI, "batch", "-o", "lines", "-c", "8", "--lanes", "4", "--local", str(functions)],
        input=b"pid\n" * 20,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0
    assert len(set(proc.stdout.splitlines())) == 1  # one process answered every line
    assert b"lanes" not in proc.stderr


@pytest.mark.parametrize("lanes", ["1", "2"])
def test_a_slow_stream_is_answered_line_by_line(
    bundled_node: str, env: dict[str, str], lanes: str
) -> None:
    # `tail -f calls | rpccli batch -c 4`: every answer -- a bad line's record too, which needs
    # no call -- comes out before the next line is written (with lanes: lanes take turns)
    proc = start_batch(bundled_node, env, 4, int(lanes))  # its few error lines wait in the pipe
    assert proc.stdin is not None and proc.stdout is not None
    exchange = [
        (b"hello a", b"Hello, a\n"),
        (b"{bad json", b"\n"),  # a failed line prints an empty line (-o lines)
        (b"# a comment", None),
        (b"hello b", b"Hello, b\n"),
        (b"hello ''", b"\n"),
        (b"nosuch", b"\n"),
        (b"hello c", b"Hello, c\n"),
    ]
    try:
        for line, answer in exchange:
            proc.stdin.write(line + b"\n")
            proc.stdin.flush()
            if answer is not None:
                assert proc.stdout.readline() == answer, line
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 6


# lanes whose work is instant (no network): they finish every chunk before the coordinator
# comes back, which is when it must hand out the lines it has already read without waiting
ECHO_LANES = """
import sys
from rpccli.batch.input import LineReader
from rpccli.batch.lanes import CHUNK_END, Counts, run_lanes
from rpccli.output import Printer

def work(number, source, sink, stop):
    calls = 0
    for number, text in source:
        if text is CHUNK_END:
            sink.chunk_done()
        else:
            calls += 1
            sink.write(b"%d %s\\n" % (number, text.encode()))
    return Counts(calls)

chunk = int(sys.argv[1])
counts = run_lanes(2, LineReader(sys.stdin.buffer), Printer("bytes"), work, chunk_lines=chunk,
                   not_sent=lambda entries: (b"", 0))
print((counts.calls, counts.failures), file=sys.stderr)
"""


@pytest.mark.parametrize("source", ["file", "pipe"])
@pytest.mark.parametrize("chunk", [1, 16])
def test_lanes_hand_out_lines_as_fast_as_lanes_take_them(
    env: dict[str, str], tmp_path: Path, source: str, chunk: int
) -> None:
    calls = tmp_path / "calls.txt"
    calls.write_bytes(b"".join(b"line %d\n" % n for n in range(1, 3001)))
    command = [sys.executable, "-c", ECHO_LANES, str(chunk)]
    if source == "file":
        with calls.open("rb") as stdin:
            proc = subprocess.run(command, stdin=stdin, capture_output=True, env=env, timeout=60)
    else:
        proc = subprocess.run(
            command, input=calls.read_bytes(), capture_output=True, env=env, timeout=60
        )
    assert proc.stderr == b"(3000, 0)\n"
    assert proc.stdout == b"".join(b"%d line %d\n" % (n, n) for n in range(1, 3001))


def processes_with(mark: str) -> list[int]:
    """Pids whose environment holds ``mark`` (forked lanes inherit their parent's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_reader_that_leaves_ends_every_lane(bundled_node: str, env: dict[str, str]) -> None:
    mark = f"LANES_TEST_MARK={uuid.uuid4()}"
    env = {**env, "LANES_TEST_MARK": mark.split("=", 1)[1]}
    proc = start_batch(bundled_node, env, 8, 2, cold=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"hello a\n" * 3000)
    proc.stdin.flush()
    assert proc.stdout.readline() == b"Hello, a\n"
    proc.stdout.close()  # `| head -n1`
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert proc.stderr is not None and proc.stderr.read() == b""
    deadline = time.monotonic() + 10
    while processes_with(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(mark) == []


def test_a_lane_that_dies_is_one_line_and_exit_6(bundled_node: str, env: dict[str, str]) -> None:
    proc = start_batch(bundled_node, env, 4, 2)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(b"sleep 0.2\n" * 40)
    proc.stdin.flush()
    lane = lanes_of(proc, 1)[0]
    os.kill(lane, signal.SIGKILL)  # a lane this test's batch started, by its pid
    proc.stdin.close()
    assert proc.wait(timeout=30) == 6
    err = proc.stderr.read().decode()
    assert err == f"rpccli: batch lane {lane} ended early: the results of its calls are lost\n"


def test_ctrl_c_stops_every_lane_and_keeps_records(
    own_server: BackgroundServer, env: dict[str, str]
) -> None:
    # a terminal's ^C reaches the whole process group: the coordinator and its lanes
    proc = start_batch(own_server.node, env, 4, 2, session=True)
    assert proc.stdin is not None
    proc.stdin.write(b"sleep 5\n" * 8)
    proc.stdin.flush()
    lanes_of(proc, 2)
    # calls in flight: the server runs at least two of them
    wait_until(lambda: own_server.server.running() >= 2, what="calls on the server")
    os.killpg(proc.pid, signal.SIGINT)  # the group this test started
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    # the calls in flight are not waited for: each has its failure record (an empty line here)
    cut = out.count(b"\n")
    assert cut and out == b"\n" * cut
    assert err.decode().endswith(
        f"rpccli: interrupted: 0 lines answered, {cut} cut off waiting for their answer "
        f"(they may have run); input stopped after line {cut}\n"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("a lane outlived the interrupted batch")


def test_lanes_never_exceed_the_calls_in_flight(bundled_node: str, env: dict[str, str]) -> None:
    # -c 3 on 4 lanes asked: 3 lanes of 1 call each; -c 1 stays one call at a time
    _, _, err = run_batch(bundled_node, env, "-c", "3", "--lanes", "4", data=b"hello a\n" * 30)
    assert err.strip().endswith(" 3 lanes)")
    _, _, err = run_batch(bundled_node, env, "-c", "1", "--lanes", "4", data=b"hello a\n" * 30)
    assert "lanes" not in err
