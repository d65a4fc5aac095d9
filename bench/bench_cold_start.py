"""Cold start: wall time of ``rpccli call NODE hello`` (stdout piped) against a one-shot raw-socket
Python script doing the same call with the same interpreter. Goal: ratio at most 2.0 (1.5 would
match hand-written code).

    python bench/bench_cold_start.py                 # starts its own real uWSGI (tests.peers)
    python bench/bench_cold_start.py --node :3031    # or any running node with hello()
    python bench/bench_cold_start.py --runs 40

Each command runs ``--runs`` times (after 3 warm-up rounds, ``--warmups``, so the page cache is
warm for both); the median wall time is compared. ``-m rpccli`` and the console script are both
measured. The CPU time (user + system) of each process is shown too: on a machine busy with other
work it moves far less than the wall time. The last line, ``RATIO``, is the figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.installed import installed_python  # noqa: E402

RAW_SCRIPT = """\
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
body = struct.pack("<H", 5) + b"hello"
s = socket.create_connection((host or "127.0.0.1", int(port)), timeout=4)
s.sendall(struct.pack("<BHB", 173, len(body), 0) + body)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
s.close()
sys.stdout.buffer.write(data[4:])
"""


def measure(
    commands: dict[str, list[str]],
    runs: int,
    env: dict[str, str],
    warmups: int = 3,
    cwd: str | None = None,
) -> dict[str, Any]:
    """Run the commands in turn, round after round, so machine noise hits them alike; the
    ``warmups`` first rounds are not counted (page cache, bytecode)."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    outputs: dict[str, bytes] = {}
    for round_ in range(warmups + runs):
        for label, argv in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, env=env, cwd=cwd)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise SystemExit(f"{argv} failed: {proc.stderr.decode()}")
            outputs[label] = proc.stdout
            if round_ >= warmups:
                times[label].append(elapsed)
                used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                cpu[label].append(used)
    return {
        label: (statistics.median(t), min(t), statistics.median(cpu[label]), outputs[label])
        for label, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", help="a running node with hello(); default: start real uWSGI")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmups", type=int, default=3, help="rounds first, not counted")
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="run this checkout's venv as it is (an editable install) instead of an installed copy",
    )
    options = parser.parse_args()
    server = None
    node = options.node
    if node is None:
        from tests.peers import start_uwsgi

        server = start_uwsgi(processes=2, lua=())
        node = server.node
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith("RPCCLI_") and k != "PYTHONDONTWRITEBYTECODE"
            }
            # as a user's pip install leaves rpccli: a checkout's editable install slows every
            # interpreter of its venv, the baseline's too (bench/installed.py)
            python = sys.executable if options.in_place else str(installed_python(Path(tmp)))
            if options.in_place:  # bytecode compiled once, as pip does at install time
                argv = [
                    python,
                    "-m",
                    "compileall",
                    "-q",
                    str(ROOT / "rpccli"),
                    str(ROOT / "protocol"),
                ]
                subprocess.run(argv, check=True, env=env)
            env.update(XDG_CONFIG_HOME=f"{tmp}/config", XDG_STATE_HOME=f"{tmp}/state")
            script = Path(tmp) / "raw_call.py"
            script.write_text(RAW_SCRIPT)
            commands = {"raw-socket script": [python, str(script), node]}
            console = Path(python).parent / "rpccli"
            if console.exists():
                commands["rpccli (console script)"] = [str(console), "call", node, "hello"]
            commands["python -m rpccli"] = [python, "-m", "rpccli", "call", node, "hello"]
            results = measure(commands, options.runs, env, options.warmups, cwd=tmp)
    finally:
        if server is not None:
            server.stop()
    where = "this venv as it is (editable)" if options.in_place else "rpccli as installed"
    print(f"node {node}, {options.runs} runs each, stdout piped, {where}")
    print(f"  {'':<26} {'wall median / min':>20} {'ratio':>11}   {'CPU median':>10} {'ratio':>5}")
    raw_median, raw_min, raw_cpu, raw_out = results["raw-socket script"]
    for label, (median, fastest, used, out) in results.items():
        assert out == raw_out, f"{label} printed {out!r}, not {raw_out!r}"
        print(
            f"  {label:<26} {median * 1000:7.1f} ms / {fastest * 1000:5.1f} ms"
            f"   {median / raw_median:4.2f} / {fastest / raw_min:4.2f}"
            f"   {used * 1000:7.1f} ms {used / raw_cpu:5.2f}"
        )
    median, _, used, _ = results["python -m rpccli"]
    print(
        f"RATIO cold rpccli call / raw-socket script: {median / raw_median:.2f} (wall median), "
        f"{used / raw_cpu:.2f} (CPU median); goal at most 2.0"
    )


if __name__ == "__main__":
    main()
