"""Speed baseline: the library's clients against a minimal raw-socket loop, on one server.

    python bench/bench_client.py                      # starts a real uWSGI on loopback
    python bench/bench_client.py --calls 200 --rounds 50
    python bench/bench_client.py --node 127.0.0.1:3031 --function hello
    python bench/bench_client.py --pin split          # uWSGI on CPU 0, this process on the last

The contenders take turns in this one process: each round makes N sequential calls with each
of them, in an order that flips every round, so a slow spell of the machine hits all of them.
A contender's ratio is the median over rounds of (its rate / the raw loop's rate in the same
round), shown with the middle half of those ratios; the rates are per-contender medians. The raw
loop is what a hand-written client would do with no checks at all: connect, sendall the same
request bytes, recv until the server closes. The library adds request validation, the response
reader, the connect timeout, the whole-call deadline and the response cap; its goal is at
least 0.95 of the raw loop (AsyncClient's: 0.8). AsyncClient runs in one event loop made once
(``--loop-per-round``: a new one each round, as protocol.aio.run does).

Then ``--alternate`` single calls of each client take turns, and the ratios of their median
times are printed too: steadier than rates of rounds when the machine is busy. ``--pin`` places
this process and the server on CPUs (see pin()): unpinned, the figure moves with the placement
the scheduler happens to choose.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout: python bench/bench_client.py

from protocol import Client, parse_address, rpc_request  # noqa: E402
from protocol.aio import AsyncClient, new_event_loop, run  # noqa: E402


def pin(placement: str, server_pid: int | None) -> str:
    """Place this process and the server on CPUs, and say where: ``split`` runs the server on
    CPU 0 and this process on the last CPU, ``same`` both on the last CPU, ``none`` leaves it
    to the scheduler (which moves them between the two from one moment to the next).

    The placement moves the ratios more than anything in the clients: on one core a call is
    the client's CPU plus the server's, and every Python step of the client's runs with the
    caches the server's own interpreter left; on two cores much of the client's work overlaps
    the server's. Pinned, a run measures one of the two, not a mix that shifts with the load.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if placement == "none" or len(cpus) < 2:
        return "unpinned"
    if server_pid is None:
        raise SystemExit("--pin needs the server this script starts (no --node)")
    mine = {cpus[-1]}
    theirs = mine if placement == "same" else {cpus[0]}
    for pid in [server_pid, *_children(server_pid)]:
        os.sched_setaffinity(pid, theirs)
    os.sched_setaffinity(0, mine)
    return f"this process on CPU {cpus[-1]}, uWSGI on CPU {min(theirs)}"


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def raw_target(node: str) -> tuple[int, Any]:
    """The family and address a hand-written client would connect to, looked up once."""
    address = parse_address(node)
    if address.is_literal:
        return address.family, address.sockaddr
    family, _, _, _, sockaddr = socket.getaddrinfo(
        address.host, address.port, type=socket.SOCK_STREAM
    )[0]
    return family, sockaddr


def raw_loop(
    node: str, request: bytes, calls: int, socket_type: Callable[..., Any] = socket.socket
) -> None:
    family, sockaddr = raw_target(node)
    for _ in range(calls):
        sock = socket_type(family, socket.SOCK_STREAM)
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


def async_loop(
    node: str, function: str, calls: int, loop: asyncio.AbstractEventLoop | None = None
) -> None:
    """The calls in ``loop`` (one loop for every round, as in an application), or with
    ``loop`` None in a new uvloop loop each time (protocol.aio.run: about 1 ms of setting up and
    tearing down a loop per round)."""

    async def main() -> None:
        client = AsyncClient(node)
        for _ in range(calls):
            await client.call(function)

    if loop is None:
        run(main())
    else:
        loop.run_until_complete(main())


def alternating(node: str, function: str, calls: int) -> dict[str, float]:
    """Median wall time of one call (seconds) for each client, single calls taking turns.

    Steadier than rates of rounds on a busy machine: a slow spell hits three neighbouring
    calls, and the median drops it. The order of the three turns rotates from call to call, so
    that each client follows each other one (and comes first after the loop's own step) equally
    often: in a fixed order the raw call always came right after the AsyncClient's.
    """
    family, sockaddr = raw_target(node)
    request = rpc_request(function)
    client, aclient = Client(node), AsyncClient(node)
    clock = time.perf_counter
    times: dict[str, list[float]] = {"raw socket loop": [], "protocol.Client": []}
    times["protocol.aio.AsyncClient"] = []
    raw_times, client_times = times["raw socket loop"], times["protocol.Client"]
    async_times = times["protocol.aio.AsyncClient"]

    def raw_call() -> None:
        t0 = clock()
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.connect(sockaddr)
        sock.sendall(request)
        while sock.recv(65536):
            pass
        sock.close()
        raw_times.append(clock() - t0)

    def client_call() -> None:
        t0 = clock()
        client.call(function)
        client_times.append(clock() - t0)

    async def async_call() -> None:
        t0 = clock()
        await aclient.call(function)
        async_times.append(clock() - t0)

    async def main() -> None:
        for i in range(calls):
            turn = i % 3
            if turn == 0:
                raw_call()
                client_call()
                await async_call()
            elif turn == 1:
                client_call()
                await async_call()
                raw_call()
            else:
                await async_call()
                raw_call()
                client_call()

    run(main())
    return {name: statistics.median(values) for name, values in times.items()}


def rate(loop: Callable[[], None], calls: int) -> tuple[float, float]:
    """Calls a second, and CPU microseconds a call (this process, user + system)."""
    cpu, start = time.process_time(), time.perf_counter()
    loop()
    wall = time.perf_counter() - start
    return calls / wall, (time.process_time() - cpu) / calls * 1e6


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return q1, median, q3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per round (default 200)")
    parser.add_argument("--rounds", type=int, default=50, help="rounds (default 50)")
    parser.add_argument("--node", help="an existing server; default: start a real uWSGI")
    parser.add_argument("--function", default="hello", help="function to call (default hello)")
    parser.add_argument("--no-async", action="store_true", help="skip the asyncio client")
    parser.add_argument(
        "--loop-per-round",
        action="store_true",
        help="run AsyncClient in a new event loop each round (protocol.aio.run), not in one loop",
    )
    parser.add_argument(
        "--c-socket",
        action="store_true",
        help="also run the raw loop on socket.SocketType (the C type the library uses)",
    )
    parser.add_argument(
        "--alternate",
        type=int,
        default=2000,
        metavar="N",
        help="then N single calls of each client taking turns, median times (default 2000; 0: no)",
    )
    parser.add_argument(
        "--pin",
        choices=["none", "split", "same"],
        default="none",
        help="uWSGI on CPU 0 and this process on the last (split), both on the last (same)",
    )
    options = parser.parse_args(argv)

    server = None
    event_loop: asyncio.AbstractEventLoop | None = None
    if options.node is None:
        from tests.peers import start_uwsgi

        server = start_uwsgi(processes=1)
        options.node = server.node
    placement = pin(options.pin, None if server is None else server.proc.pid)
    try:
        node, function, calls = options.node, options.function, options.calls
        request = rpc_request(function)
        Client(node).call(function)  # fail early, with the library's message, if it cannot work
        contenders: dict[str, Callable[[], None]] = {
            "raw socket loop": lambda: raw_loop(node, request, calls),
            "protocol.Client": lambda: library_loop(node, function, calls),
        }
        if options.c_socket:
            contenders["raw loop, SocketType"] = lambda: raw_loop(
                node, request, calls, socket.SocketType
            )
        if not options.no_async:
            event_loop = None if options.loop_per_round else new_event_loop()  # uvloop if any
            contenders["protocol.aio.AsyncClient"] = lambda: async_loop(
                node, function, calls, event_loop
            )
        for loop in contenders.values():  # warm up caches and the server's workers
            loop()
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        cpus: dict[str, list[float]] = {name: [] for name in contenders}
        order = list(contenders)
        for _ in range(options.rounds):
            for name in order:
                calls_a_second, cpu = rate(contenders[name], calls)
                rates[name].append(calls_a_second)
                cpus[name].append(cpu)
            order.reverse()
        medians: dict[str, float] = {}
        if options.alternate and not options.no_async:
            medians = alternating(node, function, options.alternate)
    finally:
        if event_loop is not None:
            event_loop.close()
        if server is not None:
            server.stop()

    print(f"{calls} sequential calls of {function!r} to {node}, {options.rounds} rounds, ", end="")
    print(placement)
    raw = rates["raw socket loop"]
    for name, values in rates.items():
        cpu = statistics.median(cpus[name])
        print(
            f"  {name:26} {statistics.median(values):9.0f} calls/s (median round), "
            f"{cpu:6.1f} us of CPU a call"
        )
    labels = {
        "protocol.Client": "Client",
        "raw loop, SocketType": "raw loop on SocketType",
        "protocol.aio.AsyncClient": "AsyncClient",
    }
    for name, label in labels.items():
        if name in rates:
            ratios = [mine / base for mine, base in zip(rates[name], raw, strict=True)]
            q1, median, q3 = quartiles(ratios)
            spread = f"middle half {q1:.3f}-{q3:.3f}"
            print(f"ratio {label} / raw: {median:.3f} (median of rounds; {spread})")
    if medians:
        print(f"{options.alternate} single calls of each, taking turns (median wall time a call):")
        raw_call = medians["raw socket loop"]
        for name, seconds in medians.items():
            print(f"  {name:26} {seconds * 1e6:9.1f} us")
        for name, label in labels.items():
            if name in medians:
                ratio = raw_call / medians[name]
                print(f"ratio {label} / raw, single calls taking turns: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
