"""Ctrl-C during ``rpccli batch``: stop taking calls, and hand over every record.

The first SIGINT does not raise: it sets :class:`Stop`, and the batch then takes no more input,
keeps the answers that have already arrived, gives each call still waiting for its answer an
``interrupted`` record (its request reached the node, which may have run it), writes every
record in input order and says on stderr how many lines were answered and after which line
input stopped (exit 130). A second SIGINT raises KeyboardInterrupt as usual: out at once.

A lane (rpccli.batch_lanes) has its own Stop, set by any SIGINT it gets -- the terminal's, sent
to the whole process group, or the one its coordinator forwards -- and never raises: the
coordinator alone decides when to give up on the lanes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["Stop", "sigint_stops"]


class Stop:
    """A flag for the first Ctrl-C, and a pipe that wakes a poll() waiting elsewhere."""

    def __init__(self) -> None:
        self.requested = False
        self.fd, self._wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def request(self) -> None:
        """Safe in a signal handler: a flag and one non-blocking write."""
        self.requested = True
        with contextlib.suppress(OSError):  # the pipe is full: it is readable already
            os.write(self._wake, b"\0")

    def close(self) -> None:
        for fd in (self.fd, self._wake):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def sigint_stops(
    stop: Stop, *, again_raises: bool = True, first: Callable[[], None] | None = None
) -> Iterator[None]:
    """While inside: SIGINT sets ``stop`` (and runs ``first`` once); with ``again_raises``, a
    SIGINT after that raises KeyboardInterrupt. Outside the main thread (no signals there),
    nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            if again_raises:
                raise KeyboardInterrupt
            return
        stop.request()
        if first is not None:
            first()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
