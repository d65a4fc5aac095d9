"""Fan-out to many nodes: ``rpccli call -s all GROUP hello`` and ``rpccli ping GROUP`` for
groups of N nodes (1,000 and 10,000 by default), beside a single-node ``rpccli call`` in the same
run as the baseline.

    python bench/bench_fanout.py                   # N = 1000 and 10000, 3 rounds each
    python bench/bench_fanout.py --nodes 300 --rounds 5

The N nodes are ONE ``rpccli serve -q --threads 0`` process bound to N loopback addresses
(127.1.X.Y, one port: all of 127.0.0.0/8 is loopback on Linux); the group is a config profile
(``[nodes.fleet]``), as an N-node group is too long for one command-line word. Each command runs
in a fresh process with --json piped to this script, in a state directory that starts empty
(``cold``: every node is new and its names file is written) and then holds the names of the
earlier rounds (``warm``).

Printed per command: wall time of the whole process, the slowest node's own time (its
``elapsed_ms``), wall minus slowest (what fan-out adds: the goal is at most 0.5 s at 1,000 nodes),
the ratio of wall time to the single-node call, and the process's peak RSS. The server needs one
descriptor per node: N + 100 must fit under ``ulimit -n``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.peers import free_port, stop_process  # noqa: E402


def addresses(count: int, port: int) -> list[str]:
    """``count`` loopback nodes on one port: 127.1.0.1, 127.1.0.2, ... (250 per third byte)."""
    return [f"127.1.{i // 250}.{i % 250 + 1}:{port}" for i in range(count)]


def start_server(nodes: list[str]) -> subprocess.Popen[bytes]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if len(nodes) + 100 > soft:
        want = min(hard, len(nodes) + 1000)
        if len(nodes) + 100 > want:
            raise SystemExit(f"{len(nodes)} nodes need ulimit -n above {len(nodes) + 100}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # inherited by the server
    command = [sys.executable, "-m", "rpccli", "serve", "-q", "--threads", "0", "--no-uvloop"]
    for node in nodes:
        command += ["--bind", node]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.lstrip().startswith(b"try:"):
            break
    else:
        raise SystemExit("rpccli serve did not start")
    import threading

    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc


def run(
    command: list[str], env: dict[str, str]
) -> tuple[float, float, list[dict[str, object]], int]:
    """Wall seconds, peak RSS (MiB), the JSON records and the exit code of one rpccli run."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "rpccli", *command],
            stdout=out,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = out.read().splitlines()
        records = [json.loads(line) for line in lines if line.startswith(b"{")]
    return wall, usage.ru_maxrss / 1024, records, proc.returncode


def bench(count: int, rounds: int) -> None:
    port = free_port()
    nodes = addresses(count, port)
    server = start_server(nodes)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.toml"
            config.write_text(f"[nodes.fleet]\naddress = {json.dumps(nodes)}\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
            env.update(RPCCLI_CONFIG=str(config), XDG_STATE_HOME=f"{tmp}/state")
            single, _, _, code = run(["call", nodes[0], "hello"], env)
            assert code == 0, code
            for name, command in (
                ("call -s all", ["call", "-s", "all", "--json", "fleet", "hello"]),
                ("ping", ["ping", "--json", "fleet"]),
            ):
                for index in range(rounds):
                    base, _, _, _ = run(["call", nodes[0], "hello"], env)
                    wall, rss, records, code = run(command, env)
                    answered = sum(1 for r in records if r.get("ok"))
                    slowest = max((float(r["elapsed_ms"] or 0) for r in records), default=0) / 1000
                    state = "cold" if index == 0 and name.startswith("call") else "warm"
                    print(
                        f"N={count} {name:12} {state}: wall {wall:.3f} s, slowest node "
                        f"{slowest:.3f} s, wall-slowest {wall - slowest:.3f} s, "
                        f"wall/single-call {wall / base:.1f} (single {base:.3f} s), "
                        f"peak RSS {rss:.0f} MiB, {answered}/{count} answered, exit {code}",
                        flush=True,
                    )
            names = Path(tmp) / "state" / "rpccli" / "names"
            kept = len(list(names.glob("*.json"))) if names.exists() else 0
            print(f"N={count} names files kept: {kept}")
            del single
    finally:
        stop_process(server, 15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="group size (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for count in args.nodes or [1000, 10000]:
        bench(count, args.rounds)


if __name__ == "__main__":
    main()
