"""Quick functions run in the event loop (protocol/server/pace.py); a call that gets stuck there
does not stall other clients (protocol/server/rescue.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import Client
from protocol.server import BackgroundServer, rescue, serve_in_thread
from protocol.server.functions import FunctionTable
from protocol.server.pace import PROVE, Pace
from tests.server.events import Recorder

FUNCTIONS = """
import threading
import uwsgi

gate = threading.Event()

def where(*args):
    if args and args[0] == b"stuck":
        gate.wait(20)  # stuck until release is called
    return threading.current_thread().name.encode()

def release(*args):
    gate.set()
    return b"released"

uwsgi.register_rpc("where", where)
uwsgi.register_rpc("release", release)
"""


def _table(tmp_path: Path) -> FunctionTable:
    path = tmp_path / "pace_functions.py"
    path.write_text(FUNCTIONS)
    table = FunctionTable()
    table.load_file(path)
    return table


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BackgroundServer]:
    with serve_in_thread(_table(tmp_path), on_event=Recorder()) as running:
        yield running


def test_a_quick_function_moves_into_the_loop_after_its_proof(server: BackgroundServer) -> None:
    threads = [Client(server.node).call("where").decode() for _ in range(PROVE + 4)]
    assert all(name.startswith("rpccli-fn-") for name in threads[:PROVE])
    assert threads[PROVE:] == ["rpccli-serve"] * 4  # the loop's thread (serve_in_thread)


def test_pace_false_keeps_every_call_in_the_threads(tmp_path: Path) -> None:
    with serve_in_thread(_table(tmp_path), pace=False) as running:
        threads = [Client(running.node).call("where").decode() for _ in range(PROVE + 4)]
    assert all(name.startswith("rpccli-fn-") for name in threads)


@pytest.mark.parametrize("idle", [False, True], ids=["busy", "after-idle"])
def test_a_call_stuck_in_the_loop_does_not_stall_other_clients(
    server: BackgroundServer, idle: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rescue, "IDLE_AFTER", 0.1)
    for _ in range(PROVE + 1):
        Client(server.node).call("where")
    assert Client(server.node).call("where") == b"rpccli-serve"
    watchdog = server.server.watchdog
    assert watchdog is not None
    if idle:  # the watchdog sleeps while the loop runs no call, and wakes for the next one
        deadline = time.monotonic() + 5
        while not watchdog.idle:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    stuck: list[bytes] = []
    thread = threading.Thread(
        target=lambda: stuck.append(Client(server.node, timeout=30).call("where", "stuck"))
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while server.server.inline is None:  # until the loop runs the stuck call
            assert time.monotonic() < deadline
            time.sleep(0.001)
        # the loop runs the stuck call; the rescue loop serves these, each in a worker thread
        answers = [Client(server.node, timeout=5).call("where") for _ in range(10)]
        assert all(name.startswith(b"rpccli-fn-") for name in answers)
        assert not stuck  # still stuck: these were served meanwhile
    finally:
        Client(server.node, timeout=5).call("release")
        thread.join(10)
    assert stuck == [b"rpccli-serve"]
    # the function was slow once in the loop: it is back in the threads
    assert Client(server.node).call("where").startswith(b"rpccli-fn-")
    # and the server's own loop accepts again, and stops cleanly
    assert Client(server.node).call("release") == b"released"


def test_a_function_that_turns_slow_must_prove_itself_again_longer(tmp_path: Path) -> None:
    table = _table(tmp_path)
    pace = Pace(table)
    for _ in range(PROVE):
        assert not pace.inline(b"where")
        pace.ran(b"where", 0.0001)
    assert pace.inline(b"where")
    pace.ran(b"where", 1.0)
    assert not pace.inline(b"where")
    for _ in range(PROVE * 2 - 1):
        pace.ran(b"where", 0.0001)
    assert not pace.inline(b"where")
    pace.ran(b"where", 0.0001)
    assert pace.inline(b"where")
    # held up in the loop (the watchdog), then the end of that same run: one doubling
    pace.demote(b"where")
    pace.ran(b"where", 1.0)
    for _ in range(PROVE * 4 - 1):
        pace.ran(b"where", 0.0001)
    assert not pace.inline(b"where")
    pace.ran(b"where", 0.0001)
    assert pace.inline(b"where")


def test_unknown_names_are_not_learned(tmp_path: Path) -> None:
    pace = Pace(_table(tmp_path))
    for _ in range(PROVE * 2):
        pace.ran(b"nosuch", 0.0001)
    assert not pace.inline(b"nosuch")
