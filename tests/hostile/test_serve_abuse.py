"""Clients that do not read, read slowly, say nothing or dribble stall nobody in `rpccli serve`.

A slow reader holds only its own connection: the event loop writes every answer, a client that
takes nothing for --socket-timeout is dropped (and its answer freed), what the server holds for
slow clients is bounded, and every file descriptor comes back. The abusers are in
serve_abusers.py (bench/bench_serve_abuse.py measures the same scenario).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from protocol.server import DEFAULT_MAX_HELD, format_event, serve_in_thread
from protocol.wire import rpc_request
from tests.hostile.serve_abusers import Abuse, Probe, family, fd_count, memory, raise_fd_limit
from tests.peers import ROOT, short_tmpdir, start_serve, wait_until
from tests.server.events import Recorder, demo_table

BIG = 20_000_000
MB = 1 << 20


@contextmanager
def rpccli_serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A real `rpccli serve` on 127.0.0.1:<ephemeral>: (process, node); stopped by its pid."""
    proc, node = start_serve("-q", *args)
    try:
        yield proc, node
    finally:
        if proc.poll() is None:  # not reaped: the pid is still ours
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)


def settle(pids: list[int], count: int, *, timeout: float) -> int:
    """Wait until these processes hold ``count`` descriptors again; the last count seen."""
    seen = fd_count(pids)
    deadline = time.monotonic() + timeout
    while seen != count and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = fd_count(pids)
    return seen


def test_everything_at_once_stalls_no_one() -> None:
    """8 non-readers and 8 slow readers of 20 MB answers, 1,000 idle connections and 50
    slowloris clients at once: every `hello` is answered; the server then drops the silent
    ones by itself (write and read timeouts), its memory stays bounded and every descriptor
    comes back."""
    raise_fd_limit(4096)
    # a call stuck behind an abuser would wait for the socket timeout (4 s): a probe that
    # waits 3 s fails then, while a busy machine's slow answer still comes in time
    with rpccli_serve("--socket-timeout", "4") as (proc, node):
        Probe(node, timeout=5).run_for(0.2)  # warm: the first calls import and allocate
        fds = fd_count([proc.pid])
        rss = memory(proc.pid)["VmRSS"]
        abuse = Abuse(node, big=BIG)
        try:
            abuse.add_idle(1000)
            abuse.add_slowloris(50)
            abuse.add_non_readers(8)
            abuse.add_slow_readers(8)
            # every probe answered within its timeout while all of them are at it, until 20
            # were and the slow readers have been served meanwhile
            probe = Probe(node, timeout=3)
            probe.run_until(lambda: len(probe.latencies) > 20 and abuse.slow_read > 0)
            assert not probe.failures, probe.failures[:3]
            assert len(probe.latencies) > 20
            assert abuse.slow_read > 0
            # the slow readers go; everyone else stays silent: the server must end them
            abuse.stop_sending()
            abuse.close_slow_readers()
            assert settle([proc.pid], fds, timeout=30) == fds  # a deadline, not a wait
        finally:
            abuse.close()
        # 16 answers of 20 MB: the loop holds at most max_held of them, 4 workers (half of 8)
        # may hold one each while they wait for room, and big() builds 2 x 20 MB in each of 8
        peak = memory(proc.pid)["VmHWM"]
        bound = DEFAULT_MAX_HELD + (4 + 8 * 2) * BIG + 64 * MB
        assert peak - rss < bound, f"peak RSS {peak // MB} MB over {rss // MB} MB at the start"


def test_two_processes_serve_while_big_answers_wait() -> None:
    """--processes 2: each worker process writes its answers from its loop too. 24 clients
    that never read: however the kernel spreads them, one process gets at least its 8."""
    with rpccli_serve("--socket-timeout", "4", "--processes", "2") as (proc, node):
        Probe(node, timeout=5).run_for(0.2)
        wait_until(lambda: len(family(proc.pid)) == 3, timeout=10, what="2 workers")
        pids = family(proc.pid)
        fds = fd_count(pids)
        abuse = Abuse(node, big=8_000_000)
        try:
            abuse.add_non_readers(24)
            probe = Probe(node, timeout=3)  # below the socket timeout, as above
            probe.run_until(lambda: len(probe.latencies) > 15)
            assert not probe.failures, probe.failures[:3]
            assert len(probe.latencies) > 15
            assert settle(pids, fds, timeout=30) == fds
        finally:
            abuse.close()


def non_reader(node: str) -> socket.socket:
    """A client of ``node`` (TCP or a unix socket path) asking for BIG bytes, reading none."""
    if node.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(node)
    else:
        host, port = node.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
    sock.sendall(rpc_request("big", [str(BIG)]))
    return sock


@pytest.mark.parametrize(("threads", "unix"), [(8, False), (0, False), (8, True)])
def test_a_client_that_takes_nothing_is_dropped_once_and_its_answer_freed(
    threads: int, unix: bool
) -> None:
    recorder = Recorder()
    options = {"threads": threads, "socket_timeout": 0.5, "on_event": recorder}
    binds = [f"{short_tmpdir()}/rpc.sock" if unix else "127.0.0.1:0"]
    server = serve_in_thread(demo_table(), binds, **options)  # type: ignore[arg-type]
    with server, non_reader(server.node):
        (event,) = recorder.wait_for(1)
        time.sleep(0.6)  # a second log line would come by now
        assert recorder.events == [event]
        assert event.kind == "timeout" and "took nothing" in (event.reason or "")
        assert event.total == BIG + 30 and 0 < event.sent < event.total
        line = format_event(event)  # the log names the call and what of its answer went out
        assert f"big('{BIG}') -> {event.sent} of {event.total} bytes sent: client took" in line
        assert server.server.held == 0  # the answer was let go
        assert not server.server.connections


def test_what_the_server_holds_for_slow_clients_is_bounded() -> None:
    """With room for two 20 MB answers, held by slow readers, a third one waits for room in its
    worker (at most the socket timeout) and is then not sent, with a log line; small answers
    go out all the while."""
    recorder = Recorder()
    room = 2 * (BIG + 30)
    options = {"socket_timeout": 1.0, "on_event": recorder, "max_held": room}
    with serve_in_thread(demo_table(), **options) as server:  # type: ignore[arg-type]
        abuse = Abuse(server.node, big=BIG)
        try:
            abuse.add_slow_readers(3)  # each keeps reading: only the wait can end
            probe = Probe(server.node, timeout=5)  # small answers go out until the refusal
            probe.run_until(lambda: any(e.function == b"big" for e in recorder.events))
            assert not probe.failures and probe.latencies
            assert server.server.held <= room
            refused = [e for e in recorder.events if e.function == b"big"]
            assert len(refused) == 1, recorder.events
            assert refused[0].sent == 0 and "not sent" in (refused[0].reason or "")
        finally:
            abuse.close()


@pytest.mark.parametrize(
    ("bind", "reason"),
    [
        ("256.1.1.1:3031", "cannot resolve '256.1.1.1'"),
        ("192.0.2.1:0", "address not available on this machine"),  # TEST-NET: never bound
    ],
)
def test_a_bind_that_fails_warns_about_nothing(bind: str, reason: str) -> None:
    """The public-bind WARNING is for addresses actually listened on; a failed bind is one
    line and exit status 2, even after another address was bound."""
    done = subprocess.run(
        [sys.executable, "-m", "rpccli", "serve", "--bind", "127.0.0.1:0", "--bind", bind],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr == f"rpccli: cannot listen on {bind}: {reason}\n"
    assert done.stdout == ""
