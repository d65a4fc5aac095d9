"""``rpccli call`` without click, for the command lines a shell script runs in a loop.

Importing click costs a cold ``rpccli call`` about as much as the rest of the call
(docs/design.md#start-up). A plain line -- ``rpccli call [OPTION ...] NODE FUNCTION [ARG ...]``
with only the options of :data:`FLAGS` and :data:`VALUED`, each in its plain form and once --
is read here and runs through the same :func:`rpccli.call.run_call` as the click command, with
the values click would give it. Anything else -- help, completion, another command, another
option or form, a value click would refuse, a word missing -- is not recognised, and
:func:`rpccli.cli.main` hands the line to click unchanged: click's parser stays the one
reference, and this module only ever agrees with it (tests/cli/test_fast_path.py compares both
over a matrix of command lines).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FLAGS", "VALUED", "Declined", "plain_call"]

#: flags the plain path reads: word -> run_call parameter
FLAGS = {
    "--raw": "raw",
    "--json": "json",
    "-v": "verbose",
    "--verbose": "verbose",
    "--retry-unsafe": "retry_unsafe",
}
#: options with a value: word -> run_call parameter (``--long=VALUE`` too)
VALUED = {
    "-t": "timeout",
    "--timeout": "timeout",
    "--connect-timeout": "connect_timeout",
    "-o": "output",
    "--output": "output",
    "-s": "strategy",
    "--strategy": "strategy",
}


class Declined(Exception):
    """Raised before anything is sent: the line is one for click's parser."""


def plain_call(args: Sequence[str]) -> Callable[[], int] | None:
    """The call ``args`` (the words after ``rpccli``) make, if it is a plain one, else None.
    The callable may still raise :class:`Declined` (after reading the config) before it
    sends anything."""
    if not args or args[0] != "call":
        return None
    if "RPCCLI_TRACEBACK" in os.environ or "--traceback" in args:
        return None  # a traceback shows the frames of the path taken: click's, as ever
    if os.environ.get("_RPCCLI_COMPLETE"):
        return None
    words = list(args[1:])
    return lambda: _as_click_would(lambda: _run(words))


def _as_click_would(run: Callable[[], int]) -> int:
    """What click's ``main`` does around a command (non-standalone): Ctrl-C (or EOF) leaves a
    newline on stderr and ends as an abort, and a broken pipe is a quiet exit 1."""
    try:
        return run()
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\n")
        sys.stderr.flush()
        raise KeyboardInterrupt from None  # rpccli.cli.main: "interrupted", as for click's Abort
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        from click.utils import _PacifyFlushWrapper

        sys.stdout = _PacifyFlushWrapper(sys.stdout)
        sys.stderr = _PacifyFlushWrapper(sys.stderr)
        raise SystemExit(1) from None


def _run(words: list[str]) -> int:
    from rpccli.call import _function_is_first, _split_words, run_call
    from rpccli.config import load_config

    values: dict[str, Any] = {}
    positionals: list[str] = []
    needed = 2
    index = 0
    config = None
    while True:
        if index >= len(words):
            raise Declined  # NODE or FUNCTION missing: click's usage error says so
        word = words[index]
        index += 1
        if word.startswith("-"):  # "-", "--" and every option not known here included
            index = _option(word, words, index, values)
            continue
        if config is None:
            # as rpccli.call.command.CallCommand: the config says whether it is NODE or FUNCTION
            config = load_config()
            needed = 1 if _function_is_first(word, False, config) else 2
        positionals.append(word)
        if len(positionals) == needed:
            break
    rest = words[index:]
    if rest and rest[0] == "--":
        rest = rest[1:]  # `FUNCTION -- ARG`: click takes the "--" as the end of options
    node, function, arg_words = _split_words(positionals + rest, False, config, _declined)
    output = values.pop("output", None)
    if values.pop("json", False):
        if output not in (None, "json"):
            raise Declined  # --json and --output: click's usage error
        output = "json"
    return run_call(node, function, arg_words, output=output, interval=0.0, **values)


def _declined(message: str) -> Exception:
    return Declined(message)


def _option(word: str, words: list[str], index: int, values: dict[str, Any]) -> int:
    """Read one option into ``values``; the index of the word after it."""
    name, equals, value = word.partition("=")
    if name in FLAGS and not equals:
        key = FLAGS[name]
        text: str | None = None
    elif name in VALUED:
        key = VALUED[name]
        if equals:
            if not name.startswith("--"):
                raise Declined  # -t=3: click reads "=3"
            text = value
        elif index < len(words):
            text = words[index]
            index += 1
        else:
            raise Declined  # no value: click's error
    else:
        raise Declined
    if key in values:
        raise Declined  # given twice: click keeps the last one; leave that to click
    values[key] = True if text is None else _value(key, text)
    return index


def _value(key: str, text: str) -> Any:
    """``text`` as click converts it for the option, or Declined where click would refuse it."""
    if key in ("timeout", "connect_timeout"):
        from rpccli.number_rules import SECONDS, BadNumber

        try:
            return SECONDS.check(text, f"--{key.replace('_', '-')}")
        except BadNumber:
            raise Declined from None
    if key == "output":
        from rpccli.output import FORMATS

        choices: tuple[str, ...] = FORMATS
    else:
        from protocol import STRATEGIES

        choices = STRATEGIES
    if text not in choices:
        raise Declined
    return text
