"""Ctrl-C during ``rpccli batch``: stop taking calls, and hand over every record.

The first SIGINT does not raise: it sets :class:`Stop`, and the batch then takes no more input,
keeps the answers that have already arrived, gives each call still waiting for its answer an
``interrupted`` record (its request reached the node, which may have run it), writes every
record in input order and says on stderr how many lines were answered and after which line
input stopped (exit 130). A second SIGINT raises KeyboardInterrupt as usual: out at once.

A lane (rpccli.batch.lanes) has its own Stop, set by any SIGINT it gets -- the terminal's, sent
to the whole process group, or the one its coordinator forwards -- and never raises: the
coordinator alone decides when to give up on the lanes.

Here too: the counts a batch ends with, its stderr line after Ctrl-C, and the records of lines
no lane took (``not sent``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

from protocol.errors import RPCError
from protocol.visible import counted
from rpccli.batch.input import parse_line, parse_raw
from rpccli.batch.output import BatchWriter
from rpccli.errors import Interrupted

__all__ = [
    "Counts",
    "Stop",
    "counts_of",
    "interrupted_line",
    "not_sent",
    "sigint_stops",
    "wait_input",
]


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


def wait_input(fd: int, stop: Stop) -> bool:
    """Wait until ``fd`` is readable (True) or Ctrl-C came (False)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    poller.register(stop.fd, select.POLLIN)
    while not stop.requested:
        for ready, _ in poller.poll():
            if ready == fd:
                return True
    return False


@dataclass
class Counts:
    """Records written: all of them, failed ones, and (after Ctrl-C) calls cut off while waiting
    for their answer and lines never sent; ``stopped_after`` is the last line taken before
    Ctrl-C (None when the input ended normally)."""

    calls: int = 0
    failures: int = 0
    cut: int = 0
    unsent: int = 0
    stopped_after: int | None = None


class _Collect:
    """A BatchWriter's sink that keeps the bytes (for the coordinator to write in order)."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def info(self, text: str) -> None:
        pass  # lines never sent have no stderr line of their own: the summary counts them


def counts_of(writer: BatchWriter, stopped_after: int | None = None) -> Counts:
    return Counts(writer.calls, writer.failures, writer.cut, writer.unsent, stopped_after)


def interrupted_line(counts: Counts) -> str:
    """The stderr line after Ctrl-C: what was answered, what was not, where input stopped."""
    answered = counts.calls - counts.cut - counts.unsent
    parts = [f"{counted(answered, 'line')} answered"]
    if counts.cut:
        parts.append(f"{counts.cut} cut off waiting for their answer (they may have run)")
    if counts.unsent:
        parts.append(f"{counts.unsent} not sent")
    return f"interrupted: {', '.join(parts)}; input stopped after line {counts.stopped_after}"


def not_sent(entries: list[tuple[int, object]], fmt: str) -> tuple[bytes, int]:
    """Records for lines a lane never took, written where answered lines follow them."""
    sink = _Collect()
    writer = BatchWriter(sink, fmt)
    for number, text in entries:
        job = None
        if isinstance(text, str | bytes):  # else a line over MAX_LINE
            try:
                job = parse_line(text, number) if isinstance(text, str) else parse_raw(text, number)
            except RPCError:
                pass  # a bad line no lane looked at: not sent either
            else:
                if job is None:
                    continue  # blank and comment lines have no record
        writer.emit(
            {
                "node": None,
                "error": Interrupted("not sent: interrupted", sent=False),
                "elapsed": None,
                "line": number,
                "function": job.function if job else None,
                "args": job.args if job else [],
            }
        )
    writer.flush()
    return b"".join(sink.data), writer.calls
