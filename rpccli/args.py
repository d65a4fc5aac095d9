"""Argument words to bytes: the syntax shared by ``call``, ``batch`` and the shell.

::

    word        the word itself, as UTF-8 (bytes that are not UTF-8 pass through unchanged)
    @PATH       the bytes of the file PATH (``~`` expanded), byte-exact
    @-          all of standard input, byte-exact; at most once per command
    @@TEXT      the literal ``@TEXT`` (the first '@' is removed)

Standard input is read ONLY when ``@-`` asks for it: guessing that it holds data hangs in cron
jobs and ``while read`` loops. A file is read up to one byte past the protocol's item limit, so a
huge file is refused before anything is sent (docs/protocol.md#packets: an item is at most 65535
bytes).
"""

from __future__ import annotations

import os
from typing import BinaryIO

from protocol.failures import shown
from protocol.wire import MAX_ITEM
from rpccli.errors import InputError

__all__ = ["ARGUMENT_HELP", "read_argument", "read_arguments", "unterminated_quote"]

ARGUMENT_HELP = (
    "An ARG is sent as UTF-8 text; @PATH sends the bytes of a file, @- all of stdin "
    "(once per command), @@TEXT the literal @TEXT."
)


def unterminated_quote(quote: str) -> str:
    """The one message for a quote left open, in batch lines and the shell alike (``'``, ``"``
    or ``$'``): ``unterminated " quote``."""
    return f"unterminated {quote} quote"


def _word_bytes(word: str) -> bytes:
    # argv words that were not UTF-8 arrive as surrogate escapes: give back the original bytes
    return word.encode("utf-8", "surrogateescape")


def _at(path_text: str) -> str:
    # a file name is echoed escaped: a control character must not rewrite the error line
    return shown(f"@{path_text}")


def _read_file(path_text: str) -> bytes:
    from pathlib import Path  # only for @PATH: a plain call imports no pathlib

    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ITEM + 1)
    except FileNotFoundError:
        raise InputError(f"cannot read {_at(path_text)}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {_at(path_text)}: it is a directory") from None
    except PermissionError:
        raise InputError(f"cannot read {_at(path_text)}: permission denied") from None
    except OSError as exc:
        raise InputError(
            f"cannot read {_at(path_text)}: {(exc.strerror or str(exc)).lower()}"
        ) from None
    if len(data) > MAX_ITEM:
        raise InputError(
            f"{_at(path_text)} is over {MAX_ITEM} bytes, the most one argument can carry"
        )
    return data


def _read_stdin(stdin: BinaryIO | None) -> bytes:
    if stdin is None:
        raise InputError("@- (standard input) cannot be used here")
    data = stdin.read(MAX_ITEM + 1)
    if len(data) > MAX_ITEM:
        raise InputError(
            f"standard input (@-) is over {MAX_ITEM} bytes, the most one argument can carry"
        )
    return bytes(data)


def read_argument(word: str, *, stdin: BinaryIO | None) -> bytes:
    """The bytes ``word`` stands for (see the module docstring)."""
    if not word.startswith("@"):
        return _word_bytes(word)
    if word.startswith("@@"):
        return _word_bytes(word[1:])
    if word == "@-":
        return _read_stdin(stdin)
    if word == "@":
        raise InputError(
            "'@' needs a file name (@PATH), '-' for stdin (@-), or write @@ for a literal '@'"
        )
    return _read_file(os.fsdecode(_word_bytes(word[1:])))


def read_arguments(words: list[str] | tuple[str, ...], *, stdin: BinaryIO | None) -> list[bytes]:
    """Every word of one command; ``@-`` may appear once (stdin can be read only once)."""
    if sum(1 for word in words if word == "@-") > 1:
        raise InputError("@- (standard input) can be used only once per command")
    args = [read_argument(word, stdin=stdin) for word in words]
    for index, (word, data) in enumerate(zip(words, args, strict=True), 1):
        if not data and word.startswith("@") and not word.startswith("@@"):
            # the wire's own message ("argument 1 is empty") would not say where it came from
            source = "@-, standard input" if word == "@-" else f"{_at(word[1:])}, 0 bytes"
            raise InputError(
                f"argument {index} ({source}) is empty; uWSGI skips or rejects empty arguments"
            )
    return args
