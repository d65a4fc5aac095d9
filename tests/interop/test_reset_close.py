"""batch and bench end each TCP connection with a reset once the whole answer is in: real uWSGI
takes it without a word, and no TIME_WAIT is left on either side (docs/protocol.md#requests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli
from tests.peers import Uwsgi

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Empty XDG dirs and no rpccli variables from the caller (tests/conftest.py)."""


def time_wait(port: int) -> int:
    """Loopback TCP sockets in TIME_WAIT with ``port`` at either end (/proc/net/tcp)."""
    count = 0
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        ends = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
        if fields[3] == "06" and port in ends:
            count += 1
    return count


def test_batch_and_bench_leave_no_time_wait_and_uwsgi_says_nothing(uwsgi_factory) -> None:  # type: ignore[no-untyped-def]
    server: Uwsgi = uwsgi_factory(processes=1, lua=())
    port = int(server.node.rsplit(":", 1)[1])
    logged = server.log_text()
    before = time_wait(port)  # the start-up's readiness probe
    lines = b"".join(b"hello %d\n" % i for i in range(60))
    result = run_cli("batch", "-c", "8", "-q", "-o", "lines", server.node, input=lines)
    assert (result.code, result.out) == (0, b"".join(b"Hello, %d\n" % i for i in range(60)))
    command = [sys.executable, "-m", "rpccli", "bench", "--json", "-q", "-c", "4", "-n", "60"]
    done = subprocess.run(
        [*command, server.node, "hello"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    figures = json.loads(done.stdout)
    assert (done.returncode, figures["ok"], figures["failed"]) == (0, 60, 0)
    # a FIN/ACK close leaves one TIME_WAIT per call (on uWSGI's side: it closes first)
    assert time_wait(port) == before
    # the server took every reset without a log line and still answers
    said = server.log_text()[len(logged) :].lower()
    assert "error" not in said and "reset" not in said
    assert run_cli("call", server.node, "hello", "again").out == b"Hello, again"
