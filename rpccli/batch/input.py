"""Input lines of ``rpccli batch`` -> :class:`Job`: words in the shell's syntax
(:mod:`rpccli.words`: quotes, backslashes, ``$'\\x41'``), a JSON object, or a JSON array."""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import select
import stat
from collections.abc import Iterator
from itertools import islice
from operator import length_hint
from typing import Any, NamedTuple

from rpccli.args import read_arguments
from rpccli.errors import InputError
from rpccli.words import split_line

__all__ = ["MAX_LINE", "Job", "LineReader", "numbered", "parse_line", "parse_raw"]

#: characters that can make the shell's word syntax differ from plain splitting at blanks
_QUOTING = re.compile(r"[\"'\\]")
#: the blanks that separate words (the same as rpccli.words)
_WORD = re.compile(r"[^ \t\r\n]+")
#: the same two for a line still in bytes (parse_raw), and the @ of @PATH and @@TEXT
_RAW_SPECIAL = re.compile(rb"[\"'\\@]")
_RAW_WORD = re.compile(rb"[^ \t\r\n]+")


class Job(NamedTuple):  # a NamedTuple: built once per input line, and cheaper than a dataclass
    line: int
    node: str | None  # None: the batch's NODE
    function: str
    args: list[bytes]


def parse_line(text: str, number: int) -> Job | None:
    """One input line -> a Job (None for blank and comment lines); InputError when malformed."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if stripped.startswith(("{", "[")):
        return _parse_json(stripped, number)
    if _QUOTING.search(stripped):
        # the one word syntax of the shell: $'\x41' is A here too
        words = [word.text for word in split_line(stripped)]
    else:
        words = _WORD.findall(stripped)  # the common line: the same words, faster
    if not words:
        return None
    if "@" in stripped:  # @PATH, @@TEXT: as for call
        args = read_arguments(words[1:], stdin=None)
    else:  # the common line: each word's bytes
        args = [word.encode("utf-8", "surrogateescape") for word in words[1:]]
    return Job(number, None, words[0], args)


def parse_raw(line: bytes, number: int) -> Job | None:
    """:func:`parse_line` of ``line`` decoded (UTF-8, undecodable bytes as surrogates), for a
    line as read: the common plain line (``FUNCTION ARG ...``: no quote, backslash, ``@``, JSON
    or comment) is split as bytes, so its args are never decoded and encoded again.

    The same Job as parse_line's: the words of a plain line are the runs between the same four
    blanks in bytes as in text (UTF-8 never puts an ASCII byte inside a character, and an
    undecodable byte becomes a surrogate, never a blank); and where the first and last words
    begin and end with a printable ASCII character, what ``str.strip`` takes off the ends is
    those blanks alone (tests/cli/test_batch_fast_paths.py compares both over a matrix)."""
    if _RAW_SPECIAL.search(line) is None:
        words = _RAW_WORD.findall(line)
        if words:
            first = words[0][0]
            last = words[-1][-1]
            if 0x21 <= first <= 0x7E and 0x21 <= last <= 0x7E and first not in _NOT_WORDS:
                return Job(number, None, words[0].decode("utf-8", "surrogateescape"), words[1:])
    return parse_line(line.decode("utf-8", "surrogateescape"), number)


_NOT_WORDS = b"#{["  # a comment, a JSON object or array


def _json_arg(value: object, number: int) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except binascii.Error:
            raise InputError("bad base64 argument") from None
    raise InputError('each arg must be a string or {"base64": "..."}')


def _parse_json(text: str, number: int) -> Job:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"bad JSON: {exc}") from None
    if isinstance(data, list):
        return _json_array(data, number)
    if not isinstance(data, dict):
        raise InputError(
            'a JSON line must be an object {"function": ..., "args": [...]} '
            'or an array ["FUNCTION", "ARG", ...]'
        )
    unknown = set(data) - {"function", "args", "node"}
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(sorted(unknown))}")
    if "function" not in data:
        raise InputError('missing "function"')
    function = data["function"]
    if not isinstance(function, str) or not function:
        raise InputError('"function" must be a non-empty string')
    raw_args = data.get("args", [])
    if not isinstance(raw_args, list):
        raise InputError('"args" must be a list')
    node = data.get("node")
    if node is not None and not isinstance(node, str):
        raise InputError('"node" must be a string')
    return Job(number, node, function, [_json_arg(a, number) for a in raw_args])


def _json_array(data: list[Any], number: int) -> Job:
    # ["echo", "x"]: the words of a line as JSON strings (args may also be {"base64": ...})
    if not data:
        raise InputError('an empty JSON array: write ["FUNCTION", "ARG", ...]')
    function = data[0]
    if not isinstance(function, str) or not function:
        raise InputError("a JSON array starts with the function name, a non-empty string")
    return Job(number, None, function, [_json_arg(a, number) for a in data[1:]])


#: a longer input line is refused (and skipped): a request body is at most 64 KiB anyway
MAX_LINE = 1024 * 1024


def numbered(first: int, lines: list[bytes]) -> tuple[Iterator[tuple[int, bytes]], Iterator[int]]:
    """``lines`` numbered from ``first``, as a zip, and the iterator of its numbers: a zip that
    is unpacked as it goes reuses its tuple (no tuple built per line), and the numbers'
    ``length_hint`` says how many lines are left (LineReader, and a lane's ChunkSource)."""
    numbers = iter(range(first, first + len(lines)))
    return zip(numbers, lines, strict=True), numbers


class LineReader:
    """Numbered lines of stdin that can say, without blocking, whether one is ready.

    With calls in flight, batch must not block on a slow stdin (``tail -f log | rpccli batch
    -c 4``): the answers would wait for the next input line. So the engine asks :meth:`ready`
    first, and waits on :attr:`fd` together with the sockets. The fd is never made non-blocking
    (that would change it for every process sharing it): it is read only when poll says it is
    readable. A regular file or a stream without an fd (BytesIO) is always ready. A line over
    :data:`MAX_LINE` comes out as ``None`` and is skipped, so memory stays bounded.

    Lines come out as text (UTF-8, undecodable bytes as surrogates), or with ``raw`` as the
    bytes read (for :func:`parse_raw`); either way without the ``\r`` of a CRLF ending. The
    complete lines in the buffer are split off and numbered in one step, not one search per
    line, and handed out as one block (:meth:`blocks`): an iterator over a list, which the
    batch loops over with no Python step per line (a generator resumed per line cost about
    700 instructions a line, bench/README.md).
    """

    CHUNK = 65536

    def __init__(self, stream: Any, *, raw: bool = False) -> None:
        self._stream = stream
        self._raw = raw
        self._buf = bytearray()
        self._eof = False
        #: the lines split off the buffer, numbered; what is left of it is not yet handed out
        self._block: Iterator[tuple[int, Any]] = iter(())
        self._left: Iterator[Any] = self._block  # as many items left as the block has
        self.fd: int | None = None
        try:
            fd = stream.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                self._poller = select.poll()
                self._poller.register(fd, select.POLLIN)
                self.fd = fd
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            self.fd = None

    def _fill(self) -> None:
        if self.fd is not None:
            data = os.read(self.fd, self.CHUNK)
        else:
            read1 = getattr(self._stream, "read1", None)
            data = read1(self.CHUNK) if read1 is not None else self._stream.read(self.CHUNK)
        if data:
            self._buf += data
        else:
            self._eof = True

    def ready(self) -> int:
        """How many lines can be had without blocking: those split off and not yet handed out;
        else True when the next line (or the end) can be, False when it cannot."""
        waiting = length_hint(self._left)
        if waiting > 0:
            return waiting
        if self.fd is None or self._eof or b"\n" in self._buf:
            return True
        while self._poller.poll(0):
            self._fill()
            if self._eof or b"\n" in self._buf:
                return True
        return False

    def _line(self, line: bytes) -> str | bytes:
        if self._raw:
            return line.rstrip(b"\r")
        return line.decode("utf-8", "surrogateescape").rstrip("\r")

    def take(self, limit: int) -> list[tuple[int, Any]]:
        """Up to ``limit`` numbered lines of those already split off, in one step, for the lanes'
        coordinator (rpccli.batch.lanes); iteration goes on after them. ``[]`` when none is
        split off."""
        return list(islice(self._block, limit))

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        for block, _ in self.blocks():
            yield from block

    def _hand_out(self, entries: list[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        block = self._block = self._left = iter(entries)
        return block

    def _numbered(self, first: int, lines: list[bytes]) -> Iterator[tuple[int, Any]]:
        block, self._left = numbered(first, lines)
        self._block = block
        return block

    def blocks(self) -> Iterator[tuple[Iterator[tuple[int, Any]], bytes | None]]:
        """The numbered lines (``None`` for one too long), a block at a time: each block is
        what one search split off the buffer, with its bytes when its lines are those bytes
        split at newlines (raw lines, no CR, none too long; else None). The next block is read
        only once the one before is all taken."""
        number = 0  # the last line numbered
        skipping = False
        raw = self._raw
        while True:
            end = self._buf.rfind(b"\n")
            if end < 0:
                if self._eof:
                    rest = bytes(self._buf)
                    self._buf.clear()
                    if rest and not skipping:
                        yield self._hand_out([(number + 1, self._line(rest))]), None
                    return
                if len(self._buf) > MAX_LINE:
                    if not skipping:
                        number += 1
                        yield self._hand_out([(number, None)]), None
                    skipping = True
                    self._buf.clear()
                self._fill()
                continue
            block = bytes(self._buf[:end])
            del self._buf[: end + 1]
            lines = block.split(b"\n")
            whole: bytes | None = block
            if skipping:  # the end of the line too long to keep
                skipping = False
                del lines[0]
                whole = None
            first = number + 1
            number += len(lines)
            if raw and end <= MAX_LINE and b"\r" not in block:
                # the usual block: raw lines with no CR and none too long
                yield self._numbered(first, lines), whole
                continue
            entries: list[tuple[int, Any]] = [
                (n, None if len(line) > MAX_LINE else self._line(line))
                for n, line in enumerate(lines, first)
            ]
            yield self._hand_out(entries), None
