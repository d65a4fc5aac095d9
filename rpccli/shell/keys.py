"""Keys between the terminal and the prompt: none lost between prompts, long input in one step.

Two things prompt_toolkit leaves to its caller:

- between two prompts (while a call runs and its answer prints) the terminal went back to cooked
  mode, where the line discipline edits and echoes what is typed: a Ctrl-D typed then became an
  end-of-file for nobody and was lost. :func:`keys_kept` keeps the terminal as the prompt leaves
  it -- no line editing, no echo -- for the whole session, so every byte typed waits in the
  kernel, unchanged, for the next prompt; only Ctrl-C (and Ctrl-\\) stay signals, so Ctrl-C still
  cancels a call;
- prompt_toolkit handles each typed character as one key press (bindings, a new buffer text,
  the completer), so text that arrives in one read -- a paste without bracketed paste, tmux
  send-keys -- cost time quadratic in its length. :func:`coalesce_typed` makes a run of plain
  characters one key press whose data is the whole run; the "self-insert" binding inserts
  ``event.data``, so the text is the same, inserted once. Its VT100 parser, a Python step per
  character, also takes a run of plain text in one step whenever it holds no partial escape
  sequence (:func:`_fast_text`).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
from collections.abc import Callable, Iterator
from typing import Any

from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyPress
from prompt_toolkit.keys import Keys

__all__ = ["LONG_LINE", "coalesce_typed", "keys_kept", "merge_runs"]

#: past this many characters, the per-keystroke extras (completion, suggestion) are skipped:
#: each reads the whole line, so typing into a long line would cost time quadratic in its length
LONG_LINE = 4096


#: two or more characters the VT100 parser would give one by one as themselves
_TEXT = re.compile(r"[^\x00-\x1f\x7f-\x9f]{2,}")


def _plain(key: KeyPress) -> bool:
    # printable text (one character, or a run of them from _fast_text), which no binding of the
    # shell's prompt takes apart from self-insert
    return not isinstance(key.key, Keys) and len(key.key) == 1 and key.data[:1] == key.key


def merge_runs(keys: list[KeyPress]) -> list[KeyPress]:
    """``keys`` with each run of plain characters as one key press (the text unchanged).

    The first character after any other key (or first in the list) stays on its own: it may
    complete a key sequence (Escape then a letter is Meta-letter; Ctrl-V then a character
    inserts it verbatim).
    """
    out: list[KeyPress] = []
    run: list[str] = []

    def flush() -> None:
        text = "".join(run)
        if text:
            out.append(KeyPress(text[0], text))
        run.clear()

    for key in keys:
        if not _plain(key):
            flush()
            out.append(key)
            continue
        text = key.data
        if not run and not (out and _plain(out[-1])):
            out.append(KeyPress(text[0], text[0]))
            text = text[1:]
        run.append(text)
    flush()
    return out


def coalesce_typed(input: Input) -> Input:
    """``input``, whose reads give each run of typed characters as one key press.

    A read also takes what else is already waiting (up to 64 reads of prompt_toolkit's 1 KiB):
    text that arrives faster than it is handled is then inserted, and the line drawn, once per
    batch rather than once per KiB.
    """
    parser = getattr(input, "vt100_parser", None)
    if parser is not None:
        _fast_text(parser)
    read_keys = input.read_keys
    try:
        fd: int | None = input.fileno()
    except (OSError, NotImplementedError):
        fd = None

    def read_merged() -> list[KeyPress]:
        keys = read_keys()
        for _ in range(63):
            if fd is None or not keys or not _waiting(fd):
                break
            more = read_keys()
            if not more:
                break
            keys += more
        return merge_runs(keys)

    input.read_keys = read_merged  # type: ignore[method-assign]
    return input


def _fast_text(parser: Any) -> None:
    """Let prompt_toolkit's Vt100Parser take a run of plain text in one step when it is idle.

    Idle means no partial escape sequence is held: every character sent into the parser's state
    machine has come out in a key press (each key press carries the characters it consumed, the
    marks of a bracketed paste excepted: the paste's end leaves the parser idle). Text that the
    parser would give one character at a time as itself then becomes one key press. Anything
    unexpected keeps the parser as it is.
    """
    if not all(hasattr(parser, a) for a in ("feed", "feed_key_callback", "_in_bracketed_paste")):
        return
    feed: Callable[[str], None] = parser.feed
    deliver: Callable[[KeyPress], None] = parser.feed_key_callback
    count = {"sent": 0, "out": 0}

    def counted(key: KeyPress) -> None:
        if key.key == Keys.BracketedPaste:
            count["out"] = count["sent"]
        else:
            count["out"] += len(key.data)
        deliver(key)

    def feed_fast(data: str) -> None:
        at = 0
        while at < len(data):
            if parser._in_bracketed_paste:
                feed(data[at:])  # the parser takes a paste whole; its end calls feed() again
                return
            text = _TEXT.match(data, at) if count["sent"] == count["out"] else None
            if text is not None:
                deliver(KeyPress(data[at], text.group()))
                at = text.end()
                continue
            count["sent"] += 1
            feed(data[at])
            at += 1

    parser.feed_key_callback = counted
    parser.feed = feed_fast


@contextlib.contextmanager
def keys_kept(input: Input) -> Iterator[bool]:
    """Keep the terminal of ``input`` raw except for signals until the end; yields whether it
    could (not when the input is no terminal).

    prompt_toolkit's own raw mode, entered and left around each prompt, restores this state after
    every prompt instead of cooked mode. Ctrl-Z is made an ordinary byte here: a stop signal
    during a call would leave the user's shell with a terminal that does not echo; at the next
    prompt the same byte suspends the shell properly.
    """
    import termios

    try:
        fd = input.fileno()
        before = termios.tcgetattr(fd)
    except (termios.error, OSError, NotImplementedError):
        yield False
        return
    attrs: list[Any] = [*before[:6], list(before[6])]
    attrs[0] &= ~(termios.IXON | termios.IXOFF | termios.ICRNL | termios.INLCR | termios.IGNCR)
    attrs[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN)
    attrs[3] |= termios.ISIG
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    attrs[6][termios.VSUSP] = _disabled(fd)
    try:
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except (termios.error, OSError):
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, before)


def _waiting(fd: int) -> bool:
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def _disabled(fd: int) -> bytes:
    try:
        value = os.fpathconf(fd, "PC_VDISABLE")
    except (OSError, ValueError):
        value = 0
    return bytes([value & 0xFF])
