"""Batch throughput: ``rpccli batch -c 16`` calls/s against real uWSGI (2 processes), beside wrk
hitting the SAME uWSGI through its HTTP socket mapped onto RPC (``--http-socket-modifier1 173
--http-socket-modifier2 2``, docs/protocol.md#responses), one connection per request (``Connection:
close``), as every uwsgi RPC call is. Goal: rpccli at least 0.6 of wrk's rate.

    python bench/bench_batch.py                    # 3 rounds: wrk 3 s, then 50000 calls
    python bench/bench_batch.py --calls 150000 --seconds 10 --rounds 5
    python bench/bench_batch.py --lanes 1          # rpccli batch in one process

rpccli's rate is calls / wall time of the whole process (start-up, both lanes and output
included), with JSON Lines written to a pipe that is drained; wrk's is its "Requests/sec". The
default --calls makes rpccli run about as long as wrk's 3 seconds, so that neither rate is
mostly start-up.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


def run_wrk(port: int, seconds: float, connections: int, threads: int) -> float:
    """wrk's rate against uWSGI's HTTP bridge on ``port`` (wrk counts whole seconds, 1 at least)."""
    wrk = require("wrk")
    url = f"http://127.0.0.1:{port}/hello/world"
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
    command += ["-H", "Connection: close", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    return float(found.group(1))


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
    parser.add_argument("--seconds", type=int, default=3)
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
    with uwsgi_with_http() as (server, http_port):
        # alternate the two, round after round: a shared machine's noise then hits both alike
        for _ in range(options.rounds):
            wrk_rates.append(
                run_wrk(http_port, options.seconds, options.concurrency, options.wrk_threads)
            )
            rate, summary = run_batch(server.node, options.calls, options.concurrency, lanes)
            batch_rates.append(rate)
            print(f"  round: wrk {wrk_rates[-1]:8.0f}/s   rpccli batch {rate:8.0f}/s   ({summary})")
    wrk_rate = statistics.median(wrk_rates)
    batch_rate = statistics.median(batch_rates)
    c = options.concurrency
    print(
        f"uWSGI 2 processes; {c} connections / calls in flight; median of {options.rounds} rounds"
    )
    print(f"  wrk -t {options.wrk_threads} (HTTP, Connection: close) {wrk_rate:9.0f} requests/s")
    print(f"  rpccli batch -c {c:<3}            {batch_rate:9.0f} calls/s")
    print(f"  ratio {batch_rate / wrk_rate:.2f} (goal >= 0.6)")


if __name__ == "__main__":
    main()
