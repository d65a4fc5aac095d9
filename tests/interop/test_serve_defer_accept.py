"""TCP_DEFER_ACCEPT, as uWSGI sets it (docs/protocol.md#requests): the kernel hands a TCP
connection to the server only once its first bytes are there, or once the client has stayed
silent for ``--socket-timeout`` seconds (rounded up to the SYN-ACK retransmits: 1 s for 1); then
the server waits ``--socket-timeout`` more before its 0-byte close.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from protocol.server import serve_in_thread
from protocol.server.functions import FunctionTable
from tests.peers import PY_FUNCTIONS, start_uwsgi

pytestmark = pytest.mark.interop


def _silent(node: str) -> tuple[float, bytes]:
    """Connect, send nothing: (seconds until the server closed, what it sent)."""
    host, port = node.rsplit(":", 1)
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        data = sock.recv(100)
    return time.monotonic() - start, data


def test_a_silent_client_waits_for_the_accept_and_then_the_timeout_as_on_uwsgi() -> None:
    real = start_uwsgi(python=(PY_FUNCTIONS,), extra=["--socket-timeout", "1"])
    table = FunctionTable()
    table.load_file(PY_FUNCTIONS)
    try:
        with (
            serve_in_thread(table, ("127.0.0.1:0",), socket_timeout=1.0) as ours,
            ThreadPoolExecutor(2) as pool,
        ):
            on_uwsgi, on_ours = pool.map(_silent, [real.node, ours.node])
    finally:
        real.stop()
    # 1 s in the kernel (the first SYN-ACK retransmit), then 1 s of --socket-timeout
    assert on_uwsgi[1] == on_ours[1] == b""
    assert on_uwsgi[0] >= 1.8
    assert on_ours[0] >= 1.8


def test_the_listening_socket_defers_accept_by_the_socket_timeout() -> None:
    table = FunctionTable()
    for timeout, deferred in ((1.0, 1), (0.5, 1), (2.0, 3)):
        with serve_in_thread(table, ("127.0.0.1:0",), socket_timeout=timeout) as server:
            sock = server.server.listeners[0].sock
            # the kernel answers in whole SYN-ACK retransmit periods: 1, 3, 7 ... seconds
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) == deferred
