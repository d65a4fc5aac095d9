"""TAB completion inside the shell: function names, meta-commands and their arguments, @files.

The completer reads only memory (the NameIndex snapshot and the registry); the listing arrives
through a background thread (listing.py), so completing never waits on the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from rpccli.name_rule import is_offerable
from rpccli.shell.commands import BARE, PREFIX, REGISTRY, Choice, complete_path, find, unique
from rpccli.shell.keys import LONG_LINE
from rpccli.words import split_partial

if TYPE_CHECKING:
    from rpccli.shell.session import Shell

__all__ = ["ShellCompleter", "quote"]

_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@+=,%~")


def quote(word: str, *, function: bool = False) -> str:
    """``word`` as the shell's parser reads it back (single quotes when needed).

    A ``function`` name typed first on a line is quoted when it starts like a meta-command
    (``.node``): unquoted, Enter would run the meta-command instead of calling the function.
    """
    if word and all(c in _SAFE for c in word) and not (function and word.startswith(PREFIX)):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


class ShellCompleter(Completer):
    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        # the line under the cursor only (a pasted block runs line by line); none past a length,
        # as completion splits the whole line on every keystroke
        text = document.current_line_before_cursor
        if len(text) > LONG_LINE or text.lstrip().startswith("#"):
            return  # a comment
        partial = split_partial(text)
        start = -len(partial.raw_current)
        current = partial.current
        if not partial.words:
            yield from self._first_word(current, start)
            return
        first = partial.words[0]
        meta = find(first)
        if meta is None and first in BARE and first not in self.shell.names:
            meta = REGISTRY[BARE[first]]
        index = len(partial.words) - 1
        if meta is not None and meta.name == "call" and index >= 1:
            meta = None  # `.call FUNCTION ARG...`: the arguments complete like a call's
        if meta is not None:
            yield from self._emit(meta.complete(self.shell, index, current), start)
        elif current.startswith("@") and not current.startswith("@@"):
            paths = complete_path(current[1:])
            yield from self._emit([("@" + p, what) for p, what in paths], start)

    def _first_word(self, current: str, start: int) -> Iterator[Completion]:
        if current.startswith(PREFIX):
            typed = current[len(PREFIX) :]
            metas = [(PREFIX + m.name, m.summary) for m in unique() if m.name.startswith(typed)]
            yield from self._emit(metas, start)
            return
        known = self.shell.names.snapshot()
        prefix = [(n, s) for n, s in known.items() if n.startswith(current)]
        # then names that merely contain what was typed (pgcli-like), after the prefix matches
        inner = [(n, s) for n, s in known.items() if current and current in n[1:]]
        for name, sources in prefix + inner:
            if is_offerable(name):  # the one rule for every name a menu shows (rpccli.name_rule)
                text = quote(name, function=True)
                yield Completion(text, start_position=start, display=name, display_meta=sources)

    @staticmethod
    def _emit(choices: Iterable[Choice], start: int) -> Iterator[Completion]:
        for value, meta in choices:
            yield Completion(quote(value), start_position=start, display=value, display_meta=meta)
