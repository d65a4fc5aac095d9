"""The common input line of ``rpccli batch`` taken the short way (docs/batch.md#speed).

A plain line -- ``FUNCTION ARG ...`` in printable ASCII and blanks, with no quote, backslash,
``@``, JSON or comment -- needs none of the general parser (rpccli.batch.input.parse_line): its
words are its runs of non-blanks, its request is the function's checked item followed by the
words, and the JSON of its function and args is the words between quotes (nothing in them is
escaped). So it is taken straight from the bytes read, with no text built. Every other line, and
a plain one whose function name or size any limit could refuse, goes the full way, which says
why. tests/cli/test_batch_fast_paths.py checks that both ways give the same bytes.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from protocol.errors import RPCError
from protocol.wire import HEADER, MAX_ARGS, MODIFIER1_RPC, function_item

__all__ = ["PLAIN_MAX", "PlainLines"]

#: a byte a plain line cannot hold: controls (tab aside), non-ASCII, " ' @ \
_NOT_PLAIN = re.compile(rb"[^\t !#-&(-?A-\[\]-~]")
#: the same test as one table: every byte a plain line can hold -> "a", any other -> NUL; a
#: line is plain when its translation is all letters (two C loops: the regex's charset test
#: costs about 40 instructions a byte)
_PLAIN_TABLE = bytes(0x61 if _NOT_PLAIN.match(bytes([b])) is None else 0 for b in range(256))
#: the same for a block of lines joined by newlines: a newline is "a" too
_BLOCK_TABLE = _PLAIN_TABLE[:0x0A] + b"a" + _PLAIN_TABLE[0x0B:]
#: a longer line goes the full way: up to this size no arg can pass the item limit and the
#: request body (the name's at most 257 bytes, then 2 + len per arg) stays under 64 KiB
#: (docs/protocol.md#limits)
PLAIN_MAX = 32000
_KEEP = 256  # function names remembered with their checked item
_SIZES = 64  # request starts remembered per function name, by the size of the one arg
_LEN = struct.Struct("<H")  # an item's length (docs/protocol.md#packets)
_MODIFIER1 = MODIFIER1_RPC
#: what a plain line asks for: function, args, request, JSON of function and args (or None)
Taken = tuple[str, list[bytes], bytes, bytes | None]


class PlainLines:
    """Plain lines -> (function, args, request, JSON of function and args or None)."""

    def __init__(self, modifier2: int, *, json: bool) -> None:
        self.modifier2 = modifier2
        self.json = json  # whether the JSON of function and args is wanted (JSON Lines out)
        # function word -> its name, its checked request item, the JSON up to its args, and
        # the requests' starts for one arg by the arg's size (_start)
        self._names: dict[bytes, tuple[str, bytes, bytes, dict[int, bytes]]] = {}

    def for_block(self, data: bytes | None) -> Callable[[bytes], Taken | None]:
        """How to take the lines of a block: ``data`` is the block's bytes when its lines are
        those bytes split at newlines (else None). When every byte of it can be in a plain line,
        its lines skip that test, one per block instead of one per line (about 700
        instructions a line, bench/README.md)."""
        if data is not None and data.translate(_BLOCK_TABLE).isalpha():
            return self._take_words
        return self.take

    def take(self, line: bytes) -> Taken | None:
        """What ``line`` asks for when it is plain; None for any other line (the full way)."""
        if not line.translate(_PLAIN_TABLE).isalpha():
            return None  # (an empty line is not alpha either)
        return self._take_words(line)

    def _take_words(self, line: bytes) -> Taken | None:
        """:meth:`take` of a line with no byte a plain line cannot hold."""
        if len(line) > PLAIN_MAX:
            return None
        words = line.split()  # only spaces and tabs here: the blanks of rpccli.words
        if not words:
            return None
        found = self._names.get(words[0])
        if found is None:
            found = self._learn(words[0])
            if found is None:
                return None
        function, item, head, starts = found
        del words[0]  # the args, in the list split gave (no second list)
        args = words
        if len(args) == 1:  # the usual line: everything before its arg depends on its size only
            arg = args[0]
            start = starts.get(len(arg))
            if start is None:
                start = self._start(item, starts, len(arg))
            return function, args, start + arg, head + arg + b'"]' if self.json else None
        if not args:
            body = item
        elif len(args) <= MAX_ARGS:
            parts = [item]
            for arg in args:
                parts += (_LEN.pack(len(arg)), arg)
            body = b"".join(parts)
        else:
            return None  # too many args: the full way says so
        request = HEADER.pack(_MODIFIER1, len(body), self.modifier2) + body
        if not self.json:
            return function, args, request, None
        return (
            function,
            args,
            request,
            head + b'", "'.join(args) + b'"]' if args else head[:-1] + b"]",
        )

    def _start(self, item: bytes, starts: dict[int, bytes], size: int) -> bytes:
        """The request of ``item`` and one arg of ``size`` bytes, up to the arg: header, the
        function's item, the arg's length (docs/protocol.md#packets). Kept for a few sizes: a
        batch's args have few lengths, and the start costs a struct and three concatenations."""
        start = HEADER.pack(_MODIFIER1, len(item) + 2 + size, self.modifier2) + item
        start += _LEN.pack(size)
        if len(starts) < _SIZES:
            starts[size] = start
        return start

    def _learn(self, name: bytes) -> tuple[str, bytes, bytes, dict[int, bytes]] | None:
        if name[0] in b"#{[" or len(self._names) >= _KEEP:
            return None  # a comment, JSON, or too many names: the full way
        function = name.decode("ascii")
        try:
            item = function_item(function)
        except RPCError:
            return None  # the full way says why
        head = b'"function": "%s", "args": ["' % name
        found = self._names[name] = (function, item, head, {})
        return found
