"""Clients that abuse `rpccli serve`, and the server process's file descriptors and memory.

Shared by tests/hostile/test_serve_abuse.py and bench/bench_serve_abuse.py. Every abuser runs
in the calling process (threads and plain sockets, loopback only) and is ended by ``close()``:

- a non-reader asks for a big answer and never reads it;
- a slow reader asks for a big answer and takes a few KiB now and then, so it never times out;
- an idle connection connects and sends nothing;
- a slowloris sends a request a byte at a time, slowly, and stops before it is complete.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from protocol.client import Client
from protocol.errors import RPCError
from protocol.wire import rpc_request

__all__ = [
    "Abuse",
    "Probe",
    "family",
    "fd_count",
    "memory",
    "raise_fd_limit",
]


def raise_fd_limit(wanted: int) -> None:
    """Raise this process's soft limit on open files to ``wanted`` (a child inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def family(pid: int) -> list[int]:
    """A process and its children (``--processes`` workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def fd_count(pids: Iterable[int]) -> int:
    """Open file descriptors of these processes, in all."""
    return sum(len(list(Path(f"/proc/{pid}/fd").iterdir())) for pid in pids)


def memory(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of a process, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


def _address(node: str) -> tuple[str, int]:
    host, port = node.rsplit(":", 1)
    return host, int(port)


class Abuse:
    """Start abusers with the ``add_*`` methods; ``stop_sending()`` then leaves every one
    silent (slow readers and slowlorises stop, nothing is closed), ``close()`` closes all."""

    def __init__(self, node: str, *, big: int = 20_000_000) -> None:
        self.address = _address(node)
        self.big_request = rpc_request("big", [str(big)])
        self.sockets: list[socket.socket] = []
        self._slow: list[socket.socket] = []
        self._loris: list[tuple[socket.socket, bytes]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: bytes the slow readers took, in all
        self.slow_read = 0

    def _connect(self, rcvbuf: int | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect: the window the server sees is small from the start
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(self.address)
        self.sockets.append(sock)
        return sock

    def add_non_readers(self, count: int) -> None:
        for _ in range(count):
            self._connect(rcvbuf=4096).sendall(self.big_request)

    def add_slow_readers(self, count: int, *, chunk: int = 4096, every: float = 0.05) -> None:
        for _ in range(count):
            sock = self._connect(rcvbuf=16384)
            sock.sendall(self.big_request)
            sock.setblocking(False)
            self._slow.append(sock)
        self._start(self._read_slowly, chunk, every)

    def add_idle(self, count: int) -> None:
        for _ in range(count):
            self._connect()

    def add_slowloris(self, count: int, *, every: float = 0.1) -> None:
        # a valid hello request padded to 200 body bytes: complete only after 204 sends
        request = rpc_request("hello", ["x" * 190])
        for _ in range(count):
            self._loris.append((self._connect(), request))
        self._start(self._dribble, every)

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _read_slowly(self, chunk: int, every: float) -> None:
        while not self._stop.wait(every):
            for sock in self._slow:
                try:
                    self.slow_read += len(sock.recv(chunk))
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    continue

    def _dribble(self, every: float) -> None:
        sent = 0
        while not self._stop.wait(every):
            for sock, request in self._loris:
                if sent < len(request) - 1:  # never the last byte: never a whole request
                    with contextlib.suppress(OSError):
                        sock.send(request[sent : sent + 1])
            sent += 1

    def stop_sending(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def close_slow_readers(self) -> None:
        for sock in self._slow:
            sock.close()

    def close(self) -> None:
        self.stop_sending()
        for sock in self.sockets:
            sock.close()


class Probe:
    """Calls ``hello`` every ``every`` seconds in a thread; records each call's latency or its
    failure."""

    def __init__(self, node: str, *, timeout: float, every: float = 0.01) -> None:
        self.node = node
        self.timeout = timeout
        self.every = every
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        client = Client(self.node, timeout=self.timeout)
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                answer = client.call("hello")
            except RPCError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            else:
                if answer == b"Hello, world":
                    self.latencies.append(time.perf_counter() - start)
                else:
                    self.failures.append(f"wrong answer {answer[:40]!r}")
            self._stop.wait(self.every)

    def start(self) -> Probe:
        self._thread.start()
        return self

    def stop(self) -> Probe:
        self._stop.set()
        self._thread.join(self.timeout + 5)
        return self

    def run_for(self, seconds: float) -> Probe:
        self.start()
        time.sleep(seconds)
        return self.stop()

    def run_until(self, done: Callable[[], bool], *, limit: float = 60.0) -> Probe:
        """Probe until ``done()`` (checked every 10 ms) or a call fails, at most ``limit``
        seconds: a test waits for what it wants to see, however busy the machine is."""
        self.start()
        deadline = time.monotonic() + limit
        while not (done() or self.failures) and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.stop()

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
