"""TLS cost: `rpccli batch -c 16` over TLS (sessions resumed) against plain TCP on the SAME
real uWSGI (one --socket, one --suwsgi-socket), where the CPU goes, and a cold `rpccli call`.

    .venv/bin/python bench/bench_tls.py [--calls 3000] [--rounds 3] [--cold-runs 5] [--s-time 2]

For the batch engine in this process (plain, TLS as offered by default, TLS with --tls-max 1.2)
it prints calls/s, the client's and uWSGI's CPU per call and the full vs resumed handshakes; then
the same through the `rpccli batch` command (its own lanes); then the CPU of a full and of a
resumed handshake with the ssl module alone, one at a time; then `openssl s_time`'s handshakes
per client CPU second against the same socket, as a baseline of what OpenSSL itself costs; then
the wall time of a cold `rpccli call` over TLS against a plain one. The last line is the ratio.
"""

from __future__ import annotations

import argparse
import re
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_batch import run_batch  # noqa: E402
from bench.cpu import children_cpu, tree_cpu  # noqa: E402
from rpccli.batch.calls import Call  # noqa: E402
from rpccli.batch.engine import Loop  # noqa: E402
from rpccli.batch.ordered import run  # noqa: E402
from rpccli.options import TLS, client_for  # noqa: E402
from tests.peers import Uwsgi, free_port, start_uwsgi  # noqa: E402
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

    Loop.close = close  # type: ignore[method-assign,assignment]
    try:
        source = (Call([client], request, "hello", 0, [b"x"]) for _ in range(calls))
        failed: list[dict[str, Any]] = []

        def done(call: Call | dict[str, Any]) -> None:
            # a call's result: the answer's body, or a failure's record (rpccli.batch.calls)
            result = call.result if isinstance(call, Call) else call
            if isinstance(result, dict):
                failed.append(result)

        start = time.perf_counter()
        run(iter(source), done, concurrency=16, window=64)
        elapsed = time.perf_counter() - start
    finally:
        Loop.close = original  # type: ignore[method-assign]
    if failed:
        raise SystemExit(f"{len(failed)} calls failed: {failed[0]['error']}")
    return calls / elapsed, counts


def measured(
    server: Uwsgi, node: str, tls: TLS, calls: int
) -> tuple[float, float, float, list[int]]:
    """batch_rate, with the client's and the server's CPU milliseconds per call."""
    client, busy = time.process_time(), tree_cpu(server.proc.pid)
    rate, counts = batch_rate(node, tls, calls)
    client, busy = time.process_time() - client, tree_cpu(server.proc.pid) - busy
    return rate, client / calls * 1000, busy / calls * 1000, counts


def command_rate(
    server: Uwsgi, node: str, calls: int, extra: list[str]
) -> tuple[float, float, float]:
    """`rpccli batch -c 16` (its own lanes): calls/s, client and server CPU ms per call."""
    client, busy = children_cpu(), tree_cpu(server.proc.pid)
    rate, _ = run_batch(node, calls, 16, extra)
    client = children_cpu() - client
    return rate, client / calls * 1000, (tree_cpu(server.proc.pid) - busy) / calls * 1000


def s_time(port: int, ca: str, version: str, mode: str, seconds: int) -> str:
    """openssl s_time against the same socket: handshakes per client CPU second."""
    command = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-CAfile", ca, mode]
    command += [f"-tls{version.replace('.', '_')}", "-time", str(seconds)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not measured ({exc})"
    found = re.search(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec", out)
    if not found:
        return "not measured"
    # one mark a connection: "r" resumed, "*" not (s_time takes a TLS 1.3 session before its
    # ticket has come, so with TLS 1.3 it never resumes: -reuse is only measured for TLS 1.2)
    marks = "".join(line for line in out.splitlines() if re.fullmatch(r"[r*]+", line))
    reused, new = marks.count("r"), marks.count("*")
    rate = float(found.group(3))
    return f"{rate:.0f}/client CPU s ({1000 / rate:.2f} ms), {reused} of {reused + new} resumed"


def medians(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    rate, client, busy = (statistics.median(run[i] for run in runs) for i in range(3))
    return rate, client, busy


def handshake_cost(server: Uwsgi, port: int, ca: str, version: str, resume: bool, n: int) -> str:
    """One connection at a time with the ssl module alone: client and uWSGI CPU per call for a
    full or a resumed handshake (the request and answer included)."""
    from protocol.wire import rpc_request

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=ca)
    if version == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    request, session, resumed = rpc_request("hello", [b"x"]), None, 0
    client, busy = time.process_time(), tree_cpu(server.proc.pid)
    for _ in range(n):
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with context.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as sock:
            resumed += bool(sock.session_reused)
            sock.sendall(request)
            while True:
                try:
                    if not sock.recv(65536):
                        break
                except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                    break
            if resume and session is None:
                session = sock.session
    client, busy = time.process_time() - client, tree_cpu(server.proc.pid) - busy
    per = f"client CPU {client / n * 1000:.3f} ms/call, uWSGI CPU {busy / n * 1000:.3f} ms/call"
    return f"{per}, {resumed} of {n} resumed"


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
    parser.add_argument("--s-time", type=int, default=2, help="seconds per s_time run; 0: none")
    options = parser.parse_args()
    certs = make_certs(server_only=True)
    port = free_port()
    spec = f"127.0.0.1:{port},{certs.server},{certs.server_key}"
    server = start_uwsgi(lua=(), processes=4, extra=["--suwsgi-socket", spec])
    secure = f"tls:127.0.0.1:{port}"
    variants = [
        ("plain", server.node, TLS(), []),
        ("TLS", secure, TLS(cacert=certs.ca), ["--cacert", certs.ca]),
        ("TLS --tls-max 1.2", secure, TLS(cacert=certs.ca, tls_max="1.2"),
         ["--cacert", certs.ca, "--tls-max", "1.2"]),
    ]  # fmt: skip
    try:
        engine: dict[str, list[tuple[float, float, float]]] = {}
        shakes: dict[str, list[int]] = {}
        command: dict[str, list[tuple[float, float, float]]] = {}
        for _ in range(options.rounds):
            for name, node, tls, _ in variants:
                *figures, counts = measured(server, node, tls, options.calls)
                shakes.setdefault(name, counts)  # the first round's: later ones resume at once
                engine.setdefault(name, []).append((figures[0], figures[1], figures[2]))
            for name, node, _, args in variants:
                command.setdefault(name, []).append(command_rate(server, node, options.calls, args))
        print(f"batch -c 16, {options.calls} calls, median of {options.rounds}:")
        rates: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name, runs in engine.items():
            rate, client, busy = medians(runs)
            full, resumed = shakes[name]
            rates[name] = rate
            cpu[name] = client + busy
            done = f", handshakes {full} full, {resumed} resumed" if full + resumed else ""
            print(f"  engine  {name:18} {rate:6.0f} calls/s, client CPU {client:.3f} ms/call, "
                  f"uWSGI CPU {busy:.3f} ms/call{done}")  # fmt: skip
        commands = {}
        for name, cruns in command.items():
            rate, client, busy = medians(cruns)
            commands[name] = rate
            print(f"  command {name:18} {rate:6.0f} calls/s, client CPU {client:.3f} ms/call, "
                  f"uWSGI CPU {busy:.3f} ms/call")  # fmt: skip
        n = min(options.calls, 500)
        for version in ("1.3", "1.2"):
            for resume in (False, True):
                cost = handshake_cost(server, port, certs.ca, version, resume, n)
                print(f"  ssl alone TLS {version} {'resumed' if resume else 'full':7}: {cost}")
        if options.s_time > 0:
            for version, mode in (("1.3", "-new"), ("1.2", "-new"), ("1.2", "-reuse")):
                figure = s_time(port, certs.ca, version, mode, options.s_time)
                print(f"  openssl s_time TLS {version} {mode:6}: {figure}")
        cold_plain = cold([server.node], options.cold_runs)
        cold_tls = cold(["--cacert", certs.ca, secure], options.cold_runs)
        print(f"cold rpccli call: plain {cold_plain * 1000:.1f} ms, TLS {cold_tls * 1000:.1f} ms "
              f"(+{(cold_tls - cold_plain) * 1000:.1f} ms)")  # fmt: skip
        plain = rates["plain"]
        # what the rates would be if CPU alone set them (steadier than rates on a busy machine)
        print(
            f"CPU per call, both sides, plain/TLS: {cpu['plain'] / cpu['TLS']:.2f}; "
            f"plain/--tls-max 1.2: {cpu['plain'] / cpu['TLS --tls-max 1.2']:.2f}"
        )
        print(
            f"ratio TLS/plain: {rates['TLS'] / plain:.2f} (goal >= 0.5); "
            f"--tls-max 1.2: {rates['TLS --tls-max 1.2'] / plain:.2f}; "
            f"command (lanes): {commands['TLS'] / commands['plain']:.2f}, "
            f"--tls-max 1.2 {commands['TLS --tls-max 1.2'] / commands['plain']:.2f}"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
