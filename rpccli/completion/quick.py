"""TAB's common answers without click: the function names after ``call NODE`` and the nodes
after ``call``, ``shell``, ``signal``, ``functions`` and ``ls``, read from the same local files
by the same functions (rpccli.names), written the same way, byte for byte, as click's path
(rpccli.completion.command; a test compares both over a matrix of command lines, hostile names
included). Every other line returns None and click answers it, so click's parser stays the
reference (docs/completion.md#how-fast).

A TAB process that imports click and the command's wiring costs about twice the CPU of one that
does not; a user presses TAB often, and each waits for it.
"""

from __future__ import annotations

import os

from rpccli.completion.bash_words import DEFAULT_BREAKS, BashLine, continuation, read_line
from rpccli.name_rule import carries

__all__ = ["answer", "bash_format", "sendable", "split_arg_string", "zsh_format"]


def answer(instruction: str) -> str | None:
    """The text click would write for ``_RPCCLI_COMPLETE=instruction`` (without its final
    newline), or None when this line is one for click."""
    shell, _, action = instruction.partition("_")
    if action != "complete" or shell not in ("bash", "zsh", "fish"):
        return None
    try:
        line: BashLine | None = None
        if shell == "bash":
            breaks = os.environ.get("COMP_WORDBREAKS", DEFAULT_BREAKS)
            line = read_line(os.environ.get("COMP_LINE", ""), breaks)
            args, incomplete = line.words[1:], line.incomplete
        elif shell == "zsh":
            args, incomplete = _zsh_args()
        else:
            args, incomplete = _fish_args()
    except Exception:
        return None  # a line click reads its own way (or fails on): click answers it
    choices = _choices(args, incomplete)
    if choices is None:
        return None
    if shell == "bash":
        return "\n".join(filter(None, (bash_format(line, "plain", v) for v, _ in choices)))
    sent = [(value, help) for value, help in choices if sendable(value, help)]
    if shell == "zsh":
        return "\n".join(zsh_format("plain", value, help) for value, help in sent)
    return "\n".join(_fish_format("plain", value, help) for value, help in sent)


#: the commands whose first argument is NODE, completed by rpccli.names.complete_node
NODE_FIRST = frozenset({"call", "shell", "signal", "functions", "ls"})


def _choices(args: list[str], incomplete: str) -> list[tuple[str, str]] | None:
    """(value, help) for ``rpccli COMMAND <TAB>`` (NODE) and ``rpccli call NODE <TAB>``; None
    otherwise. An option, ``--`` or ``=`` anywhere is click's: its parser decides what they
    mean."""
    if incomplete.startswith("-") or incomplete == "=":
        return None
    if not args or args[0] not in NODE_FIRST or len(args) > (2 if args[0] == "call" else 1):
        return None
    if any(arg.startswith("-") for arg in args):
        return None
    from rpccli import names

    if len(args) == 1:
        return names.node_choices(incomplete)
    return names.function_choices(args[1], incomplete)


def split_arg_string(string: str) -> list[str]:
    """Split like shlex.split without failing on a half-typed end (click's own function,
    click.shell_completion.split_arg_string, which zsh's and fish's answers read the line with)."""
    import shlex

    lex = shlex.shlex(string, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    out: list[str] = []
    try:
        out.extend(lex)
    except ValueError:
        out.append(lex.token)  # the partial token as it is
    return out


def _zsh_args() -> tuple[list[str], str]:
    # click's ZshComplete.get_completion_args
    cwords = split_arg_string(os.environ["COMP_WORDS"])
    cword = int(os.environ["COMP_CWORD"])
    args = cwords[1:cword]
    incomplete = cwords[cword] if cword < len(cwords) else ""
    return args, incomplete


def _fish_args() -> tuple[list[str], str]:
    # click's FishComplete.get_completion_args
    cwords = split_arg_string(os.environ["COMP_WORDS"])
    incomplete = os.environ["COMP_CWORD"]
    if incomplete:
        incomplete = split_arg_string(incomplete)[0]
    args = cwords[1:]
    if incomplete and args and args[-1] == incomplete:
        args.pop()
    return args, incomplete


def bash_format(line: BashLine | None, kind: str, value: str) -> str:
    """One answer line for bash ("" for none): the value written from readline's text on, for the
    quote in force (rpccli.completion.bash_words), so that bash reads back exactly the value."""
    if kind != "plain":
        return f"{kind},{value}" if carries(value) else f"{kind},"
    quote, kept = (line.quote, line.kept) if line is not None else ("", "")
    if line is not None and line.incomplete.startswith("-") and "=" in line.incomplete:
        # --opt=VALUE: click completes the part after '=', readline replaced from the word
        value = line.incomplete[: line.incomplete.index("=") + 1] + value
    if quote is None or not value.startswith(kept) or not carries(value):
        return ""  # nothing rpccli can write there so that bash reads back this value
    return f"plain,{continuation(value[len(kept) :], quote)}"


def zsh_format(kind: str, value: str, help: str | None) -> str:
    """One answer for zsh, three lines: type, value, help ("_": none)."""
    if help:
        # _describe reads "VALUE:HELP" and takes a backslash as escaping the next character
        # (click escapes only the ':'): keep both literal
        value = value.replace("\\", "\\\\").replace(":", "\\:")
        return f"{kind}\n{value}\n{help}"
    return f"{kind}\n{value}\n_"


def _fish_format(kind: str, value: str, help: str | None) -> str:
    # click's FishComplete.format_completion (a test compares this path with click's own)
    if help:
        return f"{kind},{value}\t{help.replace(chr(10), chr(92) + 'n').replace(chr(9), ' ')}"
    return f"{kind},{value}"


def sendable(value: str, help: str | None) -> bool:
    """Whether zsh or fish may get this answer: one answer is one line (zsh: three), so a value
    or help with a control or newline in it would forge others, or draw on the terminal."""
    return carries(value) and carries(help or "")
