r"""The word under bash's cursor, and a name written into it so that bash reads back the name.

bash puts a completion on the line exactly as it is given (COMPREPLY is never quoted by bash),
in place of the text readline takes as the word being completed:

- inside an unclosed quote, everything after the opening quote (``'he`` -> ``he``); readline
  adds the closing quote after a single match;
- otherwise everything after the last unquoted COMP_WORDBREAKS character of the word
  (``127.0.0.1:30`` -> ``30``, as ':' is one) or the whole word.

:func:`read_line` finds that spot and :func:`continuation` writes the rest of a name from there,
escaped for the quote in force, so that Enter sends exactly the name as one word: nothing in it
is expanded, split or globbed. Names never hold control characters or newlines
(rpccli.name_rule), which no quoting could carry through bash's history and readline.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BashLine", "continuation", "read_line"]

#: bash's default COMP_WORDBREAKS
DEFAULT_BREAKS = " \t\n\"'><=;|&(:"
_BLANKS = " \t\n"
#: characters bash reads as themselves anywhere in an unquoted word (more are, by position)
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@+=,%")
#: inside "...", a backslash makes these literal (and is removed)
_DOUBLE_ESCAPED = '$`"\\'


class BashLine(NamedTuple):
    """A command line up to the cursor, as bash completion sees it (a NamedTuple, not a
    dataclass: importing dataclasses would cost each TAB more than reading the line)."""

    #: the finished words, unquoted
    words: list[str]
    #: the word under the cursor, unquoted ("" after a blank)
    incomplete: str
    #: the quote open where readline's text starts: "" (none), "'" or '"'; None when no
    #: completion can be written there (inside $'...', or after a $ or ` bash would expand)
    quote: str | None
    #: the part of ``incomplete`` before readline's text, which a completion keeps
    kept: str


def read_line(line: str, breaks: str = DEFAULT_BREAKS) -> BashLine:
    """Split ``line`` as bash does (quotes, backslashes, ``$'...'``) without failing on a half-typed
    end, and find where readline's text starts in the last word."""
    words: list[str] = []
    value: list[str] = []
    in_word = False
    quote = ""  # "", "'", '"' or "$'"
    expands_at = -1  # where the word's first $ or ` that bash would expand is, if any
    opened_at = broken_at = 0  # lengths of ``value`` where a quote opened / after a break
    i, end = 0, len(line)
    while i < end:
        char = line[i]
        nxt = line[i + 1] if i + 1 < end else ""
        if quote == "'":
            quote, i = ("" if char == "'" else quote), i + 1
            if quote:
                value.append(char)
            continue
        if quote == '"':
            if char == '"':
                quote = ""
            elif char == "\\" and nxt and nxt in _DOUBLE_ESCAPED:
                value.append(nxt)
                i += 1
            elif not (char == "\\" and not nxt):  # a last lone backslash waits for its char
                if char in "$`" and expands_at < 0:
                    expands_at = len(value)
                value.append(char)
            i += 1
            continue
        if quote == "$'":
            if char == "'":
                quote = ""
            elif char == "\\" and nxt:
                value.append(nxt if nxt in "\\'\"" else char + nxt)
                i += 1
            else:
                value.append(char)
            i += 1
            continue
        if char in _BLANKS:
            if in_word:
                words.append("".join(value))
                value, in_word, expands_at = [], False, -1
            i += 1
            continue
        if not in_word:
            in_word, opened_at, broken_at = True, 0, 0
        if char == "\\":
            value.append(nxt)  # "" at the very end: a pending backslash, replaced as typed
            i += 2
        elif char in "'\"":
            quote, opened_at = char, len(value)
            i += 1
        elif char == "$" and nxt and nxt in "'\"":
            quote, opened_at = ("$'" if nxt == "'" else '"'), len(value)
            i += 2
        else:
            if char in "$`" and expands_at < 0:
                expands_at = len(value)
            value.append(char)
            if char in breaks:
                broken_at = len(value)
            i += 1
    incomplete = "".join(value) if in_word else ""
    kept = incomplete[: opened_at if quote else broken_at]
    if quote == "$'" or 0 <= expands_at < len(kept):
        # a completion would continue $'\...', or a $(...) or `...` the user left open before
        # the text readline replaces: bash would not read back what is written there
        return BashLine(words, incomplete, None, "")
    return BashLine(words, incomplete, quote, kept)


def continuation(rest: str, quote: str) -> str:
    """``rest`` written so that bash, reading it inside ``quote`` ("" for none), gets ``rest``."""
    if quote == "'":
        return rest.replace("'", "'\\''")
    if quote == '"':
        # '!' would start a history expansion even inside "...": step out to escape it
        return "".join(
            '"\\!"' if c == "!" else "\\" + c if c in _DOUBLE_ESCAPED else c for c in rest
        )
    return "".join(c if c in _PLAIN or c > "\x7f" else "\\" + c for c in rest)
