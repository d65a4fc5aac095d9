"""Ctrl-C during ``rpccli batch`` loses no record, with lanes as with one process.

A real ``rpccli batch -c 64`` against a loopback server whose one function records its argument
(every input line has its own), interrupted mid-run: by SIGINT to the process group (a
terminal's Ctrl-C) or to the coordinator alone. Then what the server ran is compared with the
records. The contract (README "Ctrl-C"):

- exit 130, and the last stderr line says how many lines were answered and after which line
  input stopped (M);
- records are exactly lines 1..M, in input order, one each;
- every call the server ran has a record: its answer, or ``interrupted`` ("cut off": sent, the
  answer had not arrived, the node may have run it);
- a line no lane took before Ctrl-C but that lies before M has a "not sent" record, and the
  server never ran it; lines after M were not sent and have no record.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from protocol.server.functions import FunctionTable
from tests.forkrun import rpccli_forks
from tests.peers import ROOT

LINES = 60_000  # far more than a run answers before its Ctrl-C
SUMMARY = re.compile(
    r"rpccli: interrupted: (?P<answered>\d+) lines? answered"
    r"(?:, (?P<cut>\d+) cut off waiting for their answer \(they may have run\))?"
    r"(?:, (?P<unsent>\d+) not sent)?"
    r"; input stopped after line (?P<last>\d+)\n\Z"
)


@dataclass
class Recorder:
    """The server side: every argument a call ran with, in the order they ran."""

    ran: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rec(self, arg: bytes) -> bytes:
        with self.lock:
            self.ran.append(int(arg))
        return b"ok:" + arg

    def settled(self) -> list[int]:
        """What ran, once no call has run for a while (cut-off calls may still be running)."""
        seen = -1
        for _ in range(50):
            with self.lock:
                if len(self.ran) == seen:
                    break
                seen = len(self.ran)
            time.sleep(0.1)
        with self.lock:
            return list(self.ran)


@pytest.fixture
def recorder(serve_table: Callable[[FunctionTable], str]) -> tuple[Recorder, str]:
    recorder = Recorder()
    table = FunctionTable()
    table.register("rec", recorder.rec)
    return recorder, serve_table(table)


def interrupted_batch(
    node: str, recorder: Recorder, *, lanes: int, group: bool, after: int, output: str = "json"
) -> tuple[int, bytes, str]:
    """Run the batch until the server ran ``after`` calls, then SIGINT; (exit, stdout, stderr)."""
    command = ["batch", "-o", output, "-c", "64", "--lanes", str(lanes), "-t", "10", node]
    # a process of its own, forked by tests/forkrun.py, in a session of its own: its own
    # process group, as a terminal's job has
    proc = rpccli_forks().popen(command, os.environ, cwd=ROOT, session=True)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    output: dict[str, bytes] = {}

    def feed() -> None:
        try:
            stdin.write(b"".join(b"rec %d\n" % n for n in range(1, LINES + 1)))
            stdin.close()
        except OSError:  # the batch stopped reading: Ctrl-C
            pass

    def drain(name: str, stream: object) -> None:
        output[name] = stream.read()  # type: ignore[attr-defined]

    threads = [
        threading.Thread(target=feed, daemon=True),
        threading.Thread(target=drain, args=("out", stdout), daemon=True),
        threading.Thread(target=drain, args=("err", stderr), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 8
        while len(recorder.ran) < after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the batch ended before its Ctrl-C"
        if group:
            os.killpg(proc.pid, signal.SIGINT)  # the group this test started
        else:
            os.kill(proc.pid, signal.SIGINT)  # the coordinator alone
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for thread in threads:
        thread.join(10)
    return code, output["out"], output["err"].decode()


def check_records(code: int, out: bytes, err: str, ran: list[int]) -> None:
    assert code == 130, err
    records = [json.loads(line) for line in out.splitlines()]
    lost = set(ran) - {r["line"] for r in records}
    assert not lost, f"{len(lost)} calls the server ran have no record: {sorted(lost)[:20]}"
    summary = SUMMARY.search(err)
    assert summary, err
    last = int(summary["last"])
    # exactly lines 1..M, in input order, one record each
    assert [r["line"] for r in records] == list(range(1, last + 1))
    answered = {r["line"] for r in records if r["ok"]}
    cut = {r["line"] for r in records if not r["ok"] and r["error"]["message"].startswith("inter")}
    unsent = {r["line"] for r in records if not r["ok"] and r["error"]["message"].startswith("not")}
    for record in records:
        if record["ok"]:
            assert record["response"] == f"ok:{record['line']}"
        else:
            assert record["error"]["type"] == "interrupted", record
    assert answered | cut | unsent == set(range(1, last + 1))
    # the server ran each call once; every call it ran has a record, and none it never got
    assert len(ran) == len(set(ran))
    assert set(ran) <= answered | cut, sorted(set(ran) - answered - cut)[:20]
    assert answered <= set(ran)
    assert not unsent & set(ran)
    # and stderr counts them
    assert int(summary["answered"]) == len(answered)
    assert int(summary["cut"] or 0) == len(cut)
    assert int(summary["unsent"] or 0) == len(unsent)


@pytest.mark.parametrize(
    ("lanes", "group"),
    [(2, True), (2, False), (1, True)],
    ids=["2-lanes-group", "2-lanes-coordinator", "1-lane-group"],
)
def test_ctrl_c_keeps_a_record_of_every_call_the_server_ran(
    recorder: tuple[Recorder, str], lanes: int, group: bool
) -> None:
    server, node = recorder
    for after in (300, 900, 1500, 2000):  # again, at other points of the run: races
        with server.lock:
            server.ran.clear()
        code, out, err = interrupted_batch(node, server, lanes=lanes, group=group, after=after)
        check_records(code, out, err, server.settled())


def test_ctrl_c_keeps_output_line_n_for_input_line_n(recorder: tuple[Recorder, str]) -> None:
    # -o lines: a failed or unsent line is an empty line, so positions must hold across lanes
    server, node = recorder
    for after in (500, 2000):
        with server.lock:
            server.ran.clear()
        code, out, err = interrupted_batch(
            node, server, lanes=2, group=True, after=after, output="lines"
        )
        ran = server.settled()
        assert code == 130, err
        summary = SUMMARY.search(err)
        assert summary, err
        lines = out.split(b"\n")
        assert lines.pop() == b""  # every record ends with its newline
        assert len(lines) == int(summary["last"])
        for number, line in enumerate(lines, 1):
            assert line in (b"ok:%d" % number, b""), (number, line)
        cut = {int(n) for n in re.findall(r"rpccli: line (\d+): interrupted while waiting", err)}
        assert len(cut) == int(summary["cut"] or 0)
        for number in ran:  # each call the server ran: its answer on its line, or cut off
            assert number in cut or lines[number - 1] == b"ok:%d" % number, number
