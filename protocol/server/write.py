"""The write side of the bundled server: answers sent in pieces, and what waits for slow clients.

An answer is sent as the pieces :func:`protocol.server.requests.answer_parts` made (a big result
after its header, never joined to it), through ``memoryview`` slices, so a 20 MB result stays in
memory once however slowly its client reads. :class:`Room` bounds the bytes of all the answers
still waiting for their clients; :func:`taken` tells a client that reads slowly (the kernel's
send buffer is still too full to take more) from one that reads nothing.
"""

from __future__ import annotations

import _socket
import sys
import threading
import time
from typing import Final

__all__ = [
    "DEFAULT_MAX_HELD",
    "SMALL_ANSWER",
    "Out",
    "Room",
    "advance",
    "queued",
    "send_first",
    "send_some",
]

#: bytes of answers the loop may hold for clients that have not taken them yet
DEFAULT_MAX_HELD: Final = 256 * 1024 * 1024
#: answers up to this size never wait for room: a ``hello`` is not held up by big answers
SMALL_ANSWER: Final = 65536 + 64

#: the answer's pieces still to send (memoryviews of them: advancing copies nothing)
Out = list[memoryview]

_AGAIN = (BlockingIOError, InterruptedError)

try:  # POSIX; SIOCOUTQ is TIOCOUTQ's number on Linux
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ if sys.platform.startswith("linux") else None
except ImportError:  # pragma: no cover - not POSIX
    _OUTQ = None


def send_some(sock: _socket.socket, out: Out) -> int:
    """One non-blocking send of what is left; 0 when the socket is full. OSError: gone."""
    try:
        return sock.send(out[0]) if len(out) == 1 else sock.sendmsg(out)
    except _AGAIN:
        return 0


def send_first(
    sock: _socket.socket, parts: tuple[bytes, ...], total: int
) -> tuple[Out | None, int]:
    """Send what the socket takes now of a new answer's pieces (``total`` bytes in all): (the
    rest to send, or None when done or the client is gone, and the bytes sent)."""
    if not parts:
        return None, 0
    try:
        sent = sock.send(parts[0]) if len(parts) == 1 else sock.sendmsg(parts)
    except _AGAIN:
        sent = 0
    except OSError:  # the client is gone: nothing more to send
        return None, 0
    if sent == total:
        return None, sent
    out = [memoryview(part) for part in parts]
    advance(out, sent)
    return out, sent


def advance(out: Out, sent: int) -> None:
    """Drop ``sent`` bytes from the front of ``out``."""
    while sent:
        first = out[0]
        if sent < len(first):
            out[0] = first[sent:]
            return
        sent -= len(first)
        del out[0]


def queued(sock: _socket.socket) -> int | None:
    """Bytes sent but not yet taken by the peer (Linux SIOCOUTQ); None where unknown."""
    if _OUTQ is None:
        return None
    try:
        return int.from_bytes(fcntl.ioctl(sock.fileno(), _OUTQ, bytes(4)), sys.byteorder)
    except OSError:
        return None


def megabytes(size: int) -> str:
    return f"{size / 1048576:.1f} MB"


class Room:
    """Bytes of answers held for clients that have not taken them yet, at most ``limit`` (one
    answer alone may be larger). Shares the server's ``calls_lock``."""

    def __init__(self, lock: threading.Lock, limit: int, *, waiters: int, wait: float) -> None:
        self.limit = limit
        self.held = 0
        self._changed = threading.Condition(lock)
        self._waiters = waiters  # workers that may wait for room at once
        self._wait = wait
        self._waiting = 0
        self._closed = False

    def _fits(self, size: int) -> bool:
        return size <= SMALL_ANSWER or not self.held or self.held + size <= self.limit

    def reserve(self, size: int, *, wait: bool) -> bool:
        """Count an answer of ``size`` bytes as held; False when it does not fit. A worker
        (``wait``) may wait for room, at most ``wait`` seconds and only while fewer than
        ``waiters`` wait: the other workers keep serving."""
        with self._changed:
            if self._fits(size):
                self.held += size
                return True
            if not wait or self._waiting >= self._waiters:
                return False
            deadline = time.monotonic() + self._wait
            self._waiting += 1
            try:
                while not self._fits(size):
                    left = deadline - time.monotonic()
                    if left <= 0 or self._closed:
                        return False
                    self._changed.wait(left)
            finally:
                self._waiting -= 1
            self.held += size
            return True

    def adjust(self, change: int) -> None:
        """Under the lock: the held bytes changed (a negative change makes room)."""
        self.held += change
        if change < 0 and self._waiting:
            self._changed.notify_all()

    def release(self, size: int) -> None:
        """``size`` held bytes were sent or let go."""
        if size:
            with self._changed:
                self.adjust(-size)

    def refusal(self, size: int) -> str:
        """Why an answer of ``size`` bytes that does not fit was not sent (for the log)."""
        return (
            f"answer of {megabytes(size)} not sent: {megabytes(self.held)} of answers "
            f"already wait for their clients (at most {megabytes(self.limit)})"
        )

    def close(self) -> None:
        """Under the lock: the server drops every call; no one waits for room any more."""
        self._closed = True
        self._changed.notify_all()
