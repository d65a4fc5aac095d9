"""Lanes: ``rpccli batch`` on several processes, when one core is the limit.

One batch process spends 55-70 microseconds of CPU per call, two thirds of it in the kernel
setting up and tearing down the TCP connection (uWSGI serves one request per connection), so it
tops out at one core (14,000-16,000 calls/s on the 2-core development VM) while the other core
is half idle. Threads cannot help (the GIL; measured slower), so the calls are spread over worker
processes ("lanes"); bench/README.md has the figures:

- this process (the coordinator) reads the input lines, numbers them and hands them out in
  chunks, one lane after the other; a chunk goes out as soon as the input would block, so a slow
  stream (``tail -f log | rpccli batch``) is answered line by line;
- each lane is a fork running the one-process batch (parse, call, format) on its chunks with its
  share of ``-c``, and sends back framed output: result bytes, stderr lines, chunk ends, and
  finally its totals;
- the coordinator writes each chunk's output as it arrives, chunk after chunk, so the output is
  byte for byte what one process writes. Memory stays bounded: at most a few chunks per lane
  are out at once.

Each lane keeps its own node health and rotation (``-s best``/``round-robin``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from typing import Final

from rpccli.batch_input import LineReader
from rpccli.output import Printer

__all__ = ["CHUNK_END", "ChunkSource", "FrameSink", "LaneFailed", "run_lanes"]

#: what a lane's line source yields as the text after the last line of a chunk
CHUNK_END: Final = object()

_FRAME: Final = struct.Struct("<BI")  # kind, payload size
_LINES, _OUT, _ERR, _CHUNK_DONE, _TOTALS = b"l"[0], b"o"[0], b"e"[0], b"c"[0], b"t"[0]
CHUNKS_PER_LANE = 4  # chunks handed out and not yet written, per lane
_READ = 65536

Entry = tuple[int, object]  # (line number, text: str, None when too long, or CHUNK_END)


def _frame(kind: int, payload: bytes) -> bytes:
    return _FRAME.pack(kind, len(payload)) + payload


def _frames(buf: bytearray) -> Iterator[tuple[int, bytes]]:
    """Take the complete frames off the front of ``buf``."""
    while len(buf) >= _FRAME.size:
        kind, size = _FRAME.unpack_from(buf)
        end = _FRAME.size + size
        if len(buf) < end:
            return
        payload = bytes(buf[_FRAME.size : end])
        del buf[:end]
        yield kind, payload


# -- in a lane -------------------------------------------------------------------------------
class ChunkSource:
    """A lane's input: numbered lines as LineReader gives them, CHUNK_END after each chunk."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = bytearray()
        self._entries: deque[Entry] = deque()
        self._eof = False
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    def _read(self) -> None:
        data = os.read(self.fd, _READ)
        if not data:
            self._eof = True
            return
        self._buf += data
        for _, payload in _frames(self._buf):
            self._entries.extend(pickle.loads(payload))
            self._entries.append((0, CHUNK_END))

    def ready(self) -> bool:
        """True when the next entry (or the end) can be had without blocking."""
        while not self._entries and not self._eof:
            if not self._poller.poll(0):
                return False
            self._read()
        return True

    def __iter__(self) -> Iterator[Entry]:
        while True:
            if self._entries:
                yield self._entries.popleft()
            elif self._eof:
                return
            else:
                self._read()


class FrameSink:
    """A lane's output: what BatchWriter gives its printer, framed for the coordinator."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def write(self, data: bytes) -> None:
        self._send(_frame(_OUT, data))

    def info(self, text: str) -> None:
        self._send(_frame(_ERR, text.encode("utf-8", "surrogateescape")))

    def chunk_done(self) -> None:
        self._send(_frame(_CHUNK_DONE, b""))

    def totals(self, calls: int, failures: int) -> None:
        self._send(_frame(_TOTALS, struct.pack("<QQ", calls, failures)))


Work = Callable[[int, ChunkSource, FrameSink], tuple[int, int]]  # lane number, input, output


# -- the coordinator -------------------------------------------------------------------------
class _Lane:
    def __init__(self, pid: int, to_lane: int, from_lane: int) -> None:
        self.pid = pid
        self.to_lane: int | None = to_lane  # closed (None) once the input is over
        self.from_lane: int | None = from_lane  # None once the lane has closed its output
        self.outgoing = bytearray()
        self.incoming = bytearray()


def _spawn(work: Work, others: list[_Lane]) -> _Lane:
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the lane
        code = 0
        try:
            os.close(to_w)
            os.close(from_r)
            for lane in others:  # only the coordinator may hold the other lanes' pipes
                for fd in (lane.to_lane, lane.from_lane):
                    if fd is not None:
                        os.close(fd)
            sink = FrameSink(from_w)
            calls, failures = work(len(others), ChunkSource(to_r), sink)
            sink.totals(calls, failures)
        except BrokenPipeError:
            code = 0  # the coordinator is gone (its reader left): nothing more to say
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # a lane must never return into the CLI
            traceback.print_exc()
            code = 70
        finally:
            os._exit(code)
    os.close(to_r)
    os.close(from_w)
    os.set_blocking(to_w, False)  # the coordinator never blocks on a busy lane
    return _Lane(pid, to_w, from_r)


def run_lanes(
    lanes: int, reader: LineReader, printer: Printer, work: Work, *, chunk_lines: int
) -> tuple[int, int]:
    """Run the batch on ``lanes`` forked processes; return (calls, failures) over all of them.

    A chunk has at most ``chunk_lines`` lines, and at most CHUNKS_PER_LANE chunks per lane are
    out at once: that bounds what is in memory (lines and results) however long the input is.
    """
    started: list[_Lane] = []
    try:
        for _ in range(lanes):
            started.append(_spawn(work, started))
        return _coordinate(started, reader, printer, chunk_lines)
    finally:
        for lane in started:
            _stop(lane)


def _stop(lane: _Lane) -> None:
    for fd in (lane.to_lane, lane.from_lane):
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    lane.to_lane = lane.from_lane = None
    try:
        pid, _ = os.waitpid(lane.pid, os.WNOHANG)
        if pid == 0:  # still running: the batch is being abandoned (^C, reader left)
            os.kill(lane.pid, signal.SIGTERM)
            os.waitpid(lane.pid, 0)
    except ChildProcessError:
        pass


class LaneFailed(Exception):
    """A lane ended without its totals: its results are lost."""


def _coordinate(
    lanes: list[_Lane], reader: LineReader, printer: Printer, chunk_lines: int
) -> tuple[int, int]:
    lines = iter(reader)
    owners: deque[_Lane] = deque()  # the lane of each chunk handed out and not yet written
    turn = 0
    input_over = False
    out: list[bytes] = []

    def flush() -> None:
        if out:
            data = b"".join(out)
            out.clear()
            printer.write(data)

    while True:
        # hand out chunks while the input has lines ready and the lanes have room
        while not input_over and len(owners) < CHUNKS_PER_LANE * len(lanes) and reader.ready():
            chunk: list[Entry] = []
            while len(chunk) < chunk_lines:
                entry = next(lines, None)
                if entry is None:
                    input_over = True
                    break
                chunk.append(entry)
                if not reader.ready():
                    break  # answer what came so far now, not when the input resumes
            if chunk:
                lane = lanes[turn]
                turn = (turn + 1) % len(lanes)
                lane.outgoing += _frame(_LINES, pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
                owners.append(lane)
        for lane in lanes:
            _push(lane, close=input_over)
        # write what the lane of the oldest chunk has sent, chunk after chunk
        while owners:
            lane = owners[0]
            finished = False
            for kind, payload in _frames(lane.incoming):
                if kind == _OUT:
                    out.append(payload)
                elif kind == _ERR:
                    flush()
                    printer.info(payload.decode("utf-8", "surrogateescape"))
                elif kind == _CHUNK_DONE:
                    finished = True
                    break
            if not finished:
                break
            owners.popleft()
        if input_over and not owners:
            break
        flush()
        room = not input_over and len(owners) < CHUNKS_PER_LANE * len(lanes)
        if room and reader.ready():
            continue  # written chunks made room and lines are waiting: hand them out first
        _wait(lanes, reader, want_input=room)
    flush()
    calls = failures = 0
    for lane in lanes:
        while (totals := _totals(lane)) is None:
            if not _receive(lane):
                raise LaneFailed(f"batch lane {lane.pid} ended early")
        calls += totals[0]
        failures += totals[1]
    return calls, failures


def _push(lane: _Lane, *, close: bool) -> None:
    """Write what the lane can take now; close its input once everything is out."""
    if lane.to_lane is None:
        return
    if lane.outgoing:
        try:
            sent = os.write(lane.to_lane, lane.outgoing)
        except BlockingIOError:
            return
        except BrokenPipeError:  # never our stdout's EPIPE, which would end the batch quietly
            raise LaneFailed(f"batch lane {lane.pid} ended early") from None
        del lane.outgoing[:sent]
    if close and not lane.outgoing:
        os.close(lane.to_lane)
        lane.to_lane = None


def _receive(lane: _Lane) -> bool:
    """Read what the lane has sent (blocking); False once it has closed its end."""
    if lane.from_lane is None:
        return False
    data = os.read(lane.from_lane, _READ)
    if not data:
        os.close(lane.from_lane)
        lane.from_lane = None
        return False
    lane.incoming += data
    return True


def _wait(lanes: list[_Lane], reader: LineReader, *, want_input: bool) -> None:
    """Block until a lane sent something, can take more, or (if wanted) input arrived."""
    poller = select.poll()
    watched: dict[int, _Lane] = {}
    for lane in lanes:
        if lane.from_lane is not None:
            poller.register(lane.from_lane, select.POLLIN)
            watched[lane.from_lane] = lane
        if lane.to_lane is not None and lane.outgoing:
            poller.register(lane.to_lane, select.POLLOUT)
    if want_input and reader.fd is not None:
        poller.register(reader.fd, select.POLLIN)
    if not watched:
        raise LaneFailed("every batch lane ended early")
    for fd, _ in poller.poll():
        sender = watched.get(fd)
        if sender is None or _receive(sender):
            continue
        if _totals(sender) is None:
            raise LaneFailed(f"batch lane {sender.pid} ended early")


def _totals(lane: _Lane) -> tuple[int, int] | None:
    """(calls, failures) when the lane's totals frame is among what it sent (it ended normally).

    Reads a copy: the frames before it may belong to chunks not written yet."""
    for kind, payload in _frames(bytearray(lane.incoming)):
        if kind == _TOTALS:
            calls, failures = struct.unpack("<QQ", payload)
            return calls, failures
    return None
