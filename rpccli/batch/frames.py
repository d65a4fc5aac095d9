"""The framed pipes between ``rpccli batch``'s coordinator and its lanes (rpccli.batch.lanes):
numbered input lines one way (a block of lines, or pickled entries); result bytes, stderr lines,
chunk ends, where Ctrl-C stopped, and the totals the other way. Each frame is a kind byte, a
4-byte size, and the payload."""

from __future__ import annotations

import os
import pickle
import select
import struct
from collections import deque
from collections.abc import Iterator
from operator import length_hint
from typing import Final

from rpccli.batch.input import numbered
from rpccli.batch.stop import Counts

__all__ = [
    "BLOCK",
    "CHUNK_DONE",
    "CHUNK_END",
    "ERR",
    "LAST_LINE",
    "LINES",
    "OUT",
    "READ",
    "STOPPED",
    "TOTALS",
    "TOTALS_FORMAT",
    "ChunkSource",
    "Entry",
    "FrameSink",
    "frame",
    "frames",
]

#: what a lane's line source yields as the text after the last line of a chunk
CHUNK_END: Final = object()

FRAME: Final = struct.Struct("<BI")  # kind, payload size
LINES, OUT, ERR, CHUNK_DONE, TOTALS = b"l"[0], b"o"[0], b"e"[0], b"c"[0], b"t"[0]
STOPPED = b"s"[0]  # Ctrl-C: the last line the lane took (every line after it was not sent)
#: a chunk of lines that are all bytes: the first one's number, then the lines joined by
#: newlines (a pickled list of (number, line) tuples costs the coordinator about 1,300
#: instructions a line to write, and the lane as many to read)
BLOCK = b"b"[0]
TOTALS_FORMAT: Final = struct.Struct("<QQQQ")  # calls, failures, cut off, not sent
LAST_LINE: Final = struct.Struct("<Q")
READ = 65536

Entry = tuple[int, object]  # (line number, text: str, None when too long, or CHUNK_END)


def frame(kind: int, payload: bytes) -> bytes:
    return FRAME.pack(kind, len(payload)) + payload


def frames(buf: bytearray) -> Iterator[tuple[int, bytes]]:
    """Take the complete frames off the front of ``buf``."""
    while len(buf) >= FRAME.size:
        kind, size = FRAME.unpack_from(buf)
        end = FRAME.size + size
        if len(buf) < end:
            return
        payload = bytes(buf[FRAME.size : end])
        del buf[:end]
        yield kind, payload


# -- in a lane -------------------------------------------------------------------------------
class ChunkSource:
    """A lane's input: numbered lines as LineReader gives them, CHUNK_END after each chunk;
    like LineReader, a block at a time (:meth:`blocks`): a chunk's lines, then its end."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = bytearray()
        #: blocks read and not yet handed out: each with an iterator as long as it is, and its
        #: bytes when its lines are those bytes split at newlines
        self._blocks: deque[tuple[Iterator[Entry], Iterator[object], bytes | None]] = deque()
        self._left: Iterator[object] = iter(())  # as many items left as the block handed out
        self._eof = False
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    def _read(self) -> None:
        data = os.read(self.fd, READ)
        if not data:
            self._eof = True
            return
        self._buf += data
        for kind, payload in frames(self._buf):
            if kind == BLOCK:
                (first,) = LAST_LINE.unpack_from(payload)
                data = payload[LAST_LINE.size :]
                lines = data.split(b"\n")
                block, numbers = numbered(first, lines)
                self._blocks.append((block, numbers, data))
            else:
                entries = iter(pickle.loads(payload))
                self._blocks.append((entries, entries, None))
            end: Iterator[Entry] = iter(((0, CHUNK_END),))
            self._blocks.append((end, end, None))

    def _waiting(self) -> int:
        return length_hint(self._left) + sum([length_hint(left) for _, left, _ in self._blocks])

    def ready(self) -> int:
        """How many entries can be had without blocking (True: the end can); False for none."""
        waiting = self._waiting()
        while not waiting and not self._eof:
            if not self._poller.poll(0):
                return False
            self._read()
            waiting = self._waiting()
        return waiting or True

    def blocks(self) -> Iterator[tuple[Iterator[Entry], bytes | None]]:
        """The entries, a block at a time (read only once those read before are all taken),
        each with its bytes as LineReader.blocks gives them."""
        while True:
            if self._blocks:
                block, self._left, data = self._blocks.popleft()
                yield block, data
            elif self._eof:
                return
            else:
                self._read()

    def __iter__(self) -> Iterator[Entry]:
        for block, _ in self.blocks():
            yield from block


class FrameSink:
    """A lane's output: what BatchWriter gives its printer, framed for the coordinator."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def write(self, data: bytes) -> None:
        self._send(frame(OUT, data))

    def info(self, text: str) -> None:
        self._send(frame(ERR, text.encode("utf-8", "surrogateescape")))

    def chunk_done(self, data: bytes = b"") -> None:
        """The chunk is over, after its output ``data`` not yet written: both in one write (one
        system call, and one wake-up of the coordinator, less per chunk)."""
        self._send((frame(OUT, data) if data else b"") + frame(CHUNK_DONE, b""))

    def stopped(self, last_line: int) -> None:
        self._send(frame(STOPPED, LAST_LINE.pack(last_line)))

    def totals(self, counts: Counts) -> None:
        fields = (counts.calls, counts.failures, counts.cut, counts.unsent)
        self._send(frame(TOTALS, TOTALS_FORMAT.pack(*fields)))
