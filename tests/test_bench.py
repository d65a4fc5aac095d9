"""The benchmarks still run: each one, tiny, against the real peers it starts itself.

Speed is never asserted here (bench/README.md); only that every script works from a checkout and
prints its result line, so that the figures in the closing notes can always be measured again.
Each run is the smallest that still goes through every step of its script (one round, a few
calls, a fraction of a second): the suite pays for the peers' start and stop, not for measuring.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import require

ROOT = Path(__file__).resolve().parent.parent

# two abusers of each kind, started well within the socket timeout even on a busy machine;
# answers of 8 MB, more than the kernel's buffers take at once (or the server is done with them)
_ABUSE = ["--seconds", "0.2", "--idle", "10", "--slowloris", "2", "--non-readers", "2"]
_ABUSE += ["--slow-readers", "2", "--socket-timeout", "2.5", "--big", "8000000"]
SMALL_RUNS = [
    # 5 single calls of each client taking turns, not the 2,000 of a real run
    (
        ["bench_client.py", "--calls", "5", "--rounds", "2", "--alternate", "5"],
        "ratio Client / raw:",
    ),
    (["bench_aio.py", "--calls", "20", "--rounds", "2"], "ratio AsyncClient x16 / bare Protocol"),
    (["bench_phases.py", "--calls", "5", "--rounds", "2"], "library extra"),
    # wrk for 0.2 s (stopped by SIGINT: its -d is 1 s at least)
    (["bench_batch.py", "--calls", "300", "--seconds", "0.2", "--rounds", "1"], "ratio "),
    (["bench_server.py", "--duration", "0.1", "--rounds", "1"], "RATIO rpccli serve --processes 2"),
    # no warm-up rounds: the page cache and the bytecode are warm from the suite's own runs
    (["bench_cold_start.py", "--runs", "1", "--warmups", "0"], "ratio"),
    (
        ["bench_completion.py", "--runs", "1", "--names", "5", "--warmups", "0"],
        "RATIO TAB process / python -c pass",
    ),
    (["bench_serve_abuse.py", *_ABUSE], "p99 under abuse:"),
    (
        # exit codes, not speed: a loaded machine may take seconds over a bound
        [
            "bench_hostile.py",
            "--deadline",
            "0.5",
            "--noise",
            "30",
            "--cases",
            "silent,empty,reset-body",
        ],
        "hostile matrix: 4 cases, 4 with",
    ),
    (["bench_fanout.py", "--nodes", "2", "--rounds", "1"], "RESULT N=2 ping:"),
    (["bench_shell_paste.py", "--rounds", "1", "--big", "8192"], "per extra KiB"),
    (
        [
            "bench_rpccli_bench.py",
            "--seconds",  # the closed loop's CPU per call needs more than a few clock ticks
            "0.3",
            "--rounds",
            "1",
            "--start-up-runs",
            "1",
            "--open-seconds",
            "0.3",
            "--rate",
            "100",
            "--calls",
            "32",
        ],
        "closed-loop ratio rpccli/wrk:",
    ),
    (
        ["bench_tls.py", "--calls", "20", "--rounds", "1", "--cold-runs", "1", "--s-time", "0"],
        "ratio TLS/plain:",
    ),
]


@pytest.mark.parametrize(("argv", "result"), SMALL_RUNS, ids=[run[0][0] for run in SMALL_RUNS])
def test_a_benchmark_runs_and_prints_its_result(argv: list[str], result: str) -> None:
    require("uwsgi")
    if argv[0] in ("bench_batch.py", "bench_rpccli_bench.py"):
        require("wrk")
    if argv[0] == "bench_shell_paste.py":
        require("tmux")
    script, *options = argv
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert result in done.stdout, done.stdout[-2000:]


def test_every_benchmark_has_a_small_run() -> None:
    scripts = {path.name for path in (ROOT / "bench").glob("bench_*.py")}
    assert scripts == {argv[0] for argv, _ in SMALL_RUNS}
