"""`rpccli serve --processes N` on a TCP address: one listening socket per worker process
(SO_REUSEPORT, docs/serve.md#concurrency), each serving calls; an address in use still fails."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from protocol import Client
from tests.peers import ROOT, short_tmpdir
from tests.server.test_serve_cli import Served, children_of, serving

WHO = "import uwsgi\nuwsgi.register_rpc('who', lambda: str(uwsgi.worker_id()).encode())\n"


def _listening_sockets(port: int) -> int:
    """Listening TCP sockets on ``port`` (state 0A in /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            count += 1
    return count


@contextmanager
def serving_workers(*args: str) -> Iterator[Served]:
    """``serving``, and the workers killed too when a test fails (a killed parent orphans them)."""
    with serving(*args) as srv:
        try:
            yield srv
        except BaseException:
            for pid in children_of(srv.proc.pid):  # unreaped: the parent is still alive
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            raise


def test_each_worker_listens_and_serves(tmp_path: Path) -> None:
    who = tmp_path / "who.py"
    who.write_text(WHO)
    sock = str(short_tmpdir() / "reuse.sock")
    with serving_workers(
        str(who), "--processes", "2", "--bind", "127.0.0.1:0", "--bind", sock
    ) as srv:
        tcp, unix = srv.nodes
        port = int(tcp.rsplit(":", 1)[1])
        assert _listening_sockets(port) == 2  # one per worker, not one shared
        # the kernel spreads new connections over the two sockets (by their source ports)
        seen = {Client(tcp).call("who") for _ in range(60)}
        assert seen == {b"1", b"2"}
        assert {Client(unix).call("who") for _ in range(5)} <= {b"1", b"2"}
        code, _ = srv.stop(signal.SIGTERM)
    assert code == 0
    assert _listening_sockets(port) == 0


def test_an_address_in_use_still_fails(tmp_path: Path) -> None:
    who = tmp_path / "who.py"
    who.write_text(WHO)
    with serving_workers(str(who), "--processes", "2", "--bind", "127.0.0.1:0") as srv:
        (tcp,) = srv.nodes
        second = subprocess.run(
            [sys.executable, "-m", "rpccli", "serve", str(who), "--processes", "2", "--bind", tcp],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=15,
        )
        assert second.returncode != 0
        assert "address already in use" in second.stderr
        assert Client(tcp).call("who") in {b"1", b"2"}
        srv.stop(signal.SIGTERM)
