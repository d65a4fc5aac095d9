"""A `rpccli serve` of tests/bench/known_latency.py, started per test and stopped by pid.

Each is forked by this test process's fork server of ``python -m rpccli`` (tests/forkrun.py),
not started cold: a real process of its own all the same (its pid, its exit by SIGKILL), at
about a fifth of a cold start's CPU.
"""

from __future__ import annotations

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
from tests.forkrun import ForkedPopen, rpccli_forks
from tests.peers import serve_banner

ROOT = Path(__file__).resolve().parent.parent.parent
FUNCTIONS = Path(__file__).resolve().parent / "known_latency.py"


def _drain(stream: IO[Any]) -> None:
    """Read ``stream`` to its end in a thread, then close it: a pipe that never fills."""

    def read() -> None:
        with stream:
            stream.read()

    threading.Thread(target=read, daemon=True).start()


class Known:
    """Starts servers of the known functions (``known()`` -> its node); stops them by pid."""

    def __init__(self) -> None:
        self.started: dict[str, ForkedPopen] = {}

    def __call__(self, threads: int = 16) -> str:
        argv = ["serve", "--bind", "127.0.0.1:0", "-q", "--no-demo", "--threads", str(threads)]
        proc = rpccli_forks().popen([*argv, str(FUNCTIONS)], os.environ, cwd=ROOT)
        proc.stdin.close()
        stderr = io.TextIOWrapper(proc.stderr)
        node = serve_banner(stderr)
        _drain(stderr)
        _drain(proc.stdout)
        if not node:
            self._stop(proc)
            raise AssertionError("rpccli serve did not start")
        self.started[node] = proc
        return node

    def kill(self, node: str) -> None:
        self._stop(self.started.pop(node))

    def stop_all(self) -> None:
        while self.started:
            self._stop(self.started.popitem()[1])

    @staticmethod
    def _stop(proc: ForkedPopen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


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
