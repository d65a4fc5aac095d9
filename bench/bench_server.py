"""Benchmark: the same concurrent RPC load against real uWSGI and against `rpccli serve`.

    python bench/bench_server.py                      # defaults: 3 rounds of 3 s, 32 connections
    python bench/bench_server.py --duration 5 --concurrency 64 --rounds 5 --function hello

Three servers, started once and measured by turns in every round: real uWSGI with 2 processes
(``--master --processes 2``, examples/functions.py), and the bundled server as ``rpccli serve
--no-demo examples/functions.py -q`` in one process and with ``--processes 2`` (its defaults:
uvloop when installed, 8 function threads, quick functions run in the loop). All are separate
processes, on 127.0.0.1.

The load generator is a separate process too: an asyncio (uvloop) client keeping ``concurrency``
calls in flight, each a fresh connection as uWSGI RPC requires (connect, send, read to the close),
checking every answer byte for byte. Rounds take the servers in turn so that a noisy machine
hurts all alike. Prints calls/s per round, then per rpccli contender the ratio to uWSGI: of the
best rounds, and the median of the rounds' ratios (each against uWSGI in the same round), on
lines that start with ``RATIO``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import tree_cpu  # noqa: E402
from protocol.client import Client  # noqa: E402
from protocol.wire import rpc_request  # noqa: E402
from tests.peers import free_port, stop_process  # noqa: E402

FUNCTIONS = ROOT / "examples" / "functions.py"


# -- the load generator (runs in its own process: --load) ---------------------------------------


class _Call(asyncio.Protocol):
    def __init__(self, request: bytes, done: asyncio.Future[bytes]) -> None:
        self.request = request
        self.done = done
        self.data = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None:
                self.done.set_exception(exc)
            else:
                self.done.set_result(bytes(self.data))


async def _load(
    host: str, port: int, request: bytes, expect: bytes, concurrency: int, duration: float
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    counts = {"ok": 0, "bad": 0, "errors": 0}
    measuring = False
    stop_at = 0.0

    async def worker() -> None:
        while True:
            now = loop.time()
            if stop_at and now >= stop_at:
                return
            done: asyncio.Future[bytes] = loop.create_future()
            try:
                await loop.create_connection(lambda d=done: _Call(request, d), host, port)
                answer = await done
            except OSError:
                if measuring:
                    counts["errors"] += 1
                continue
            if measuring:
                counts["ok" if answer == expect else "bad"] += 1

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(min(1.0, duration / 3))  # warm up: connections, caches, JIT-free paths
    measuring = True
    start = loop.time()
    stop_at = start + duration
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    return {**counts, "elapsed": elapsed, "rate": counts["ok"] / elapsed}


def run_load(node: str, function: str, args: list[str], concurrency: int, duration: float) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    host, port = node.rsplit(":", 1)
    request = rpc_request(function, args)
    expect = _expected(node, request)  # the answer every call must reproduce byte for byte
    result = asyncio.run(_load(host, int(port), request, expect, concurrency, duration))
    print(json.dumps(result))


def _expected(node: str, request: bytes) -> bytes:
    import socket

    host, port = node.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    if not out:
        raise SystemExit(f"{node} gave no result for the benchmark call")
    return out


# -- the servers ------------------------------------------------------------------------------


def _wait_ready(node: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            Client(node, timeout=1).ping()
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


def start_uwsgi(processes: int) -> tuple[subprocess.Popen[bytes], str]:
    node = f"127.0.0.1:{free_port()}"
    args = ["uwsgi", "--plugins", "rpc,ping,python3", "--socket", node, "--master"]
    args += ["--processes", str(processes), "--die-on-term", "--import", str(FUNCTIONS)]
    args += ["--disable-logging", "--listen", "1024"]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    _wait_ready(node, proc, "uwsgi")
    return proc, node


def start_bundled(extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    node = f"127.0.0.1:{free_port()}"
    args = [sys.executable, "-m", "rpccli", "serve", "--no-demo", str(FUNCTIONS)]
    args += ["--bind", node, "-q", *extra]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    _wait_ready(node, proc, "rpccli serve")
    return proc, node


def measure(node: str, options: argparse.Namespace, pid: int) -> dict[str, float]:
    """Run ``options.clients`` load processes at once; their rates add up. ``cpu``: the
    server's CPU microseconds per answered call (warm-up included in both)."""
    cpu_before = tree_cpu(pid)
    args = [sys.executable, __file__, "--load", node, "--function", options.function]
    share = max(1, options.concurrency // options.clients)
    args += ["--concurrency", str(share), "--duration", str(options.duration)]
    args += ["--", *options.args]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(options.clients)
    ]
    result = {"ok": 0.0, "bad": 0.0, "errors": 0.0, "rate": 0.0}
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode:
            raise SystemExit(f"load generator failed with {proc.returncode}")
        one = json.loads(out.strip().splitlines()[-1])
        for key in result:
            result[key] += one[key]
    calls = result["rate"] * (options.duration + min(1.0, options.duration / 3))
    result["cpu"] = (tree_cpu(pid) - cpu_before) * 1e6 / calls if calls else 0.0
    if result["bad"] or result["errors"]:
        print(f"  warning: {result['bad']} wrong answers, {result['errors']} errors", flush=True)
    return result


#: the rpccli contenders: (name, extra options, the goal of its ratio to uWSGI)
CONTENDERS = (
    ("rpccli serve (1 process)", [], 0.8),
    ("rpccli serve --processes 2", ["--processes", "2"], 0.95),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server, by turns")
    parser.add_argument("--clients", type=int, default=1, help="load generator processes")
    parser.add_argument("--processes", type=int, default=2, help="uWSGI worker processes")
    parser.add_argument("--function", default="hello")
    parser.add_argument(
        "--serve-option",
        action="append",
        default=[],
        dest="serve_options",
        help="extra option for both rpccli serve contenders (repeatable), e.g. --threads=0",
    )
    parser.add_argument("--load", metavar="NODE", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", default=["bench"])
    options = parser.parse_args()
    if options.load:
        run_load(
            options.load, options.function, options.args, options.concurrency, options.duration
        )
        return

    uwsgi_name = f"uWSGI --processes {options.processes}"
    procs: list[tuple[subprocess.Popen[bytes], signal.Signals]] = []
    servers: list[tuple[str, str, int]] = []
    try:
        proc, node = start_uwsgi(options.processes)
        procs.append((proc, signal.SIGINT))
        servers.append((uwsgi_name, node, proc.pid))
        for name, extra, _ in CONTENDERS:
            proc, node = start_bundled([*extra, *options.serve_options])
            procs.append((proc, signal.SIGTERM))
            servers.append((name, node, proc.pid))
        call = " ".join([options.function, *options.args])
        print(
            f"call: {call}; {options.concurrency} in flight from {options.clients} client "
            f"processes, {options.duration:g}s per run, {os.cpu_count()} CPUs",
            flush=True,
        )
        rates: dict[str, list[float]] = {name: [] for name, _, _ in servers}
        cpus: dict[str, list[float]] = {name: [] for name, _, _ in servers}
        for round_ in range(1, options.rounds + 1):
            # a different server goes first in each round
            turn = servers[round_ % len(servers) :] + servers[: round_ % len(servers)]
            for name, node, pid in turn:
                result = measure(node, options, pid)
                rates[name].append(result["rate"])
                cpus[name].append(result["cpu"])
                print(
                    f"  round {round_}: {name:28} {result['rate']:9.0f} calls/s "
                    f"{result['cpu']:7.1f} us CPU/call",
                    flush=True,
                )
    finally:
        for proc, stop in procs:
            stop_process(proc, stop)
    base = rates[uwsgi_name]
    base_cpu = statistics.median(cpus[uwsgi_name])
    print(f"{uwsgi_name:28} best {max(base):9.0f} calls/s, median {base_cpu:.1f} us CPU/call")
    for name, _, goal in CONTENDERS:
        mine = rates[name]
        best = max(mine) / max(base) if max(base) else 0.0
        ratios = sorted(m / b for m, b in zip(mine, base, strict=True) if b)
        median = statistics.median(ratios) if ratios else 0.0
        cpu = statistics.median(cpus[name])
        print(f"{name:28} best {max(mine):9.0f} calls/s, median {cpu:.1f} us CPU/call")
        print(
            f"RATIO {name} / {uwsgi_name}: {best:.2f} (best rounds), {median:.2f} (median of "
            f"rounds; {min(ratios, default=0):.2f}-{max(ratios, default=0):.2f}); goal {goal}"
        )
        # CPU per call moves far less with a busy machine than rates do
        print(f"CPU per call, uWSGI / {name}: {base_cpu / cpu if cpu else 0.0:.2f}")


if __name__ == "__main__":
    main()
