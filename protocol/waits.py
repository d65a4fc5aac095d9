"""The blocking client's waits on its non-blocking socket, each under a deadline: the answer's
next bytes, a connection in progress, the rest of a big request (protocol.client).

poll() does the waiting: the socket stays non-blocking throughout (bench/README.md: a blocking
read under SO_RCVTIMEO cost an ioctl and a setsockopt more a call).
"""

from __future__ import annotations

import math
import os
import select
import socket
import time

from .base import _CHUNK

__all__: list[str] = []

_poll, _POLLIN = select.poll, select.POLLIN


def _poller(sock: socket.SocketType) -> select.poll:
    """A poll() object that waits for ``sock`` to be readable."""
    poller = _poll()
    poller.register(sock, _POLLIN)
    return poller


def _wait_connected(sock: socket.SocketType, limit: float) -> None:
    """Wait for a connection in progress: return once it is made, raise why it was not
    (TimeoutError once ``limit`` has passed)."""
    remaining = limit - time.monotonic()
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    if remaining <= 0 or not poller.poll(math.ceil(remaining * 1000)):
        raise TimeoutError
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))


def _send_by(sock: socket.SocketType, rest: memoryview, deadline: float) -> None:
    """Send the rest of a request that did not fit the send buffer, all of it by ``deadline``."""
    # Python's own timeout bounds sendall() as a whole
    sock.settimeout(max(deadline - time.monotonic(), 1e-6))
    sock.sendall(rest)
    sock.setblocking(False)  # reads wait in poll() (_recv), and _close_wait's must not wait


def _recv(sock: socket.SocketType, poller: select.poll, deadline: float) -> bytes:
    """The next bytes from ``sock`` (b"": the server closed), waited for in ``poller`` until
    ``deadline`` at most (then TimeoutError).

    The deadline is checked before every read, so a peer that trickles bytes cannot stretch the
    call. poll() takes milliseconds and rounds a fraction up, and is restarted with what is
    left after a signal whose handler returns (PEP 475).
    """
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise TimeoutError
        try:
            return sock.recv(_CHUNK)
        except BlockingIOError:  # readable, and then not after all: wait again
            continue
