"""Fan-out to many nodes: ``rpccli call -s all GROUP hello`` and ``rpccli ping GROUP`` for
groups of N nodes (1,000 and 10,000 by default), beside a single-node ``rpccli call`` in the same
round as the baseline.

    python bench/bench_fanout.py                   # N = 1000 and 10000, 3 rounds each
    python bench/bench_fanout.py --nodes 300 --rounds 5

The N nodes are ONE ``rpccli serve -q --threads 0`` process bound to N loopback addresses
(127.1.X.Y, one port: all of 127.0.0.0/8 is loopback on Linux); it needs one descriptor per node
and one per open connection, so the script raises its soft ``ulimit -n`` to N + 2,000 when the
hard limit allows. The group is a config profile (``[nodes.fleet]``): 10,000 nodes are too long
for one command-line word. Each command is a fresh process with --json to a file, in a state
directory that starts empty (round 1's ``call -s all`` is ``cold``: every node is new to the
names cache) and then keeps what earlier rounds learned (``warm``). PYTHONDONTWRITEBYTECODE is
dropped, as an installed rpccli has its bytecode.

Per command and round: wall time of the whole process; the slowest node's own time (its
``elapsed_ms``); wall minus slowest, the goal being at most 0.5 s at 1,000 nodes; wall minus the
single-node call of the same round (what fan-out adds beyond starting rpccli at all); the ratio
wall / single call; CPU seconds (user + system) and peak RSS of the rpccli process, and the CPU
seconds the server spent meanwhile (on an idle machine with two cores the two run side by side,
so wall time is about the larger of them; on a loaded one, CPU time is the steadier figure). The
last line per N (``RESULT``) gives the medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import tree_cpu  # noqa: E402
from tests.peers import free_port, stop_process  # noqa: E402


def addresses(count: int, port: int) -> list[str]:
    """``count`` loopback nodes on one port: 127.1.0.1, 127.1.0.2, ... (250 per third byte)."""
    return [f"127.1.{i // 250}.{i % 250 + 1}:{port}" for i in range(count)]


def raise_fd_limit(count: int) -> None:
    """Room for ``count`` listening sockets and their connections (inherited by the children)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 2000
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < count + 200:
            raise SystemExit(f"{count} nodes need ulimit -n of at least {count + 200}")
        top = want if hard == resource.RLIM_INFINITY else min(hard, want)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def start_server(nodes: list[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "rpccli", "serve", "-q", "--threads", "0"]
    for node in nodes:
        command += ["--bind", node]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.lstrip().startswith(b"try:"):
            break
    else:
        raise SystemExit("rpccli serve did not start")
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc


class Run:
    """One rpccli process: wall and CPU seconds, peak RSS (MiB), exit code, JSON records."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        with tempfile.TemporaryFile() as out:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "rpccli", *command], cwd=ROOT, stdout=out,
                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip
            _, status, usage = os.wait4(proc.pid, 0)
            self.wall = time.perf_counter() - start
            proc.returncode = self.code = os.waitstatus_to_exitcode(status)
            out.seek(0)
            lines = out.read().splitlines()
        self.cpu = usage.ru_utime + usage.ru_stime
        self.rss = usage.ru_maxrss / 1024
        self.records: list[dict[str, Any]] = [json.loads(x) for x in lines if x.startswith(b"{")]

    @property
    def slowest(self) -> float:
        return max((float(r["elapsed_ms"] or 0) for r in self.records), default=0.0) / 1000


def bench(count: int, rounds: int) -> None:
    raise_fd_limit(count)
    port = free_port()
    nodes = addresses(count, port)
    server = start_server(nodes)
    figures: dict[str, list[tuple[float, ...]]] = {"call": [], "ping": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.toml"
            config.write_text(f"[nodes.fleet]\naddress = {json.dumps(nodes)}\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env.update(RPCCLI_CONFIG=str(config), XDG_STATE_HOME=f"{tmp}/state")
            Run(["call", nodes[0], "hello"], env)  # bytecode written, server warm
            for index in range(rounds):
                for name, command in (
                    ("call", ["call", "-s", "all", "--json", "fleet", "hello"]),
                    ("ping", ["ping", "--json", "fleet"]),
                ):
                    single = Run(["call", nodes[-1], "hello"], env).wall
                    served = tree_cpu(server.pid)
                    run = Run(command, env)
                    served = tree_cpu(server.pid) - served
                    answered = sum(1 for r in run.records if r.get("ok"))
                    state = "cold" if index == 0 and name == "call" else "warm"
                    print(
                        f"N={count} {name} round {index + 1} ({state}): wall {run.wall:.3f} s, "
                        f"slowest node {run.slowest:.3f} s, wall-slowest "
                        f"{run.wall - run.slowest:.3f} s, wall-single {run.wall - single:.3f} s, "
                        f"wall/single {run.wall / single:.1f} (single {single:.3f} s), "
                        f"cpu {run.cpu:.2f} s (server {served:.2f} s), peak RSS {run.rss:.0f} MiB, "
                        f"{answered}/{count} answered, exit {run.code}",
                        flush=True,
                    )
                    if answered != count or run.code != 0:
                        raise SystemExit(f"{name}: {count - answered} nodes did not answer")
                    row = (run.wall, run.wall - run.slowest, single, run.cpu, served, run.rss)
                    figures[name].append(row)
            kept = len(list((Path(tmp) / "state" / "rpccli" / "names").glob("*.json")))
    finally:
        stop_process(server, 15)
    for name, rows in figures.items():
        wall, over, single, cpu, served = (statistics.median(r[i] for r in rows) for i in range(5))
        print(
            f"RESULT N={count} {name}: median wall {wall:.3f} s, wall-slowest {over:.3f} s, "
            f"wall/single-call {wall / single:.1f}, cpu {cpu:.2f} s (server {served:.2f} s), "
            f"peak RSS {max(r[5] for r in rows):.0f} MiB"
            + (f", names files kept {kept}" if name == "call" else ""),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="group size (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for count in args.nodes or [1000, 10000]:
        bench(count, args.rounds)


if __name__ == "__main__":
    main()
