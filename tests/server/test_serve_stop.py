"""`rpccli serve` stopping with calls in flight: they get --grace to finish, a second
signal stops at once, and every call still running is dropped with a log line; exit 0 and the
unix socket files removed either way.

No timing: a `hold` function says it started by creating a file and returns once the test
creates another one, so the test knows the call is running when it sends the signal."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from protocol import Client
from protocol.errors import RPCError
from tests.peers import short_tmpdir
from tests.server.test_serve_cli import Served, serving

HOLD = """\
import os, time, uwsgi

def hold(path):
    path = path.decode()
    open(path + ".started", "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(path + ".go") and time.monotonic() < deadline:
        time.sleep(0.01)
    return b"released"

uwsgi.register_rpc("hold", hold)
"""


class Held:
    """A ``hold`` call running in a thread of the test; ``answer`` is its result or error."""

    def __init__(self, node: str, path: Path) -> None:
        self.path = path
        self.answer: bytes | RPCError | None = None
        self._thread = threading.Thread(target=self._call, args=(node,), daemon=True)
        self._thread.start()
        started = Path(f"{path}.started")
        for _ in range(3000):  # the function creates it; the thread has not failed meanwhile
            if started.exists() or not self._thread.is_alive():
                break
            self._thread.join(0.01)
        assert started.exists(), self.answer

    def _call(self, node: str) -> None:
        try:
            self.answer = Client(node, timeout=60).call("hold", str(self.path))
        except RPCError as exc:
            self.answer = exc

    def release(self) -> None:
        Path(f"{self.path}.go").touch()

    def result(self) -> bytes | RPCError | None:
        self._thread.join(30)
        return self.answer


@pytest.fixture
def hold_file(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "hold.py"
    path.write_text(HOLD)
    yield str(path)


def _served_with_socket(
    hold_file: str, *args: str, new_session: bool = False
) -> tuple[AbstractContextManager[Served], str]:
    sock = str(short_tmpdir() / "stop.sock")
    return serving(hold_file, "--bind", sock, *args, new_session=new_session), sock


@pytest.mark.parametrize("processes", ["1", "2"])
def test_sigterm_lets_a_running_call_finish(hold_file: str, tmp_path: Path, processes: str) -> None:
    context, sock = _served_with_socket(hold_file, "--processes", processes)
    with context as srv:
        held = Held(sock, tmp_path / "call")
        srv.proc.send_signal(signal.SIGTERM)
        log = srv.read_until("stopping:")
        assert "1 call still running; waiting up to 5s (Ctrl-C again stops at once)" in log
        assert not Path(sock).exists()  # no new calls while it waits
        held.release()
        assert held.result() == b"released"
        code, rest = srv.wait()
    assert code == 0
    assert "hold('" in rest and "-> 8 bytes (" in rest
    assert "dropped" not in rest
    assert rest.rstrip().endswith("rpccli serve: stopped")


def test_a_call_still_running_after_the_grace_is_dropped_and_logged(
    hold_file: str, tmp_path: Path
) -> None:
    context, sock = _served_with_socket(hold_file, "--grace", "0.2")
    with context as srv:
        held = Held(sock, tmp_path / "call")
        code, log = srv.stop(signal.SIGTERM)
        # the client sees the close when the server stops, not when the function returns
        assert isinstance(held.result(), RPCError)
    held.release()
    assert code == 0
    assert "waiting up to 0.2s" in log
    assert "hold('" in log
    assert "-> dropped: still running when the server stopped (0.2s)" in log
    assert not Path(sock).exists()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_second_ctrl_c_stops_at_once(hold_file: str, tmp_path: Path, processes: str) -> None:
    # Ctrl-C at a terminal signals the whole process group: parent and workers alike
    context, sock = _served_with_socket(
        hold_file, "--grace", "60", "--processes", processes, new_session=True
    )
    with context as srv:
        held = Held(sock, tmp_path / "call")
        os.killpg(srv.proc.pid, signal.SIGINT)
        srv.read_until("stopping:")
        os.killpg(srv.proc.pid, signal.SIGINT)
        assert isinstance(held.result(), RPCError)
        code, log = srv.wait()
    held.release()
    assert code == 0
    assert "-> dropped: still running when the server stopped (the wait was cut short)" in log
    assert not Path(sock).exists()
