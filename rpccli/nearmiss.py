"""The node a word that is none was likely meant to be, for "did you mean ...?" hints.

With a default node, ``rpccli call WORD ...`` sends WORD as a function name when it is no node;
a word that is one typo from a profile, names a socket file here, or is a host without its port
is more likely a node gone wrong, and gets the hint a missing node gets
(docs/call.md#calling-functions-rpccli-call). Standard library only: the call path imports it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Collection

__all__ = ["near_node"]

#: what a profile name cannot hold (rpccli.config): a word with these is some other node form
_NOT_A_NAME = re.compile(r"[\s:/,@\[\]]")


def near_node(word: str, profiles: Collection[str]) -> str | None:
    """The node ``word`` was likely meant to be, though it is none: a profile one typo away
    (``gpr`` for ``grp``), a socket file in this directory (``u.sock``), or a host without its
    port (``127.0.0.1``). None for anything else, such as a function name."""
    if word in profiles or _NOT_A_NAME.search(word):
        return None
    close = [name for name in sorted(profiles) if _one_typo(word, name)]
    if close:
        return close[0]
    try:
        if stat.S_ISSOCK(os.stat(word).st_mode):
            return f"./{word}"
    except (OSError, ValueError):
        pass
    if word == "localhost" or word.startswith("127."):
        return f"{word}:PORT (or :PORT)"
    try:
        ipaddress.ip_address(word)
    except ValueError:
        return None
    return f"{word}:PORT"


def _one_typo(word: str, name: str) -> bool:
    """One letter wrong, missing, extra, or two swapped (for names of 3 letters and more)."""
    if min(len(word), len(name)) < 3 or abs(len(word) - len(name)) > 1 or word == name:
        return False
    if len(word) == len(name):
        diff = [i for i, (a, b) in enumerate(zip(word, name, strict=True)) if a != b]
        if len(diff) == 1:
            return True
        i, j = [*diff, 0, 0][:2]
        return len(diff) == 2 and j == i + 1 and word[i] == name[j] and word[j] == name[i]
    short, long = (word, name) if len(word) < len(name) else (name, word)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
