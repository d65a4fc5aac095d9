"""Text from a peer, made safe to show on a terminal.

A node's answer, its function names, a ping warning, a client's function name in the server's
log: all of it is text someone else chose. Written raw to a terminal, ``ESC ] 0 ; ... BEL`` sets
the window title, ``ESC [ 2 J`` clears the screen, a backspace or a carriage return lets later
text overwrite earlier text, U+009B is a one-character CSI on terminals that honour C1 controls,
and a bidi override (U+202E) makes ``exe.txt`` read as ``txt.exe``. :func:`visible` shows every
such character as a visible escape instead:

- C0 controls and DEL as ``\\x1b``, ``\\x7f`` -- except the characters named in ``keep``
  (multi-line text keeps ``\\n`` and ``\\t``, which only move the cursor forward; a CR is
  always escaped, as it would let the rest of the line overwrite what came before it);
- C1 controls (U+0080-U+009F) as ``\\u009b``, bidi embeddings, overrides, isolates and marks
  (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) as ``\\u202e``, and every other
  invisible format character (Unicode category Cf: zero-width space, word joiner, BOM, soft
  hyphen, tag characters, ...) and the line and paragraph separators the same way;
- a byte that was not UTF-8 (decoded with ``surrogateescape``) as ``\\xff``, the byte itself.

Zero-width joiner and non-joiner (U+200D, U+200C) stay: emoji sequences and several scripts need
them, and they join glyphs without moving the cursor or reordering text.

With ``reversible`` (the default) the escape is unambiguous: a backslash that would read as the
start of an escape is doubled, so distinct texts give distinct results and ``\\x1b`` on the
screen is always the ESC character, never the four characters the node sent. Other backslashes
stay as they are, so a path like ``C:\\data`` reads as sent. ``reversible=False`` only escapes
the characters: for a message whose parts were escaped already, it changes nothing twice.

:func:`json_visible` is the same for JSON text: the characters become JSON's own ``\\uXXXX``
escapes, so the result is still valid JSON that decodes to the same data.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

__all__ = ["counted", "json_visible", "visible", "visible_parts"]

#: the invisible and cursor-moving characters, apart from C0 (which depends on ``keep``)
_OTHERS = (
    "\x7f-\x9f"  # DEL, C1 controls
    "\xad"  # soft hyphen
    "\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b\u200e\u200f"  # zero-width space, LRM, RLM (not ZWNJ U+200C, ZWJ U+200D)
    "\u2028-\u202e"  # line and paragraph separators, bidi embeddings and overrides
    "\u2060-\u2064\u2066-\u206f"  # word joiner, invisible operators, bidi isolates, ...
    "\ud800-\udfff"  # surrogates: a byte that was not UTF-8, or a broken pair
    "\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"  # language tags
)


@functools.lru_cache(maxsize=8)
def _unsafe(keep: str) -> str:
    """A regex character class of what is escaped: C0 except ``keep``, and the others."""
    c0 = "".join(f"\\x{c:02x}" for c in range(0x20) if chr(c) not in keep)
    return f"[{c0}{_OTHERS}]"


@functools.lru_cache(maxsize=8)
def _pattern(keep: str, reversible: bool) -> re.Pattern[str]:
    unsafe = _unsafe(keep)
    if not reversible:
        return re.compile(unsafe)
    # a backslash that a reader would take for the start of an escape: before another
    # backslash, before a character that becomes an escape, or before x/u/U and hex digits
    ambiguous = rf"\\(?=\\|{unsafe}|x[0-9a-fA-F]{{2}}|u[0-9a-fA-F]{{4}}|U[0-9a-fA-F]{{8}})"
    return re.compile(f"{ambiguous}|{unsafe}")


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\\":
        return "\\\\"
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # surrogateescape: the byte that was not UTF-8
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible_parts(
    text: str, *, keep: str = "", reversible: bool = True
) -> Iterator[tuple[str, bool]]:
    """``text`` in pieces: ``(piece, True)`` for an escape, ``(piece, False)`` for text as is
    (to show the escapes in their own style). Joined, the pieces are :func:`visible`."""
    pos = 0
    for match in _pattern(keep, reversible).finditer(text):
        if match.start() > pos:
            yield text[pos : match.start()], False
        yield _escape(match.group()), True
        pos = match.end()
    if pos < len(text):
        yield text[pos:], False


def visible(text: str, *, keep: str = "", reversible: bool = True) -> str:
    """``text`` with every control, bidi and invisible format character shown as an escape
    (``\\x1b``, ``\\u202e``); ``keep`` names C0 characters left as they are (``"\\n\\t"``)."""
    pattern = _pattern(keep, reversible)
    if pattern.search(text) is None:
        return text  # the common case: nothing to escape, no copy
    return pattern.sub(lambda m: _escape(m.group()), text)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # JSON writes a character beyond the BMP as its surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_visible(text: str) -> str:
    """JSON ``text`` (as ``json.dumps`` writes it) with the characters :func:`visible` escapes
    written as JSON ``\\uXXXX`` escapes: the same data, nothing raw for a terminal to obey.
    Tab, LF and CR stay: outside a string they are JSON's whitespace, and ``json.dumps``
    never leaves them raw inside one."""
    pattern = _pattern("\t\n\r", False)
    if pattern.search(text) is None:
        return text
    return pattern.sub(_json_escape, text)


def counted(number: int, noun: str) -> str:
    """``1 byte``, ``2 bytes``: a count and its noun, singular for one."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
