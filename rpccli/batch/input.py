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
from typing import Any, NamedTuple

from rpccli.args import read_arguments
from rpccli.errors import InputError
from rpccli.words import split_line

__all__ = ["MAX_LINE", "Job", "LineReader", "parse_line"]

#: characters that can make the shell's word syntax differ from plain splitting at blanks
_QUOTING = re.compile(r"[\"'\\]")
#: the blanks that separate words (the same as rpccli.words)
_WORD = re.compile(r"[^ \t\r\n]+")


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


class LineReader:
    """Numbered lines of stdin that can say, without blocking, whether one is ready.

    With calls in flight, batch must not block on a slow stdin (``tail -f log | rpccli batch
    -c 4``): the answers would wait for the next input line. So the engine asks :meth:`ready`
    first, and waits on :attr:`fd` together with the sockets. The fd is never made non-blocking
    (that would change it for every process sharing it): it is read only when poll says it is
    readable. A regular file or a stream without an fd (BytesIO) is always ready. A line over
    :data:`MAX_LINE` comes out as ``None`` and is skipped, so memory stays bounded.
    """

    CHUNK = 65536

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._buf = bytearray()
        self._eof = False
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

    def ready(self) -> bool:
        """True when the next line (or the end) can be had without blocking."""
        if self.fd is None or self._eof or b"\n" in self._buf:
            return True
        while self._poller.poll(0):
            self._fill()
            if self._eof or b"\n" in self._buf:
                return True
        return False

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        number = 0
        skipping = False
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if self._eof:
                    rest = bytes(self._buf)
                    self._buf.clear()
                    if rest and not skipping:
                        yield number + 1, rest.decode("utf-8", "surrogateescape").rstrip("\r")
                    return
                if len(self._buf) > MAX_LINE:
                    if not skipping:
                        number += 1
                        yield number, None
                    skipping = True
                    self._buf.clear()
                self._fill()
                continue
            line = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if skipping:
                skipping = False
                continue
            number += 1
            if len(line) > MAX_LINE:
                yield number, None
                continue
            yield number, line.decode("utf-8", "surrogateescape").rstrip("\r")
