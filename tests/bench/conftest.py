"""A `rpccli serve` of tests/bench/known_latency.py, started per test and stopped by pid.

Each is forked by a fork server of ``python -m rpccli`` (tests/forkrun.py), not started cold: a
real process of its own all the same (its pid, its exit by SIGKILL), at about a fifth of a cold
start's CPU. A fork server runs one command line at a time, so there is one per server running
at once (two at most here), kept for the next test once its server is stopped.
"""

from __future__ import annotations

import atexit
import io
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from protocol.client import Client
from tests.forkrun import RPCCLI_MAIN, ForkedPopen, ForkServer, rpccli_preload
from tests.peers import serve_banner

ROOT = Path(__file__).resolve().parent.parent.parent
FUNCTIONS = Path(__file__).resolve().parent / "known_latency.py"

#: fork servers with no server running (this process's; each stopped when the process exits)
_IDLE: list[ForkServer] = []


def _fork_server() -> ForkServer:
    if _IDLE:
        return _IDLE.pop()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPCCLI_", "XDG_"))}
    forks = ForkServer(RPCCLI_MAIN, rpccli_preload(), env)
    atexit.register(forks.close)
    return forks


def _drain(stream: IO[Any]) -> None:
    """Read ``stream`` to its end in a thread, then close it: a pipe that never fills."""

    def read() -> None:
        with stream:
            stream.read()

    threading.Thread(target=read, daemon=True).start()


class Known:
    """Starts servers of the known functions (``known()`` -> its node); stops them by pid."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[ForkedPopen, ForkServer]] = {}

    def __call__(self, threads: int = 16) -> str:
        forks = _fork_server()
        argv = ["serve", "--bind", "127.0.0.1:0", "-q", "--no-demo", "--threads", str(threads)]
        proc = forks.popen([*argv, str(FUNCTIONS)], os.environ, cwd=ROOT)
        proc.stdin.close()
        stderr = io.TextIOWrapper(proc.stderr)
        node = serve_banner(stderr)
        _drain(stderr)
        _drain(proc.stdout)
        if not node:
            self._stop(proc, forks)
            raise AssertionError("rpccli serve did not start")
        self.started[node] = (proc, forks)
        return node

    def kill(self, node: str) -> None:
        self._stop(*self.started.pop(node))

    def stop_all(self) -> None:
        while self.started:
            self._stop(*self.started.popitem()[1])

    @staticmethod
    def _stop(proc: ForkedPopen, forks: ForkServer) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        _IDLE.append(forks)  # its one command line is over: free for the next server


@pytest.fixture
def known() -> Iterator[Known]:
    servers = Known()
    yield servers
    servers.stop_all()


def served(node: str) -> int:
    return int(Client(node, timeout=5).call("served"))


def wait_served(node: str, calls: int, within: float = 30.0) -> None:
    """Wait until the server of ``node`` has run ``calls`` calls: a bench is under way there."""
    deadline = time.monotonic() + within
    while served(node) < calls:
        assert time.monotonic() < deadline, f"{node} ran fewer than {calls} calls in {within} s"
        time.sleep(0.02)
