"""A `rpccli serve` of tests/bench/known_latency.py, started per test and stopped by pid."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.client import Client
from tests.peers import start_serve

ROOT = Path(__file__).resolve().parent.parent.parent
FUNCTIONS = Path(__file__).resolve().parent / "known_latency.py"


def _start(threads: int = 16) -> tuple[subprocess.Popen[str], str]:
    return start_serve("-q", "--no-demo", "--threads", str(threads), str(FUNCTIONS))


class Known:
    """Starts servers of the known functions (``known()`` -> its node); stops them by pid."""

    def __init__(self) -> None:
        self.started: dict[str, subprocess.Popen[str]] = {}

    def __call__(self, threads: int = 16) -> str:
        proc, node = _start(threads)
        self.started[node] = proc
        return node

    def kill(self, node: str) -> None:
        proc = self.started[node]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def known() -> Iterator[Known]:
    servers = Known()
    yield servers
    for proc in servers.started.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def served(node: str) -> int:
    return int(Client(node, timeout=5).call("served"))


def wait_served(node: str, calls: int, within: float = 30.0) -> None:
    """Wait until the server of ``node`` has run ``calls`` calls: a bench is under way there."""
    deadline = time.monotonic() + within
    while served(node) < calls:
        assert time.monotonic() < deadline, f"{node} ran fewer than {calls} calls in {within} s"
        time.sleep(0.02)
