"""Benchmark: the same concurrent RPC load against real uWSGI and against `rpccli serve`.

    python bench/bench_server.py                      # defaults: 3 s per run, 32 connections
    python bench/bench_server.py --duration 5 --concurrency 64 --rounds 3 --function hello

Real uWSGI runs with 2 processes (``--master --processes 2``) and examples/functions.py; the
bundled server runs as ``rpccli serve --no-demo examples/functions.py -q`` (its defaults: uvloop
when installed, a pool of 8 function threads). Both are separate processes, on 127.0.0.1.

The load generator is a separate process too: an asyncio (uvloop) client keeping ``concurrency``
calls in flight, each a fresh connection as uWSGI RPC requires (connect, send, read to the close),
checking every answer byte for byte. Rounds alternate uWSGI and bundled so that a noisy machine
hurts both alike; the best round of each counts. Prints calls/s for both and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


def measure(node: str, options: argparse.Namespace) -> dict[str, float]:
    """Run ``options.clients`` load processes at once; their rates add up."""
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
    if result["bad"] or result["errors"]:
        print(f"  warning: {result['bad']} wrong answers, {result['errors']} errors", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    parser.add_argument("--rounds", type=int, default=2, help="runs per server, alternating")
    parser.add_argument("--clients", type=int, default=1, help="load generator processes")
    parser.add_argument("--processes", type=int, default=2, help="uWSGI worker processes")
    parser.add_argument("--function", default="hello")
    parser.add_argument(
        "--serve-option",
        action="append",
        default=[],
        dest="serve_options",
        help="extra option for rpccli serve (repeatable), e.g. --threads=0",
    )
    parser.add_argument("--load", metavar="NODE", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", default=["bench"])
    options = parser.parse_args()
    if options.load:
        run_load(
            options.load, options.function, options.args, options.concurrency, options.duration
        )
        return

    uwsgi_proc, uwsgi_node = start_uwsgi(options.processes)
    bundled_proc, bundled_node = start_bundled(options.serve_options)
    best = {"uwsgi": 0.0, "bundled": 0.0}
    try:
        call = " ".join([options.function, *options.args])
        print(
            f"call: {call}; {options.concurrency} in flight from {options.clients} client "
            f"processes, {options.duration:g}s per run, {os.cpu_count()} CPUs",
            flush=True,
        )
        for round_ in range(1, options.rounds + 1):
            for name, node in (("uwsgi", uwsgi_node), ("bundled", bundled_node)):
                rate = measure(node, options)["rate"]
                best[name] = max(best[name], rate)
                print(f"  round {round_}: {name:8} {rate:9.0f} calls/s", flush=True)
    finally:
        stop_process(uwsgi_proc, signal.SIGINT)
        stop_process(bundled_proc, signal.SIGTERM)
    ratio = best["bundled"] / best["uwsgi"] if best["uwsgi"] else 0.0
    print(f"real uWSGI ({options.processes} processes): {best['uwsgi']:9.0f} calls/s")
    print(f"rpccli serve:               {best['bundled']:9.0f} calls/s")
    print(f"ratio rpccli/uWSGI:         {ratio:9.2f}")


if __name__ == "__main__":
    main()
