"""A `rpccli serve` of tests/bench/known_latency.py, started per test and stopped by pid."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.client import Client

ROOT = Path(__file__).resolve().parent.parent.parent
FUNCTIONS = Path(__file__).resolve().parent / "known_latency.py"


def _start(threads: int = 16) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rpccli",
            "serve",
            "-q",
            "--no-demo",
            "--bind",
            "127.0.0.1:0",
            "--threads",
            str(threads),
            str(FUNCTIONS),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.match(r"rpccli serve: listening on (\S+)", line)
        if found:
            # the rest of the log is not read: -q logs only warnings
            return proc, found.group(1)
    raise AssertionError("rpccli serve did not start")


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
