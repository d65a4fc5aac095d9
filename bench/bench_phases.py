"""Where a call's time goes: the library and a bare socket loop, phase by phase.

    python bench/bench_phases.py                      # starts a real uWSGI on loopback
    python bench/bench_phases.py --rounds 40 --node 127.0.0.1:3031

bench_client.py gives the ratio; this says where the difference lies, with far less noise (a
median over thousands of single calls per phase instead of rates of whole rounds). Each call is
cut in three by timestamps taken in the same socket subclass for both contenders:

- **before send**: from the call until its first send starts (request building, socket, connect);
- **exchange**: from there until ``close()`` starts (the server's work, the waits, the reads);
- **close**: ``close()`` and the return to the caller.

The library is made to use the timestamping socket by replacing ``protocol.client._Socket``
(its socket type) in this process only; the raw loop uses it directly, so both pay the same
instrumentation.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout: python bench/bench_phases.py

import protocol.client  # noqa: E402
from bench.bench_client import raw_target  # noqa: E402
from protocol import Client, rpc_request  # noqa: E402

PHASES = ("before send", "exchange", "close")
now = time.perf_counter_ns
marks: dict[str, int] = {}


class MarkedSocket(socket.SocketType):
    """The C socket type, noting when sending (the first send of a call) and closing start."""

    __slots__ = ()

    def send(self, data: ReadableBuffer, flags: int = 0, /) -> int:
        marks.setdefault("send", now())
        return super().send(data, flags)

    def sendall(self, data: ReadableBuffer, flags: int = 0, /) -> None:
        marks.setdefault("send", now())
        super().sendall(data, flags)

    def close(self) -> None:
        marks["close"] = now()
        super().close()


def raw_call(node: str, request: bytes) -> Callable[[], object]:
    family, sockaddr = raw_target(node)

    def call() -> None:
        sock = MarkedSocket(family, socket.SOCK_STREAM)
        sock.connect(sockaddr)
        sock.sendall(request)
        while sock.recv(65536):
            pass
        sock.close()

    return call


def timed(call: Callable[[], object], calls: int, into: dict[str, list[int]]) -> None:
    for _ in range(calls):
        marks.clear()
        start = now()
        call()
        end = now()
        into["before send"].append(marks["send"] - start)
        into["exchange"].append(marks["close"] - marks["send"])
        into["close"].append(end - marks["close"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per round (default 200)")
    parser.add_argument("--rounds", type=int, default=40, help="rounds (default 40)")
    parser.add_argument("--node", help="an existing server; default: start a real uWSGI")
    parser.add_argument("--function", default="hello", help="function to call (default hello)")
    options = parser.parse_args(argv)

    protocol.client._Socket = MarkedSocket  # this process only: see the module docstring
    server = None
    if options.node is None:
        from tests.peers import start_uwsgi

        server = start_uwsgi(processes=1)
        options.node = server.node
    node, function = options.node, options.function
    client = Client(node)
    contenders: dict[str, Callable[[], object]] = {
        "raw socket loop": raw_call(node, rpc_request(function)),
        "protocol.Client": lambda: client.call(function),
    }
    samples: dict[str, dict[str, list[int]]] = {
        name: {phase: [] for phase in PHASES} for name in contenders
    }
    try:
        for call in contenders.values():  # warm up, and fail early if it cannot work
            timed(call, options.calls, {phase: [] for phase in PHASES})
        order = list(contenders)
        for _ in range(options.rounds):
            for name in order:
                timed(contenders[name], options.calls, samples[name])
            order.reverse()
    finally:
        if server is not None:
            server.stop()

    print(f"{options.calls} x {options.rounds} calls of {function!r} to {node}: median us")
    print(f"  {'':18}" + "".join(f"{phase:>13}" for phase in (*PHASES, "sum")))
    medians = {}
    for name, phases in samples.items():
        medians[name] = [statistics.median(values) / 1000 for values in phases.values()]
        row = [*medians[name], sum(medians[name])]
        print(f"  {name:18}" + "".join(f"{value:13.1f}" for value in row))
    raw, library = medians["raw socket loop"], medians["protocol.Client"]
    extra = [mine - base for mine, base in zip(library, raw, strict=True)]
    print(f"  {'library extra':18}" + "".join(f"{value:+13.1f}" for value in (*extra, sum(extra))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
