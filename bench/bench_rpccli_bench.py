"""``rpccli bench`` as a load generator: is it ever the bottleneck? Three measurements, each
against real uWSGI (2 processes) started here:

1. closed loop: ``rpccli bench -c 16`` calls/s beside wrk (``-t 2 -c 16``, ``Connection:
   close``) hitting the SAME uWSGI through its HTTP socket mapped onto RPC (as
   bench_batch.py does), rounds alternating. Goal: rpccli at least 0.9 of wrk's rate. Also
   the CPU per call of each side, generator + uWSGI (bench_batch.py says how; rpccli's start-up
   left out, as its rate leaves it out), and their quotient: the rate ratio where the two cores
   are saturated by this alone, steadier than the rates on a shared machine.
2. open loop: ``rpccli bench -R 5000 -d SECONDS``; the rate reached. Goal: within 1% for 30 s.
3. memory: ``rpccli bench -n 1000000``; the peak RSS of the whole process tree (getrusage of
   the children: the largest one). Goal: at most 64 MiB.

    python bench/bench_rpccli_bench.py                       # 3 rounds of 3 s, 30 s, 1M calls
    python bench/bench_rpccli_bench.py --seconds 1 --rounds 1 --open-seconds 1 --calls 2000
    python bench/bench_rpccli_bench.py --lanes 2             # rpccli bench --lanes 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_batch import (  # noqa: E402
    Costs,
    measured,
    uwsgi_with_http,
    wrk_calls,
)
from bench.cpu import children_cpu  # noqa: E402


def run_bench(node: str, options: list[str]) -> tuple[dict[str, object], int]:
    """rpccli bench --json; its figures and the peak RSS (KiB) of its processes."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
        env.update(XDG_CONFIG_HOME=f"{tmp}/c", XDG_STATE_HOME=f"{tmp}/s")
        command = [sys.executable, "-m", "rpccli", "bench", "--json", "-q", *options]
        command += [node, "hello", "world"]
        # a fresh parent whose only children are rpccli bench (and its lanes): the largest
        # peak RSS among them is getrusage(RUSAGE_CHILDREN).ru_maxrss there
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK, *command], capture_output=True, env=env, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"rpccli bench failed ({proc.returncode}): {proc.stderr}")
        *lines, peak = proc.stdout.splitlines()
        figures = json.loads(lines[-1])
        if figures["failed"]:
            raise SystemExit(f"rpccli bench: calls failed: {figures['errors']}")
        return figures, int(peak)


_PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3, help="closed loop: per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--lanes", type=int, default=None, help="rpccli bench --lanes (default: its own)"
    )
    parser.add_argument("--rate", type=float, default=5000, help="open loop: calls/s")
    parser.add_argument("--open-seconds", type=float, default=30, help="open loop: duration")
    parser.add_argument("--calls", type=int, default=1_000_000, help="memory: calls")
    parser.add_argument(
        "--start-up-runs",
        type=int,
        default=3,
        help="runs of -n CONCURRENCY whose median CPU is rpccli bench's start-up",
    )
    options = parser.parse_args()
    lanes = [] if options.lanes is None else ["--lanes", str(options.lanes)]
    wrk_rates: list[float] = []
    bench_rates: list[float] = []
    used: object = "?"
    c = options.concurrency
    closed = ["-c", str(c), "-d", str(options.seconds), *lanes]
    last: list[dict[str, object]] = []

    def closed_loop() -> tuple[float, int]:
        figures, _ = run_bench(server.node, closed)
        last[:] = [figures]
        return float(figures["rate"]), int(figures["calls"])  # type: ignore[arg-type]

    def wrk() -> tuple[float, int]:
        return wrk_calls(http_port, options.seconds, c, options.wrk_threads)

    with uwsgi_with_http() as (server, http_port):
        pid = server.proc.pid
        # the rate counts the measuring only: take the CPU of start-up and exit out of the
        # generator's share (the median of --start-up-runs runs of -n c)
        start_ups = []
        for _ in range(options.start_up_runs):
            before = children_cpu()
            run_bench(server.node, ["-c", str(c), "-n", str(c), *lanes])
            start_ups.append(children_cpu() - before)
        wrk_costs, bench_costs = Costs(), Costs(statistics.median(start_ups))
        for _ in range(options.rounds):  # alternating: a shared machine's noise hits both
            wrk_rates.append(measured(wrk_costs, pid, wrk))
            bench_rates.append(measured(bench_costs, pid, closed_loop))
            used = last[0]["lanes"]
            print(f"  round: wrk {wrk_rates[-1]:8.0f}/s   rpccli bench {bench_rates[-1]:8.0f}/s")
        opened = ["-R", str(options.rate), "-d", str(options.open_seconds), *lanes]
        open_figures, _ = run_bench(server.node, opened)
        memory = ["-c", str(c), "-n", str(options.calls), *lanes]
        memory_figures, peak = run_bench(server.node, memory)
    wrk_rate = statistics.median(wrk_rates)
    bench_rate = statistics.median(bench_rates)
    print(f"uWSGI 2 processes; median of {options.rounds} rounds of {options.seconds:g} s")
    print(f"  wrk -t {options.wrk_threads} -c {c} (HTTP, Connection: close) {wrk_rate:9.0f}/s")
    print(f"  rpccli bench -c {c} --lanes {used}          {bench_rate:9.0f} calls/s")
    print(f"  closed-loop ratio rpccli/wrk: {bench_rate / wrk_rate:.2f} (goal >= 0.9)")
    print(wrk_costs.line("wrk"))
    print(bench_costs.line("rpccli bench"), f"(start-up {bench_costs.start_up:.2f} s CPU left out)")
    print(
        f"  machine-time ratio wrk/rpccli bench: "
        f"{wrk_costs.per_call() / bench_costs.per_call():.2f} (the rate ratio on a quiet machine)"
    )
    reached = float(open_figures["rate"])  # type: ignore[arg-type]
    latency = open_figures["latency_ms"]
    print(
        f"  open loop -R {options.rate:g} for {options.open_seconds:g} s: {reached:.1f} calls/s "
        f"= {reached / options.rate:.4f} of the rate asked (goal >= 0.99); "
        f"p99 {latency['p99']} ms"  # type: ignore[index]
    )
    print(
        f"  memory: {memory_figures['calls']:,} calls, peak RSS {peak / 1024:.1f} MiB "
        "(goal <= 64 MiB)"
    )


if __name__ == "__main__":
    main()
