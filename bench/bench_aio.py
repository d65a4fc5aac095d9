"""Speed baseline: AsyncClient with 16 calls in flight against a bare asyncio.Protocol client.

    python bench/bench_aio.py                         # starts a real uWSGI (2 processes)
    python bench/bench_aio.py --calls 2000 --rounds 20 --concurrency 16
    python bench/bench_aio.py --node 127.0.0.1:3031 --function hello
    python bench/bench_aio.py --asyncio               # asyncio's own loop instead of uvloop

Both contenders run on uvloop (protocol.aio.run) in this one process and make the same number
of calls, with ``--concurrency`` tasks each making calls one after another. The bare client is
what a hand-written asyncio client does with no checks at all: ``loop.create_connection()`` to
the node with a Protocol that writes the request on connection_made, keeps what arrives and
resolves a future at connection_lost. The library adds request validation, the response reader,
the connect timeout, the whole-call deadline and the response cap. Rounds alternate the order;
the ratio is the median over rounds of (AsyncClient's rate / the bare client's in the same
round), with the middle half of those ratios. Goal: at least 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout: python bench/bench_aio.py

from protocol import Client, parse_address, rpc_request  # noqa: E402
from protocol.aio import AsyncClient, run  # noqa: E402


class _Bare(asyncio.Protocol):
    def __init__(self, request: bytes, done: asyncio.Future[bytes]) -> None:
        self.request, self.done, self.chunks = request, done, list[bytes]()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(b"".join(self.chunks))


async def bare_calls(node: str, request: bytes, calls: int, concurrency: int) -> None:
    """``calls`` calls by ``concurrency`` tasks, with a bare Protocol and no checks at all."""
    loop = asyncio.get_running_loop()
    address = parse_address(node)
    left = [calls]

    async def connect(protocol: _Bare) -> None:
        if address.family == socket.AF_UNIX:
            await loop.create_unix_connection(lambda: protocol, address.sockaddr)  # type: ignore[arg-type]
        else:
            await loop.create_connection(lambda: protocol, address.host, address.port)

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            done: asyncio.Future[bytes] = loop.create_future()
            await connect(_Bare(request, done))
            await done

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def client_calls(node: str, function: str, calls: int, concurrency: int) -> None:
    """The same calls with one AsyncClient shared by ``concurrency`` tasks."""
    client = AsyncClient(node)
    left = [calls]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await client.call(function)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def rate(
    main: Callable[[], Coroutine[Any, Any, None]], calls: int, use_uvloop: bool
) -> tuple[float, float]:
    """Calls a second, and CPU microseconds a call (this process, user + system)."""
    cpu, start = time.process_time(), time.perf_counter()
    run(main(), use_uvloop=use_uvloop)
    wall = time.perf_counter() - start
    return calls / wall, (time.process_time() - cpu) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds (default 20)")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight (16)")
    parser.add_argument("--node", help="an existing server; default: start a real uWSGI")
    parser.add_argument("--processes", type=int, default=2, help="uWSGI processes (default 2)")
    parser.add_argument("--function", default="hello", help="function to call (default hello)")
    parser.add_argument("--asyncio", action="store_true", help="asyncio's own loop, not uvloop")
    options = parser.parse_args(argv)

    server = None
    if options.node is None:
        from tests.peers import start_uwsgi

        server = start_uwsgi(processes=options.processes)
        options.node = server.node
    node, function, calls = options.node, options.function, options.calls
    width = options.concurrency
    use_uvloop = not options.asyncio
    try:
        request = rpc_request(function)
        Client(node).call(function)  # fail early, with the library's message, if it cannot work
        contenders: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "bare asyncio.Protocol": lambda: bare_calls(node, request, calls, width),
            "protocol.aio.AsyncClient": lambda: client_calls(node, function, calls, width),
        }
        for make in contenders.values():  # warm up caches and the server's workers
            rate(make, calls, use_uvloop)
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        cpus: dict[str, list[float]] = {name: [] for name in contenders}
        order = list(contenders)
        for _ in range(options.rounds):
            for name in order:
                calls_a_second, cpu = rate(contenders[name], calls, use_uvloop)
                rates[name].append(calls_a_second)
                cpus[name].append(cpu)
            order.reverse()
    finally:
        if server is not None:
            server.stop()

    loop_name = "asyncio" if options.asyncio else "uvloop"
    print(f"{calls} calls of {function!r} to {node}, {width} in flight, {loop_name}, ", end="")
    print(f"{options.rounds} rounds")
    for name, values in rates.items():
        cpu = statistics.median(cpus[name])
        print(
            f"  {name:26} {statistics.median(values):9.0f} calls/s (median round), "
            f"{cpu:6.1f} us of CPU a call"
        )
    mine, base = rates["protocol.aio.AsyncClient"], rates["bare asyncio.Protocol"]
    ratios = [m / b for m, b in zip(mine, base, strict=True)]
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    print(
        f"ratio AsyncClient x{width} / bare Protocol x{width}: {median:.3f} "
        f"(median of rounds; middle half {q1:.3f}-{q3:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
