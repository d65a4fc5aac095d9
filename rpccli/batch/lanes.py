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

Ctrl-C (rpccli.batch.stop) reaches every lane -- the terminal sends it to the whole process
group, and the coordinator forwards its own. A lane then takes no more lines, finishes its
records (answers already here; ``interrupted`` for calls still waiting) and says after which
line it stopped. The coordinator writes every chunk in input order as usual; the lines a lane
never took are "not sent" records where answered lines follow them (so output line N still
answers input line N), and dropped after the last line any lane took: input stopped there.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import traceback
from collections import deque
from collections.abc import Callable

from rpccli.batch.frames import (
    BLOCK,
    CHUNK_DONE,
    CHUNK_END,
    ERR,
    LAST_LINE,
    LINES,
    OUT,
    READ,
    STOPPED,
    TOTALS,
    TOTALS_FORMAT,
    ChunkSource,
    Entry,
    FrameSink,
    frame,
    frames,
)
from rpccli.batch.input import LineReader
from rpccli.batch.stop import Counts, Stop, sigint_stops
from rpccli.output import Printer

__all__ = ["CHUNK_END", "ChunkSource", "Counts", "FrameSink", "LaneFailed", "run_lanes"]

CHUNKS_PER_LANE = 4  # chunks handed out and not yet written, per lane


Work = Callable[[int, ChunkSource, FrameSink, Stop], Counts]  # lane number, input, output, ^C
#: the "not sent" records of lines no lane took, and how many there are
NotSent = Callable[[list[Entry]], tuple[bytes, int]]


# -- the coordinator -------------------------------------------------------------------------
class Lane:
    def __init__(self, pid: int, to_lane: int, from_lane: int) -> None:
        self.pid = pid
        self.to_lane: int | None = to_lane  # closed (None) once the input is over
        self.from_lane: int | None = from_lane  # None once the lane has closed its output
        self.outgoing = bytearray()
        self.incoming = bytearray()
        self.stopped_at: int | None = None  # Ctrl-C: the last line it took


def spawn(work: Work, others: list[Lane], coordinator: Stop) -> Lane:
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    # SIGINT waits until the lane has its own handler: the coordinator's must not run there
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pid = os.fork()
    if pid == 0:  # the lane
        code = 0
        try:
            stop = Stop()
            # any SIGINT (the terminal's, or the coordinator's) only stops; never raises
            signal.signal(signal.SIGINT, lambda signum, frame: stop.request())
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            coordinator.close()
            os.close(to_w)
            os.close(from_r)
            for lane in others:  # only the coordinator may hold the other lanes' pipes
                for fd in (lane.to_lane, lane.from_lane):
                    if fd is not None:
                        os.close(fd)
            sink = FrameSink(from_w)
            sink.totals(work(len(others), ChunkSource(to_r), sink, stop))
        except BrokenPipeError:
            code = 0  # the coordinator is gone (its reader left): nothing more to say
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # a lane must never return into the CLI
            traceback.print_exc()
            code = 70
        finally:
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.close(to_r)
    os.close(from_w)
    os.set_blocking(to_w, False)  # the coordinator never blocks on a busy lane
    return Lane(pid, to_w, from_r)


def run_lanes(
    lanes: int,
    reader: LineReader,
    printer: Printer,
    work: Work,
    *,
    chunk_lines: int,
    not_sent: NotSent,
) -> Counts:
    """Run the batch on ``lanes`` forked processes; return the counts over all of them.

    A chunk has at most ``chunk_lines`` lines, and at most CHUNKS_PER_LANE chunks per lane are
    out at once: that bounds what is in memory (lines and results) however long the input is.
    The first Ctrl-C stops every lane and still writes every record (see the module's doc); a
    second one abandons the lanes at once.
    """
    started: list[Lane] = []
    stop = Stop()
    try:
        # a Ctrl-C sent to this process alone reaches the lanes too
        with sigint_stops(stop, first=lambda: forward(started)):
            for _ in range(lanes):
                started.append(spawn(work, started, stop))
            if stop.requested:  # Ctrl-C while lanes were starting: stop those too
                forward(started)
            return _coordinate(started, reader, printer, chunk_lines, stop, not_sent)
    finally:
        for lane in started:
            stop_lane(lane)
        stop.close()


def stop_lane(lane: Lane) -> None:
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
    lanes: list[Lane],
    reader: LineReader,
    printer: Printer,
    chunk_lines: int,
    stop: Stop,
    not_sent: NotSent,
) -> Counts:
    lines = iter(reader)
    # each chunk handed out and not yet written: its lane and its lines
    owners: deque[tuple[Lane, list[Entry]]] = deque()
    turn = 0
    input_over = False
    out: list[bytes] = []
    counts = Counts()
    gap: list[Entry] = []  # after Ctrl-C: lines no lane took, written if a taken line follows
    last_taken = 0

    def flush() -> None:
        if out:
            data = b"".join(out)
            out.clear()
            printer.write(data)

    def fill_gap() -> None:  # a line that was taken follows: the lines before it were not sent
        if gap:
            data, count = not_sent(gap)
            gap.clear()
            counts.calls += count
            counts.failures += count
            counts.unsent += count
            out.append(data)

    while True:
        # hand out chunks while the input has lines ready and the lanes have room
        while (
            not stop.requested
            and not input_over
            and len(owners) < CHUNKS_PER_LANE * len(lanes)
            and reader.ready()
        ):
            chunk: list[Entry] = []
            while len(chunk) < chunk_lines:
                more = reader.take(chunk_lines - len(chunk))  # the lines split off already
                if more:
                    chunk += more
                else:
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
                lane.outgoing += _chunk_frame(chunk)
                owners.append((lane, chunk))
        if not stop.requested:  # after Ctrl-C the lanes take nothing more
            for lane in lanes:
                _push(lane, close=input_over)
        # write what the lane of the oldest chunk has sent, chunk after chunk
        while owners:
            lane, chunk = owners[0]
            if lane.stopped_at is not None:  # the lane stopped before this chunk
                gap += chunk
                owners.popleft()
                continue
            finished = False
            for kind, payload in frames(lane.incoming):
                if kind == OUT:
                    fill_gap()
                    out.append(payload)
                elif kind == ERR:
                    fill_gap()
                    flush()
                    printer.info(payload.decode("utf-8", "surrogateescape"))
                elif kind == CHUNK_DONE:
                    fill_gap()
                    last_taken = max(last_taken, chunk[-1][0])
                    finished = True
                    break
                elif kind == STOPPED:
                    (taken,) = LAST_LINE.unpack(payload)
                    lane.stopped_at = taken
                    if not stop.requested:  # the lane alone got Ctrl-C: stop the others too
                        stop.request()
                        forward(lanes)
                    if chunk[0][0] <= taken:
                        fill_gap()
                        last_taken = max(last_taken, taken)
                    gap += [entry for entry in chunk if entry[0] > taken]
                    finished = True
                    break
            if not finished:
                break
            owners.popleft()
        if (input_over or stop.requested) and not owners:
            break
        flush()
        room = not stop.requested and not input_over
        room = room and len(owners) < CHUNKS_PER_LANE * len(lanes)
        if room and reader.ready():
            continue  # written chunks made room and lines are waiting: hand them out first
        _wait(lanes, reader, want_input=room, stop=stop)
    flush()  # the lines of ``gap`` came after the last line taken: input stopped before them
    for lane in lanes:
        while (totals := _totals(lane)) is None:
            if not receive(lane):
                raise LaneFailed(f"batch lane {lane.pid} ended early")
        counts.calls += totals.calls
        counts.failures += totals.failures
        counts.cut += totals.cut
        counts.unsent += totals.unsent
    if stop.requested:
        counts.stopped_after = last_taken
    return counts


def _chunk_frame(chunk: list[Entry]) -> bytes:
    """The frame of ``chunk``: a block when its lines are all bytes and numbered one after the
    other (the usual chunk), else the pickled entries."""
    if chunk[-1][0] - chunk[0][0] == len(chunk) - 1:
        try:
            block = b"\n".join([text for _, text in chunk])  # type: ignore[misc]
        except TypeError:
            pass  # a line too long to keep (None): the entries as they are
        else:
            return frame(BLOCK, LAST_LINE.pack(chunk[0][0]) + block)
    return frame(LINES, pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))


def forward(lanes: list[Lane]) -> None:
    """Send SIGINT to every lane (a lane that already ended is not there to get it)."""
    for lane in lanes:
        with contextlib.suppress(OSError):
            os.kill(lane.pid, signal.SIGINT)


def _push(lane: Lane, *, close: bool) -> None:
    """Write what the lane can take now; close its input once everything is out."""
    if lane.to_lane is None:
        return
    if lane.outgoing:
        try:
            sent = os.write(lane.to_lane, lane.outgoing)
        except BlockingIOError:
            return
        except BrokenPipeError:
            # never our stdout's EPIPE, which would end the batch quietly. The lane is gone:
            # stopped by Ctrl-C (its records are in its pipe), or dead, which its output's end
            # without totals tells (LaneFailed)
            os.close(lane.to_lane)
            lane.to_lane = None
            return
        del lane.outgoing[:sent]
    if close and not lane.outgoing:
        os.close(lane.to_lane)
        lane.to_lane = None


def receive(lane: Lane) -> bool:
    """Read what the lane has sent (blocking); False once it has closed its end."""
    if lane.from_lane is None:
        return False
    data = os.read(lane.from_lane, READ)
    if not data:
        os.close(lane.from_lane)
        lane.from_lane = None
        return False
    lane.incoming += data
    return True


def _wait(lanes: list[Lane], reader: LineReader, *, want_input: bool, stop: Stop) -> None:
    """Block until a lane sent something, can take more, (if wanted) input arrived, or the
    first Ctrl-C came."""
    poller = select.poll()
    watched: dict[int, Lane] = {}
    for lane in lanes:
        if lane.from_lane is not None:
            poller.register(lane.from_lane, select.POLLIN)
            watched[lane.from_lane] = lane
        if lane.to_lane is not None and lane.outgoing:
            poller.register(lane.to_lane, select.POLLOUT)
    if want_input and reader.fd is not None:
        poller.register(reader.fd, select.POLLIN)
    if not stop.requested:  # never drained: once set it would wake every wait
        poller.register(stop.fd, select.POLLIN)
    if not watched:
        raise LaneFailed("every batch lane ended early")
    for fd, _ in poller.poll():
        sender = watched.get(fd)
        if sender is None or receive(sender):
            continue
        if _totals(sender) is None:
            raise LaneFailed(f"batch lane {sender.pid} ended early")


def _totals(lane: Lane) -> Counts | None:
    """The lane's counts when its totals frame is among what it sent (it ended normally).

    Reads a copy: the frames before it may belong to chunks not written yet."""
    for kind, payload in frames(bytearray(lane.incoming)):
        if kind == TOTALS:
            return Counts(*TOTALS_FORMAT.unpack(payload))
    return None
