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
  ``event.data``, so the text is the same, inserted once.
"""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import Iterator
from typing import Any

from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyPress
from prompt_toolkit.keys import Keys

__all__ = ["LONG_LINE", "coalesce_typed", "keys_kept", "merge_runs"]

#: past this many characters, the per-keystroke extras (completion, suggestion) are skipped:
#: each reads the whole line, so typing into a long line would cost time quadratic in its length
LONG_LINE = 4096


def _plain(key: KeyPress) -> bool:
    # a printable character, which no binding of the shell's prompt takes apart from self-insert
    return not isinstance(key.key, Keys) and len(key.key) == 1 and key.data == key.key


def merge_runs(keys: list[KeyPress]) -> list[KeyPress]:
    """``keys`` with each run of plain characters as one key press (the text unchanged).

    The first character after any other key stays on its own: it may complete a key sequence
    (Escape then a letter is Meta-letter; Ctrl-V then a character inserts it verbatim).
    """
    out: list[KeyPress] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            text = "".join(run)
            out.append(KeyPress(text[0], text))
            run.clear()

    for key in keys:
        if _plain(key) and out and (run or _plain(out[-1])):
            run.append(key.data)
            continue
        flush()
        out.append(key)
    flush()
    return out


def coalesce_typed(input: Input) -> Input:
    """``input``, whose reads give each run of typed characters as one key press.

    A read also takes what else is already waiting (up to 64 reads of prompt_toolkit's 1 KiB):
    text that arrives faster than it is handled is then inserted, and the line drawn, once per
    batch rather than once per KiB.
    """
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
