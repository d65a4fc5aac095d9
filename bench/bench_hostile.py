"""The hostile matrix: `rpccli call` against peers that misbehave, each within its deadline.

    python bench/bench_hostile.py                          # every case, -t 2 --connect-timeout 1
    python bench/bench_hostile.py --deadline 3 --connect-timeout 1.5 --rounds 3
    python bench/bench_hostile.py --cases baseline,silent,empty

Each case is a scripted loopback peer (tests/protocol/scripted.py, plus a few here) that
answers like no uWSGI would: silent after accept, a byte at a time, a reset in the header or
the body, garbage, a header announcing a huge body, an endless raw body, an empty packet, an
answer over ``--max-response``, a listener that never accepts. For each, ``rpccli call -t
DEADLINE --connect-timeout C NODE hello`` runs as a subprocess (``--rounds`` times) and the
table shows its exit code (and the one expected), its wall time beside the deadline, and its
peak RSS (``ru_maxrss`` of that child, from ``os.wait4``). The baseline row is a normal answer
in the same run (after one warm-up call): its wall time is the interpreter's start-up, which
every row pays too, so ``over base`` (wall minus the baseline's) is what the case itself cost;
it must stay within the case's bound (the deadline; the connect timeout for the listener that
never accepts) plus ``--noise`` (0.5 s), or the row is marked FAILED and the exit status is 1.
The suite's smoke run (tests/test_bench.py) allows a noise of its own: it checks that the
matrix runs and each case ends with its exit code, not how fast a loaded machine is.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol.wire import encode_vars  # noqa: E402
from tests.protocol.scripted import (  # noqa: E402
    Peer,
    answer,
    full_backlog,
    peer,
    read_request,
    reset_after,
    silent,
    trickle,
)

HELLO = b"\xad\x05\x00\x00hello"
_HUGE_VARS = encode_vars({b"CONTENT_LENGTH": b"999999999999999"})


def endless(conn: socket.socket, server: Peer) -> None:
    """Raw mode: result bytes as fast as the client takes them, never a close."""
    read_request(conn, server)
    block = b"x" * 65536
    while not server.stopping.is_set():
        conn.sendall(block)


def announce_then_wait(header: bytes) -> Callable[[socket.socket, Peer], None]:
    def script(conn: socket.socket, server: Peer) -> None:
        read_request(conn, server)
        conn.sendall(header)
        server.stopping.wait(30)

    return script


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    expected: int  # the exit code: 0 ok, 1 no result, 4 timed out, 5 protocol error
    script: Callable[[socket.socket, Peer], None] | None  # None: the full backlog
    options: tuple[str, ...] = ()
    bound: str = "deadline"  # or "connect": which timeout must end it


CASES = [
    Case("baseline", "a normal answer", 0, answer(HELLO)),
    Case("silent", "reads the request, then silence", 4, silent),
    Case("trickle", "one byte every 200 ms", 4, trickle),
    Case("reset-header", "reset after 2 header bytes", 5, reset_after(b"\xad\x05")),
    Case("reset-body", "reset after 3 of 10 body bytes", 5, reset_after(b"\xad\x0a\x00\x00hel")),
    Case("garbage", "garbage header (modifier2 255)", 5, answer(b"\xff\xff\xff\xff" * 8)),
    Case("http", "an HTTP answer", 5, answer(b"HTTP/1.1 200 OK\r\n\r\nhello")),
    Case(
        "huge-large",
        "large form, CONTENT_LENGTH 10^15",
        5,
        announce_then_wait(bytes([0xAD, len(_HUGE_VARS), 0, 5]) + _HUGE_VARS),
    ),
    Case(
        "huge-wait",
        "header of 65535 bytes, then silence",
        4,
        announce_then_wait(b"\xad\xff\xff\x00"),
    ),
    Case("endless-raw", "endless raw body (cap 64 MiB)", 5, endless, ("--raw",)),
    Case(
        "endless-raw-1M",
        "endless raw body, --max-response 1M",
        5,
        endless,
        ("--raw", "--max-response", "1000000"),
    ),
    Case("empty", "an empty packet (ad 00 00 00)", 1, answer(b"\xad\x00\x00\x00")),
    Case("zero-close", "the 0-byte close", 1, answer(b"")),
    Case(
        "oversized",
        "60000-byte answer, --max-response 1000",
        5,
        answer(b"\xad\x60\xea\x00" + b"x" * 60000),
        ("--max-response", "1000"),
    ),
    Case("backlog", "listener never accepts, backlog full", 4, None, bound="connect"),
]


@contextmanager
def target(case: Case) -> Iterator[str]:
    if case.script is None:
        with full_backlog() as node:
            yield node
        return
    with peer(case.script) as server:
        yield server.node


def run_once(node: str, case: Case, deadline: float, connect: float) -> tuple[int, float, int]:
    """One `rpccli call`: (exit code, wall seconds, peak RSS in KiB)."""
    argv = [sys.executable, "-m", "rpccli", "call", "-t", f"{deadline:g}"]
    argv += ["--connect-timeout", f"{connect:g}", *case.options, node, "hello"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
    return proc.returncode, wall, usage.ru_maxrss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=2.0, help="-t for every call")
    parser.add_argument("--connect-timeout", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=1, help="runs per case (median wall)")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument(
        "--noise", type=float, default=0.5, help="seconds over its bound a case may take"
    )
    options = parser.parse_args(argv)
    chosen = CASES
    if options.cases:
        names = options.cases.split(",")
        chosen = [case for case in CASES if case.name in names or case.name == "baseline"]
    with target(CASES[0]) as node:  # a warm-up: the first start of the interpreter is slower
        run_once(node, CASES[0], options.deadline, options.connect_timeout)
    rows = []
    for case in chosen:
        results = []
        for _ in range(options.rounds):
            context: AbstractContextManager[str] = target(case)
            with context as node:
                results.append(run_once(node, case, options.deadline, options.connect_timeout))
        codes = {code for code, _, _ in results}
        wall = statistics.median(w for _, w, _ in results)
        rss = max(r for _, _, r in results)
        rows.append((case, codes, wall, rss))
    base = rows[0][2]
    header = f"{'case':<15} {'exit':>4} {'want':>4} {'wall s':>7} {'over base':>9} "
    header += f"{'bound s':>7} {'peak RSS MiB':>12}  what"
    print(header)
    print("-" * len(header))
    bad = 0
    for case, codes, wall, rss in rows:
        bound = options.connect_timeout if case.bound == "connect" else options.deadline
        over = wall - base
        ok = codes == {case.expected} and over <= bound + options.noise
        bad += not ok
        code = ",".join(str(c) for c in sorted(codes))
        print(
            f"{case.name:<15} {code:>4} {case.expected:>4} {wall:>7.2f} {over:>9.2f} "
            f"{bound:>7.2f} {rss / 1024:>12.1f}  {case.what}{'' if ok else '  <-- FAILED'}"
        )
    print(
        f"hostile matrix: {len(rows)} cases, {len(rows) - bad} with the expected exit code "
        f"within their bound (-t {options.deadline:g}, --connect-timeout "
        f"{options.connect_timeout:g}; baseline {base:.2f} s)"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
