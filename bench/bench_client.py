"""Speed baseline: the library's clients against a minimal raw-socket loop, on one server.

    python bench/bench_client.py                      # starts a real uWSGI on loopback
    python bench/bench_client.py --calls 5000 --rounds 7
    python bench/bench_client.py --node 127.0.0.1:3031 --function hello

Each round makes N sequential calls with each contender, alternating, in this one process; the
rate of a contender is its best round (other load on the machine only ever slows a round down;
the median is shown too). The raw loop is what a hand-written client would do with no checks at
all: connect, sendall the same request bytes, recv until the server closes. The library adds
request validation, the response reader, the whole-call deadline and the response cap; its goal
is at least 0.95 of the raw loop.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout: python bench/bench_client.py

from protocol import Client, parse_address, rpc_request  # noqa: E402
from protocol.aio import AsyncClient, run  # noqa: E402


def raw_loop(node: str, request: bytes, calls: int) -> None:
    address = parse_address(node)
    family, sockaddr = address.family, address.sockaddr
    if not address.is_literal:
        family, _, _, _, sockaddr = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM
        )[0]
    for _ in range(calls):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.connect(sockaddr)
        sock.sendall(request)
        while sock.recv(65536):
            pass
        sock.close()


def library_loop(node: str, function: str, calls: int) -> None:
    client = Client(node)
    call = client.call
    for _ in range(calls):
        call(function)


def async_loop(node: str, function: str, calls: int) -> None:
    async def main() -> None:
        client = AsyncClient(node)
        for _ in range(calls):
            await client.call(function)

    run(main())


def rate(loop: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    loop()
    return calls / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per contender (default 7)")
    parser.add_argument("--node", help="an existing server; default: start a real uWSGI")
    parser.add_argument("--function", default="hello", help="function to call (default hello)")
    parser.add_argument("--no-async", action="store_true", help="skip the asyncio client")
    options = parser.parse_args(argv)

    server = None
    if options.node is None:
        from tests.peers import start_uwsgi

        server = start_uwsgi(processes=1)
        options.node = server.node
    try:
        node, function, calls = options.node, options.function, options.calls
        request = rpc_request(function)
        Client(node).call(function)  # fail early, with the library's message, if it cannot work
        contenders: dict[str, Callable[[], None]] = {
            "raw socket loop": lambda: raw_loop(node, request, calls),
            "protocol.Client": lambda: library_loop(node, function, calls),
        }
        if not options.no_async:
            contenders["protocol.aio.AsyncClient"] = lambda: async_loop(node, function, calls)
        for loop in contenders.values():  # warm up caches and the server's workers
            loop()
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(options.rounds):
            for name, loop in contenders.items():
                rates[name].append(rate(loop, calls))
    finally:
        if server is not None:
            server.stop()

    print(f"{calls} sequential calls of {function!r} to {node}, {options.rounds} rounds each")
    best = {name: max(values) for name, values in rates.items()}
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name in rates:
        print(f"  {name:26} {best[name]:9.0f} calls/s (best)  {median[name]:9.0f} (median)")
    for name, label in (("protocol.Client", "Client"), ("protocol.aio.AsyncClient", "AsyncClient")):
        if name in rates:
            ratio_best = best[name] / best["raw socket loop"]
            ratio_median = median[name] / median["raw socket loop"]
            print(
                f"ratio {label} / raw: {ratio_best:.3f} (best rounds)  {ratio_median:.3f} (median)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
