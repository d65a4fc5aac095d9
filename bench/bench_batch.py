"""Batch throughput: ``rpccli batch -c 16`` calls/s against real uWSGI (2 processes), beside wrk
hitting the SAME uWSGI through its HTTP socket mapped onto RPC (``--http-socket-modifier1 173
--http-socket-modifier2 2``, docs/protocol.md#responses), one connection per request (``Connection:
close``), as every uwsgi RPC call is. Goal: rpccli at least 0.8 of wrk's rate.

    python bench/bench_batch.py                    # 3 rounds: wrk 3 s, then 50000 calls
    python bench/bench_batch.py --calls 150000 --seconds 10 --rounds 5
    python bench/bench_batch.py --lanes 1          # rpccli batch in one process

Rates on a shared machine swing with the other load; the CPU each side costs per call does not
swing as much. So each round also takes the CPU seconds (user + system) of the load generator
(its process tree, from ``getrusage``) and of uWSGI's processes (``/proc``) over the calls it
made, and the script prints the "machine time" per call of each side (generator + uWSGI) and
their quotient: the ratio of rates to expect where the two cores are saturated and nothing else
runs.

rpccli's rate is calls / wall time of the whole process (start-up, both lanes and output
included), with JSON Lines written to a pipe that is drained; wrk's is its "Requests/sec". The
default --calls makes rpccli run about as long as wrk's 3 seconds, so that neither rate is
mostly start-up.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import children_cpu, tree_cpu  # noqa: E402
from tests.peers import Uwsgi, free_port, require, uwsgi  # noqa: E402


@contextmanager
def uwsgi_with_http() -> Iterator[tuple[Uwsgi, int]]:
    """Real uWSGI (2 processes) for rpccli on its RPC socket and for wrk on an HTTP socket
    mapped onto the same RPC functions (docs/protocol.md#responses); and that HTTP port."""
    http_port = free_port()
    extra = ["--http-socket", f"127.0.0.1:{http_port}", "--http-socket-modifier1", "173"]
    extra += ["--http-socket-modifier2", "2", "--listen", "1024"]
    with uwsgi(processes=2, lua=(), extra=extra) as server:
        yield server, http_port


class Costs:
    """Machine time per call, summed over rounds: the generator's CPU and the server's."""

    def __init__(self, start_up: float = 0.0) -> None:
        self.calls = 0
        self.client = 0.0
        self.server = 0.0
        self.start_up = start_up  # the generator's CPU per run that no call costs

    def add(self, calls: int, client: float, server: float) -> None:
        self.calls += calls
        self.client += max(client - self.start_up, 0.0)
        self.server += server

    def per_call(self) -> float:
        """Microseconds of CPU (generator + uWSGI) per call."""
        return (self.client + self.server) / max(self.calls, 1) * 1e6

    def line(self, name: str) -> str:
        n = max(self.calls, 1)
        return (
            f"  {name}: {self.per_call():5.1f} us of CPU per call "
            f"({self.client / n * 1e6:.1f} generator + {self.server / n * 1e6:.1f} uWSGI)"
        )


def measured(costs: Costs, server_pid: int, run: Callable[[], tuple[float, int]]) -> float:
    """Run ``run`` (it returns a rate and its calls); add its CPU to ``costs``."""
    client, server = children_cpu(), tree_cpu(server_pid)
    rate, calls = run()
    costs.add(calls, children_cpu() - client, tree_cpu(server_pid) - server)
    return rate


def run_wrk(port: int, seconds: float, connections: int, threads: int) -> float:
    """wrk's rate against uWSGI's HTTP bridge on ``port`` (wrk counts whole seconds, 1 at least)."""
    return wrk_calls(port, seconds, connections, threads)[0]


def wrk_calls(port: int, seconds: float, connections: int, threads: int) -> tuple[float, int]:
    """wrk's rate and request count against uWSGI's HTTP bridge on ``port``, for ``seconds``
    (wrk counts whole seconds; less than 1: see ``_wrk_interrupted``)."""
    wrk = require("wrk")
    url = f"http://127.0.0.1:{port}/hello/world"
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
    command += ["-H", "Connection: close", url]
    if seconds < 1:
        out = _wrk_interrupted(command, seconds)
    else:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if not found or not count:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    return float(found.group(1)), int(count.group(1))


def _wrk_interrupted(command: list[str], seconds: float) -> str:
    """wrk's output for a run of ``seconds`` < 1 (tests/test_bench.py's small runs), which its
    -d cannot ask for: SIGINT stops it, and it prints what it measured, its rate over the time
    it ran. Its first line ("Running ...") comes once its SIGINT handler is in place (before,
    SIGINT kills it); stdbuf makes that line reach the pipe at once."""
    proc = subprocess.Popen(
        ["stdbuf", "-oL", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}): {err}")
    return first + out


def run_batch(node: str, calls: int, concurrency: int, extra: list[str]) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "calls.txt"
        lines.write_bytes(b"hello world\n" * calls)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
        env.update(XDG_CONFIG_HOME=f"{tmp}/c", XDG_STATE_HOME=f"{tmp}/s")
        command = [sys.executable, "-m", "rpccli", "batch", "-c", str(concurrency), *extra, node]
        start = time.perf_counter()
        with lines.open("rb") as stdin:
            proc = subprocess.run(command, stdin=stdin, capture_output=True, env=env)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or proc.stdout.count(b"\n") != calls:
            raise SystemExit(f"batch failed ({proc.returncode}): {proc.stderr.decode()}")
        return calls / elapsed, proc.stderr.decode().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50000)
    parser.add_argument("--seconds", type=float, default=3, help="wrk: per round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=2,
        help="wrk's threads (its default is 2; rpccli batch runs 2 lanes here)",
    )
    parser.add_argument(
        "--lanes", type=int, help="rpccli batch --lanes (default: rpccli's own choice)"
    )
    options = parser.parse_args()
    lanes = [] if options.lanes is None else ["--lanes", str(options.lanes)]
    wrk_rates: list[float] = []
    batch_rates: list[float] = []
    wrk_costs, batch_costs = Costs(), Costs()
    summary = [""]

    def batch() -> tuple[float, int]:
        rate, summary[0] = run_batch(server.node, options.calls, options.concurrency, lanes)
        return rate, options.calls

    with uwsgi_with_http() as (server, http_port):
        pid = server.proc.pid
        # alternate the two, round after round: a shared machine's noise then hits both alike
        for _ in range(options.rounds):
            wrk = partial(
                wrk_calls, http_port, options.seconds, options.concurrency, options.wrk_threads
            )
            wrk_rates.append(measured(wrk_costs, pid, wrk))
            rate = measured(batch_costs, pid, batch)
            batch_rates.append(rate)
            print(f"  round: wrk {wrk_rates[-1]:8.0f}/s   rpccli batch {rate:8.0f}/s  ", summary[0])
    wrk_rate = statistics.median(wrk_rates)
    batch_rate = statistics.median(batch_rates)
    c = options.concurrency
    print(
        f"uWSGI 2 processes; {c} connections / calls in flight; median of {options.rounds} rounds"
    )
    print(f"  wrk -t {options.wrk_threads} (HTTP, Connection: close) {wrk_rate:9.0f} requests/s")
    print(f"  rpccli batch -c {c:<3}            {batch_rate:9.0f} calls/s")
    print(f"  ratio {batch_rate / wrk_rate:.2f} (goal >= 0.8)")
    print(wrk_costs.line("wrk"))
    print(batch_costs.line("rpccli batch"))
    print(
        f"  machine-time ratio wrk/rpccli batch: "
        f"{wrk_costs.per_call() / batch_costs.per_call():.2f} (the rate ratio on a quiet machine)"
    )


if __name__ == "__main__":
    main()
