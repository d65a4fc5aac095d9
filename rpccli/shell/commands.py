"""The shell's meta-commands: ONE registry that feeds dispatch, `.help` and completion.

A meta-command starts with a dot (``.node :3031``), as in sqlite3, so it can never be mistaken for
an RPC function: uWSGI matches function names exactly (docs/protocol.md#limits) and a leading dot is
rare. The bare words ``help``, ``exit`` and ``quit`` work too, unless the node has a function of
that name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from protocol.visible import visible
from rpccli.errors import InputError
from rpccli.numbers import SECONDS, BadNumber

if TYPE_CHECKING:
    from rpccli.shell.session import Shell

__all__ = [
    "BARE",
    "PREFIX",
    "REGISTRY",
    "SYNTAX",
    "Choice",
    "MetaCommand",
    "command",
    "complete_path",
    "find",
    "on_off",
    "unique",
]

PREFIX = "."
#: bare words that act as meta-commands unless the node knows a function of that name
BARE = {"help": "help", "?": "help", "exit": "quit", "quit": "quit"}

#: (value, description) pairs offered by completion
Choice = tuple[str, str]
Handler = Callable[["Shell", list[str]], int]
Completer = Callable[["Shell", int, str], list[Choice]]


def _none(shell: Shell, index: int, incomplete: str) -> list[Choice]:
    return []


@dataclass(frozen=True, slots=True)
class MetaCommand:
    """One meta-command. ``handler`` None: the session runs it itself, on the words as bytes
    (``.call``, whose arguments are a call's)."""

    name: str
    summary: str
    handler: Handler | None
    usage: str = ""
    aliases: tuple[str, ...] = ()
    complete: Completer = _none
    details: str = ""
    max_args: int = 1
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", (self.name, *self.aliases))


REGISTRY: dict[str, MetaCommand] = {}


def command(
    name: str,
    summary: str,
    *,
    usage: str = "",
    aliases: tuple[str, ...] = (),
    complete: Completer = _none,
    details: str = "",
    max_args: int = 1,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        meta = MetaCommand(name, summary, handler, usage, aliases, complete, details, max_args)
        for key in meta.names:
            REGISTRY[key] = meta
        return handler

    return register


def find(word: str) -> MetaCommand | None:
    """The meta-command ``word`` names (with its dot), or None."""
    if not word.startswith(PREFIX):
        return None
    return REGISTRY.get(word[len(PREFIX) :])


def unique() -> list[MetaCommand]:
    """Each command once, in registration order."""
    return list({id(m): m for m in REGISTRY.values()}.values())


def on_off(value: str, what: str) -> bool:
    lowered = value.lower()
    if lowered in ("on", "yes", "true", "1"):
        return True
    if lowered in ("off", "no", "false", "0"):
        return False
    raise InputError(f".{what} takes on or off, not {value!r}")


def _choices(*pairs: Choice) -> Completer:
    def complete(shell: Shell, index: int, incomplete: str) -> list[Choice]:
        return [p for p in pairs if index == 0 and p[0].startswith(incomplete)]

    return complete


_ON_OFF = _choices(("on", ""), ("off", ""))


def _complete_nodes(shell: Shell, index: int, incomplete: str) -> list[Choice]:
    return [c for c in shell.node_choices() if index == 0 and c[0].startswith(incomplete)]


def _complete_commands(shell: Shell, index: int, incomplete: str) -> list[Choice]:
    return [(m.name, m.summary) for m in unique() if index == 0 and m.name.startswith(incomplete)]


def _complete_functions(shell: Shell, index: int, incomplete: str) -> list[Choice]:
    if index != 0:
        return []
    return [(n, s) for n, s in shell.names.snapshot().items() if n.startswith(incomplete)]


# -- the commands -----------------------------------------------------------------------------

SYNTAX = """\
Input:  FUNCTION [ARG ...]     call FUNCTION on the node (TAB completes names)
        .COMMAND [ARG]         a meta-command (below)
Words:  'single quotes' are literal, "double quotes" allow \\" \\\\ \\$, a backslash escapes
        one character, and $'...' writes any byte: \\xHH \\ooo \\n \\t \\r \\0 \\e \\\\ \\'
        \\uHHHH (UTF-8). Example: echo $'\\x00\\xff' 'two words'
Args:   @PATH sends a file's bytes, @@TEXT the literal @TEXT (as in rpccli call).
Keys:   TAB completes, Ctrl-R searches history, -> accepts a suggestion, Ctrl-C clears the
        line or cancels a running call, Ctrl-D leaves. A line starting with a space is
        kept out of history. A line starting with # is a comment."""


@command(
    "help",
    "list the meta-commands, or explain one",
    usage="[COMMAND]",
    aliases=("h",),
    complete=_complete_commands,
)
def _help(shell: Shell, args: list[str]) -> int:
    if args:
        meta = REGISTRY.get(args[0].lstrip(PREFIX))
        if meta is None:
            raise InputError(f"no meta-command {args[0]!r}; .help lists them")
        lines = [f"{PREFIX}{meta.name} {meta.usage}".rstrip(), f"    {meta.summary}"]
        if meta.aliases:
            lines.append("    also: " + ", ".join(PREFIX + a for a in meta.aliases))
        if meta.details:
            lines += ["    " + line for line in meta.details.splitlines()]
        shell.say("\n".join(lines))
        return 0
    rows = [(f"{PREFIX}{m.name} {m.usage}".rstrip(), m.summary) for m in unique()]
    width = max(len(left) for left, _ in rows)
    table = "\n".join(f"  {left:<{width}}  {right}" for left, right in rows)
    shell.say(f"{SYNTAX}\n\nMeta-commands:\n{table}")
    return 0


@command("quit", "leave the shell (Ctrl-D does too)", aliases=("exit", "q"), max_args=0)
def _quit(shell: Shell, args: list[str]) -> int:
    from rpccli.shell.session import ShellExit

    raise ShellExit


@command(
    "node",
    "show the node, or switch to another (any node form or a profile)",
    usage="[NODE]",
    aliases=("connect", "use"),
    complete=_complete_nodes,
    details="NODE is HOST:PORT, [IPV6]:PORT, :PORT, a socket path, @NAME, a profile name,\n"
    "or several of these joined by commas.",
)
def _node(shell: Shell, args: list[str]) -> int:
    if args:
        shell.switch(args[0])
        shell.note(f"node is now {shell.node}")
    else:
        spec = shell.spec
        more = f" (profile: {', '.join(spec.addresses)})" if spec.profile else ""
        if not spec.profile and len(spec.addresses) > 1:
            more = f" ({len(spec.addresses)} nodes, strategy {spec.strategy or 'first'})"
        shell.say(f"{shell.node}{more}")
    return 0


@command("nodes", "list the profiles of the config file and the nodes used before", max_args=0)
def _nodes(shell: Shell, args: list[str]) -> int:
    choices = shell.node_choices()
    if not choices:
        shell.say("no profiles (add [nodes.NAME] to the config file) and no nodes used before")
        return 0
    width = max(len(name) for name, _ in choices)
    shell.say("\n".join(f"  {name:<{width}}  {where}" for name, where in choices))
    return 0


@command(
    "functions",
    "list the known function names and where each came from",
    usage="[PREFIX]",
    aliases=("fn", "ls"),
    complete=_complete_functions,
    details="Sources: profile (declared in the config), learned (answered a call here),\n"
    "listing (returned by the node's listing function, rpc_list by default).",
)
def _functions(shell: Shell, args: list[str]) -> int:
    prefix = args[0] if args else ""
    # a name is the node's text: escaped, so that the listing cannot rewrite the terminal
    known = {visible(n): s for n, s in shell.names.snapshot().items() if n.startswith(prefix)}
    lines = []
    if known:
        width = max(len(n) for n in known)
        lines += [f"  {name:<{width}}  {source}" for name, source in known.items()]
    else:
        lines.append("  no names known yet: call a function, or give the node a listing function")
    lines.append(f"listing: {shell.names.status}")
    shell.say("\n".join(lines))
    return 0


@command(
    "refresh",
    "fetch the node's function listing again (in the background)",
    aliases=("rehash",),
    max_args=0,
)
def _refresh(shell: Shell, args: list[str]) -> int:
    thread = shell.names.refresh()
    if not shell.interactive:
        thread.join()  # a script reads on at once: let `.functions` on the next line see it
        shell.note(f"listing: {shell.names.status}")
        return 0
    shell.note(f"fetching {shell.names.list_function} from {shell.node} in the background")
    return 0


@command("ping", "uWSGI ping the node (modifier1 100)", max_args=0)
def _ping(shell: Shell, args: list[str]) -> int:
    from rpccli import exitcodes
    from rpccli.shell import calls

    try:
        outcomes = shell.run_cancellable(
            lambda: calls.ping(shell.settings), f"the ping of {shell.node}"
        )
    except KeyboardInterrupt:
        return shell.cancelled("ping")
    status = 0
    for outcome in outcomes:
        if outcome.error is not None:
            shell.error(outcome.error)
            status = exitcodes.exit_code(outcome.error)
            continue
        assert outcome.value is not None
        ms = outcome.value.timings.total * 1000
        warning = outcome.value.warning
        shell.say(
            f"{outcome.node}: pong in {ms:.2f} ms"
            + (f", warning: {visible(warning)}" if warning else "")
        )
        if warning and not status:
            status = exitcodes.NO_RESULT
    if len(outcomes) > 1 and status and any(o.error is None for o in outcomes):
        status = exitcodes.PARTIAL
    return status


@command("signal", "raise uWSGI signal NUM (0..255) on the node", usage="NUM")
def _signal(shell: Shell, args: list[str]) -> int:
    from rpccli.signals import in_shell

    try:
        return in_shell(shell, args)
    except KeyboardInterrupt:
        return shell.cancelled("signal")


@command(
    "mode",
    "show or set the request mode: packet (framed answer) or raw (until close)",
    usage="[packet|raw]",
    complete=_choices(("packet", "modifier2 0: a framed answer"), ("raw", "modifier2 1")),
)
def _mode(shell: Shell, args: list[str]) -> int:
    if not args:
        shell.say(shell.settings.mode)
        return 0
    if args[0] not in ("packet", "raw"):
        raise InputError(f".mode takes packet or raw, not {args[0]!r}")
    shell.set_option("mode", args[0])
    shell.note(f"mode is now {args[0]}")
    return 0


@command(
    "timeout",
    "show or set the whole-call deadline in seconds",
    usage="[SECONDS]",
    complete=_choices(("1", ""), ("4", "uWSGI's default"), ("30", ""), ("60", "")),
)
def _timeout(shell: Shell, args: list[str]) -> int:
    if not args:
        shell.say(f"{shell.settings.timeout:g}")
        return 0
    try:
        value = SECONDS.check(args[0], ".timeout")  # the rule of `rpccli call --timeout`
    except BadNumber as exc:
        raise InputError(str(exc)) from None
    shell.set_option("timeout", value)
    shell.note(f"timeout is now {value:g} s")
    return 0


def _flag(name: str, shell: Shell, args: list[str]) -> int:
    if not args:
        shell.say("on" if getattr(shell.flags, name) else "off")
        return 0
    value = on_off(args[0], name)
    setattr(shell.flags, name, value)
    shell.note(f"{name} is now {'on' if value else 'off'}")
    return 0


@command(
    "json", "show or set JSON output (one object per call)", usage="[on|off]", complete=_ON_OFF
)
def _json(shell: Shell, args: list[str]) -> int:
    return _flag("json", shell, args)


@command("timing", "show or set timing lines after each call", usage="[on|off]", complete=_ON_OFF)
def _timing(shell: Shell, args: list[str]) -> int:
    return _flag("timing", shell, args)


@command(
    "verbose",
    "show or set the wire view (request and response headers, timings)",
    usage="[on|off]",
    aliases=("v",),
    complete=_ON_OFF,
)
def _verbose(shell: Shell, args: list[str]) -> int:
    return _flag("verbose", shell, args)


_CALL = MetaCommand(
    "call",
    "call a function whose name looks like a meta-command",
    None,
    usage="FUNCTION [ARG ...]",
    complete=_complete_functions,
    max_args=256,
)
REGISTRY[_CALL.name] = _CALL


def complete_path(incomplete: str) -> list[Choice]:
    """File names for ``@PATH`` arguments (``incomplete`` without its '@')."""
    directory, sep, prefix = incomplete.rpartition("/")
    head = directory + sep
    try:
        entries = sorted(os.scandir(os.path.expanduser(head) if head else "."), key=_name)
    except OSError:
        return []
    found: list[Choice] = []
    for entry in entries:
        if not entry.name.startswith(prefix) or (entry.name.startswith(".") and not prefix):
            continue
        is_dir = entry.is_dir()
        found.append((head + entry.name + ("/" if is_dir else ""), "dir" if is_dir else "file"))
        if len(found) >= 200:
            break
    return found


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name
