r"""Split a line into words: POSIX-shell quoting plus bash's $'...' to write any byte.

The one word syntax of `rpccli shell` and `rpccli batch` (standard library only, so batch does
not load the shell).

::

    hello world            two words
    echo 'a b' "c d"       quotes group; single quotes are literal; in double quotes a
                           backslash escapes only \ " and $
    echo a\ b              a backslash outside quotes keeps the next character
    echo $'\x00\xff\n'     ANSI-C quoting: \xHH \ooo \n \t \r \0 \e \a \b \f \v \\ \' \"
                           \uHHHH \UHHHHHHHH (written as UTF-8); others stay as written
    # a comment            a line whose first word starts with '#' does nothing

Words are BYTES, because $'\xff' is not text. Everything else is written as UTF-8.
:func:`split_partial` is the tolerant variant the completer uses on half-typed input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rpccli.args import unterminated_quote
from rpccli.errors import InputError

__all__ = ["Partial", "Word", "split_line", "split_partial"]

_SIMPLE = {
    "a": 0x07,
    "b": 0x08,
    "e": 0x1B,
    "E": 0x1B,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
    "'": 0x27,
    '"': 0x22,
    "?": 0x3F,
}
_HEX = "0123456789abcdefABCDEF"
# runs of characters that stand for themselves, taken in one step: a line may be 64 KiB, and
# one Python step per character made splitting it slow
_PLAIN = re.compile(r"[^ \t\r\n'\"\\$]+")
_PLAIN_DOUBLE = re.compile(r'[^"\\]+')
_PLAIN_ANSI_C = re.compile(r"[^'\\]+")


@dataclass(frozen=True, slots=True)
class Word:
    """One word: its bytes, and whether any part of it was quoted or escaped."""

    value: bytes
    quoted: bool

    @property
    def text(self) -> str:
        """The word as text (undecodable bytes kept as surrogates, as file names are)."""
        return self.value.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Partial:
    """Half-typed input, for completion: finished words and the one under the cursor."""

    words: list[str]
    current: str
    #: the quote character still open in ``current`` ("" when none)
    open_quote: str
    #: ``current`` as typed (with its quotes), what a completion replaces
    raw_current: str = ""


class _Lexer:
    def __init__(self, line: str, *, tolerant: bool) -> None:
        self.line = line
        self.pos = 0
        self.tolerant = tolerant
        self.open_quote = ""
        self.last_start = 0

    def _fail(self, message: str) -> None:
        if not self.tolerant:
            raise InputError(message)

    def words(self) -> tuple[list[Word], bool]:
        """All words; the flag tells whether the line ended inside a word."""
        words: list[Word] = []
        line = self.line
        while True:
            while self.pos < len(line) and line[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos >= len(line):
                return words, False
            if not words and line[self.pos] == "#":
                return words, False
            self.last_start = self.pos
            word = self._word()
            words.append(word)
            if self.pos >= len(line) and line[-1] not in " \t\r\n":
                return words, True

    def _word(self) -> Word:
        line = self.line
        out = bytearray()
        quoted = False
        while self.pos < len(line) and line[self.pos] not in " \t\r\n":
            char = line[self.pos]
            plain = _PLAIN.match(line, self.pos)
            if plain:
                out += plain.group().encode("utf-8", "surrogateescape")
                self.pos = plain.end()
            elif char == "'":
                quoted = True
                out += self._until("'", "'").encode("utf-8", "surrogateescape")
            elif char == '"':
                quoted = True
                out += self._double().encode("utf-8", "surrogateescape")
            elif char == "$" and line.startswith("$'", self.pos):
                quoted = True
                self.pos += 1
                out += self._ansi_c()
            elif char == "\\":
                quoted = True
                self.pos += 1
                if self.pos < len(line):
                    out += line[self.pos].encode("utf-8", "surrogateescape")
                    self.pos += 1
                else:
                    self._fail("a line cannot end with a backslash")
            else:
                out += char.encode("utf-8", "surrogateescape")
                self.pos += 1
        return Word(bytes(out), quoted)

    def _until(self, quote: str, name: str) -> str:
        end = self.line.find(quote, self.pos + 1)
        if end < 0:
            self._fail(unterminated_quote(name))
            text = self.line[self.pos + 1 :]
            self.open_quote = quote
            self.pos = len(self.line)
            return text
        text = self.line[self.pos + 1 : end]
        self.pos = end + 1
        return text

    def _double(self) -> str:
        # Inside "...", a backslash escapes only \ " and $ (as in POSIX sh); else it is literal.
        line = self.line
        self.pos += 1
        out: list[str] = []
        while self.pos < len(line):
            char = line[self.pos]
            plain = _PLAIN_DOUBLE.match(line, self.pos)
            if plain:
                out.append(plain.group())
                self.pos = plain.end()
                continue
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\" and self.pos + 1 < len(line) and line[self.pos + 1] in '\\"$':
                out.append(line[self.pos + 1])
                self.pos += 2
                continue
            out.append(char)
            self.pos += 1
        self._fail(unterminated_quote('"'))
        self.open_quote = '"'
        return "".join(out)

    def _ansi_c(self) -> bytes:
        line = self.line
        self.pos += 1  # the opening quote
        out = bytearray()
        while self.pos < len(line):
            char = line[self.pos]
            plain = _PLAIN_ANSI_C.match(line, self.pos)
            if plain:
                out += plain.group().encode("utf-8", "surrogateescape")
                self.pos = plain.end()
                continue
            if char == "'":
                self.pos += 1
                return bytes(out)
            if char != "\\":
                out += char.encode("utf-8", "surrogateescape")
                self.pos += 1
                continue
            self.pos += 1
            out += self._escape()
        self._fail(unterminated_quote("$'"))
        self.open_quote = "$'"
        return bytes(out)

    def _digits(self, allowed: str, most: int) -> str:
        start = self.pos
        while self.pos < len(self.line) and self.pos - start < most:
            if self.line[self.pos] not in allowed:
                break
            self.pos += 1
        return self.line[start : self.pos]

    def _escape(self) -> bytes:
        if self.pos >= len(self.line):
            self._fail(unterminated_quote("$'"))
            return b""
        char = self.line[self.pos]
        self.pos += 1
        if char in _SIMPLE:
            return bytes([_SIMPLE[char]])
        if char == "x":
            digits = self._digits(_HEX, 2)
            if not digits:
                self._fail("\\x needs one or two hex digits, as in $'\\x00'")
                return b"\\x"
            return bytes([int(digits, 16)])
        if char in "01234567":
            self.pos -= 1
            return bytes([int(self._digits("01234567", 3), 8) & 0xFF])
        if char in "uU":
            digits = self._digits(_HEX, 4 if char == "u" else 8)
            if not digits:
                self._fail(f"\\{char} needs hex digits, as in $'\\u00e9'")
                return b"\\" + char.encode()
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                self._fail(f"\\{char}{digits} is not a Unicode character")
                return b""
            return chr(code).encode("utf-8")
        # Unknown escapes stay as written, as in bash: $'\q' is backslash, q.
        return b"\\" + char.encode("utf-8", "surrogateescape")


def split_line(line: str) -> list[Word]:
    """The words of a complete line; a broken quote or escape raises InputError."""
    words, _ = _Lexer(line, tolerant=False).words()
    return words


def split_partial(text: str) -> Partial:
    """The words before the cursor and the (possibly empty) word being typed. Never raises."""
    lexer = _Lexer(text, tolerant=True)
    words, inside = lexer.words()
    texts = [w.text for w in words]
    if inside:
        return Partial(texts[:-1], texts[-1], lexer.open_quote, text[lexer.last_start :])
    return Partial(texts, "", "", "")
