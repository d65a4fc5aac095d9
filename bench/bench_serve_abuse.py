"""Benchmark: a `hello` probe against `rpccli serve` with and without abusive clients at once.

    python bench/bench_serve_abuse.py              # 8 + 8 readers of 20 MB, 1000 idle, 50 slowloris
    python bench/bench_serve_abuse.py --seconds 3 --idle 500 --big 5000000 --processes 2

One `rpccli serve -q` (its defaults: uvloop when installed, 8 function threads) on 127.0.0.1, and
in this process: a probe calling `hello` every 10 ms on a fresh connection (protocol.Client),
first with no abuse, then while these clients are all connected at once:

- non-readers: ask for `big N` and never read;
- slow readers: ask for `big N` and take 4 KiB every 50 ms;
- idle connections: connect and send nothing (the kernel keeps them until TCP_DEFER_ACCEPT lets
  them through, as uWSGI's does: docs/protocol.md#requests);
- slowloris: send a request a byte every 100 ms, never the last one.

The probe runs in three phases: no abuse; while the abusers connect and the server computes
their big answers (CPU in the function threads: the probe shares the GIL with them); and under
abuse once every abuser is in place. The last phase ends before --socket-timeout can drop the
first abusers. Then the slow readers go, everyone else falls silent, and the server must end
them by itself: the time until its file descriptors are back to the count before, and its peak
RSS, are printed too. Goal: p99 under abuse below 50 ms, every probe answered.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile.serve_abusers import (  # noqa: E402
    Abuse,
    Probe,
    family,
    fd_count,
    memory,
    raise_fd_limit,
)
from tests.peers import free_port, stop_process  # noqa: E402

MB = 1 << 20


def start_serve(socket_timeout: float, processes: int) -> tuple[subprocess.Popen[str], str]:
    node = f"127.0.0.1:{free_port()}"
    args = [sys.executable, "-m", "rpccli", "serve", "--bind", node, "-q"]
    args += ["--socket-timeout", str(socket_timeout), "--processes", str(processes)]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    for line in iter(proc.stderr.readline, b""):
        if line.lstrip().startswith(b"try:"):
            break
    else:
        raise SystemExit(f"rpccli serve exited with {proc.wait()}")
    stderr = proc.stderr
    threading.Thread(target=stderr.read, daemon=True).start()  # a full pipe must not stall it
    return proc, node  # type: ignore[return-value]


def wait_fds(pids: list[int], done: object, timeout: float) -> float:
    """Seconds until ``done(count)`` holds for the processes' descriptor count (or timeout)."""
    start = time.monotonic()
    while not done(fd_count(pids)) and time.monotonic() - start < timeout:  # type: ignore[operator]
        time.sleep(0.02)
    return time.monotonic() - start


def line(name: str, probe: Probe) -> str:
    def ms(share: float) -> str:
        return f"{probe.percentile(share) * 1000:7.1f} ms"

    worst = max(probe.latencies, default=float("nan")) * 1000
    return (
        f"  {name:12} p50 {ms(0.5)}  p99 {ms(0.99)}  max {worst:7.1f} ms  "
        f"({len(probe.latencies)} probes, {len(probe.failures)} failed)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="probe time per phase")
    parser.add_argument("--non-readers", type=int, default=8)
    parser.add_argument("--slow-readers", type=int, default=8)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--slowloris", type=int, default=50)
    parser.add_argument("--big", type=int, default=20_000_000, help="bytes the readers ask for")
    parser.add_argument("--socket-timeout", type=float, default=6.0)
    parser.add_argument("--processes", type=int, default=1)
    options = parser.parse_args()
    clients = options.non_readers + options.slow_readers + options.idle + options.slowloris
    raise_fd_limit(clients + 256)

    proc, node = start_serve(options.socket_timeout, options.processes)
    try:
        Probe(node, timeout=5).run_for(0.3)  # warm: imports, first allocations
        pids = family(proc.pid)  # the banner comes before the workers are forked
        while options.processes > 1 and len(pids) <= options.processes:
            time.sleep(0.05)
            pids = family(proc.pid)
        fds = fd_count(pids)
        rss = sum(memory(pid)["VmRSS"] for pid in pids)
        print(
            f"probe: hello every 10 ms; abuse: {options.non_readers} non-readers and "
            f"{options.slow_readers} slow readers of big {options.big}, {options.idle} idle, "
            f"{options.slowloris} slowloris; socket-timeout {options.socket_timeout:g}s, "
            f"{options.processes} process(es), {os.cpu_count()} CPUs",
            flush=True,
        )
        quiet = Probe(node, timeout=5).run_for(options.seconds)
        print(line("no abuse", quiet), flush=True)

        abuse = Abuse(node, big=options.big)
        begun = time.monotonic()
        starting = Probe(node, timeout=5).start()
        try:
            abuse.add_idle(options.idle)
            abuse.add_slowloris(options.slowloris)
            abuse.add_non_readers(options.non_readers)
            abuse.add_slow_readers(options.slow_readers)
            # every abuser that sent a byte accepted (its descriptor open in the server), then a
            # moment for the big answers to be computed; the idle ones wait in the kernel until
            # TCP_DEFER_ACCEPT lets them through, as on uWSGI (docs/protocol.md#requests)
            wait_fds(pids, lambda n: n >= fds + clients - options.idle, 10)
            time.sleep(0.5)
            starting.stop()
            print(line("starting", starting), flush=True)
            left = options.socket_timeout - (time.monotonic() - begun) - 0.3
            if left < 0.2:
                raise SystemExit("the abuse took too long to start: raise --socket-timeout")
            under = Probe(node, timeout=5).run_for(min(options.seconds, left))
            print(line("under abuse", under), flush=True)
            peak_fds = fd_count(pids)
            abuse.stop_sending()
            abuse.close_slow_readers()
            settled = wait_fds(pids, lambda n: n <= fds, options.socket_timeout + 10)
            after = fd_count(pids)
        finally:
            abuse.close()
        peak = sum(memory(pid)["VmHWM"] for pid in pids)
    finally:
        stop_process(proc, signal.SIGTERM)  # type: ignore[arg-type]

    summed = f", summed over {len(pids)} processes" if len(pids) > 1 else ""
    print(
        f"server: peak RSS {peak / MB:.0f} MB ({rss / MB:.0f} MB before{summed}); file descriptors "
        f"{fds} before, {peak_fds} under abuse, {after} after (back {settled:.1f}s after the "
        f"abusers fell silent)"
    )
    p99, base = under.percentile(0.99), quiet.percentile(0.99)
    verdict = "met" if p99 < 0.050 and not under.failures else "NOT met"
    print(f"p99 no abuse: {base * 1000:.1f} ms")
    if not under.latencies:
        print(f"p99 under abuse: no probe answered; goal < 50 ms: {verdict}")
        return
    print(f"p99 under abuse: {p99 * 1000:.1f} ms ({p99 / base:.1f}x); goal < 50 ms: {verdict}")


if __name__ == "__main__":
    main()
