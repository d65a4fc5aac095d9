"""TLS cost: `rpccli batch -c 16` over TLS (sessions resumed) against plain TCP on the SAME
real uWSGI (one --socket, one --suwsgi-socket), and the cost of a cold `rpccli call tls:...`.

    .venv/bin/python bench/bench_tls.py [--calls 3000] [--rounds 3]

Prints the calls/s of each, the ratio TLS/plain (goal >= 0.5), the full vs resumed handshakes of
one TLS batch, and the wall time of a cold `rpccli call` over TLS against a plain one.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rpccli.batch.calls import Call  # noqa: E402
from rpccli.batch.engine import Loop  # noqa: E402
from rpccli.batch.ordered import run  # noqa: E402
from rpccli.options import TLS, client_for  # noqa: E402
from tests.peers import free_port, start_uwsgi  # noqa: E402
from tests.tlscerts import make_certs  # noqa: E402


def batch_rate(node: str, tls: TLS, calls: int) -> tuple[float, list[int]]:
    """calls/s of the batch engine with 16 in flight; and [full, resumed] handshakes."""
    client = client_for(node, tls, timeout=10)
    from protocol.wire import rpc_request

    request = rpc_request("hello", [b"x"])
    counts = [0, 0]
    original = Loop.close

    def close(loop: Loop) -> None:
        counts[0] += loop.handshakes[0]
        counts[1] += loop.handshakes[1]
        original(loop)

    Loop.close = close  # type: ignore[method-assign]
    try:
        source = (Call([client], request, "hello", {}) for _ in range(calls))
        failed = []
        start = time.perf_counter()
        run(
            iter(source),
            lambda r: failed.append(r) if "error" in r else None,
            concurrency=16,
            window=64,
        )
        elapsed = time.perf_counter() - start
    finally:
        Loop.close = original  # type: ignore[method-assign]
    if failed:
        raise SystemExit(f"{len(failed)} calls failed: {failed[0]['error']}")
    return calls / elapsed, counts


def cold(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rpccli", "call", *args, "hello"], check=True,
                       capture_output=True)  # fmt: skip
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=5)
    options = parser.parse_args()
    certs = make_certs()
    port = free_port()
    spec = f"127.0.0.1:{port},{certs.server},{certs.server_key}"
    server = start_uwsgi(lua=(), processes=4, extra=["--suwsgi-socket", spec])
    try:
        tls = TLS(cacert=certs.ca)
        plain, secure = [], []
        counts = [0, 0]
        for _ in range(options.rounds):
            plain.append(batch_rate(server.node, TLS(), options.calls)[0])
            rate, counts = batch_rate(f"tls:127.0.0.1:{port}", tls, options.calls)
            secure.append(rate)
        p, s = statistics.median(plain), statistics.median(secure)
        print(f"batch -c 16 plain: {p:.0f} calls/s, TLS: {s:.0f} calls/s")
        print(f"handshakes in one TLS batch: {counts[0]} full, {counts[1]} resumed")
        cold_plain = cold([server.node], options.cold_runs)
        cold_tls = cold(["--cacert", certs.ca, f"tls:127.0.0.1:{port}"], options.cold_runs)
        print(f"cold rpccli call: plain {cold_plain * 1000:.1f} ms, TLS {cold_tls * 1000:.1f} ms "
              f"(+{(cold_tls - cold_plain) * 1000:.1f} ms)")  # fmt: skip
        print(f"ratio TLS/plain: {s / p:.2f} (goal >= 0.5)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
