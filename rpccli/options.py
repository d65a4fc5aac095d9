"""What the commands share: the connection, group, output and TLS options (click).

What the options resolve to -- :class:`Settings`, :func:`settings_for` and the precedence of
every setting -- is in :mod:`rpccli.settings`, without click; the names are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from protocol import DEFAULT_TIMEOUT, STRATEGIES
from rpccli.config import Config
from rpccli.config_values import TLS_VERSIONS
from rpccli.numbers import BUFFER_SIZE, SECONDS, SIZE
from rpccli.settings import (
    TLS,
    TLS_META,
    Settings,
    attempt_on,
    buffer_warning,
    client_for,
    settings_for,
    tls_for,
)

__all__ = [
    "TLS",
    "Settings",
    "attempt_on",
    "buffer_option",
    "buffer_warning",
    "client_for",
    "command_settings",
    "complete_call_function",
    "complete_call_node",
    "complete_file_argument",
    "complete_node_lazily",
    "connection_options",
    "group_options",
    "local_option",
    "output_options",
    "settings_for",
    "timeout_options",
    "tls_for",
    "tls_options",
]

F = TypeVar("F", bound=Callable[..., Any])


def complete_node_lazily(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
    """A NODE argument's TAB completion: rpccli.names is imported only when TAB asks, so that
    it stays off the call path."""
    from rpccli.names import complete_node

    return complete_node(ctx, param, incomplete)


def complete_file_argument(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
    """TAB for an ARG: after ``@``, the files and directories there (``@PATH`` sends a file)."""
    from click.shell_completion import CompletionItem

    if not incomplete.startswith("@") or incomplete.startswith("@@"):
        return []
    partial = incomplete[1:]
    head = partial[: partial.rfind("/") + 1]  # the directory part, with its slash
    prefix = partial[len(head) :]
    try:
        directory = os.path.expanduser(head) or "."
        entries = sorted(
            entry
            for entry in os.listdir(directory)
            if entry.startswith(prefix) and (prefix.startswith(".") or not entry.startswith("."))
        )[:500]
        return [
            CompletionItem(
                f"@{head}{entry}{'/' if os.path.isdir(os.path.join(directory, entry)) else ''}"
            )
            for entry in entries
        ]
    except OSError:
        return []


def complete_call_node(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
    """TAB for call's NODE; with --local (no NODE) the names the function file registers."""
    local_file = ctx.params.get("local_file")
    if not local_file:
        return complete_node_lazily(ctx, param, incomplete)
    # --local takes no NODE: this first word is the FUNCTION, one the file registers
    from click.shell_completion import CompletionItem

    from rpccli.call.local import file_function_names
    from rpccli.name_rule import is_offerable

    return [
        CompletionItem(name, help=local_file)
        for name in file_function_names(local_file)
        if name.startswith(incomplete) and is_offerable(name)
    ]


def complete_call_function(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
    """TAB for call's FUNCTION: the names known for NODE (with --local it is the first ARG)."""
    from rpccli.names import complete_function

    if ctx.params.get("local_file"):
        return complete_file_argument(ctx, param, incomplete)  # the first ARG (no NODE)

    if ctx.params.get("node") == ".":
        ctx.params["node"] = None  # "." is the default node: let names find it
    return complete_function(ctx, param, incomplete)


def local_option(func: F) -> F:
    """--local FILE.py|FILE.lua: call in this process instead of on a node."""
    return click.option(
        "--local",
        "local_file",
        metavar="FILE.py|FILE.lua",
        default=None,
        help="Call in this process from a uWSGI function file, Python or Lua (no NODE).",
    )(func)


def group_options(*, fan_out: bool) -> Callable[[F], F]:
    """-s/--strategy and --retry-unsafe: how a command uses a node group (``all``, the fan-out,
    only where the command has one result per node to show)."""
    choices = STRATEGIES if fan_out else tuple(s for s in STRATEGIES if s != "all")

    def decorate(func: F) -> F:
        func = click.option(
            "--retry-unsafe",
            is_flag=True,
            help="Fail over even when the request may have reached the node.",
        )(func)
        return click.option(
            "-s",
            "--strategy",
            type=click.Choice(choices),
            default=None,
            help="How to use several nodes (default first, or the profile's).",
        )(func)

    return decorate


def output_options(formats: Sequence[str], *, auto: str, json: str) -> Callable[[F], F]:
    """-o/--output and --json (short for -o json); ``auto`` says what -o auto picks."""

    def decorate(func: F) -> F:
        func = click.option("--json", "json_flag", is_flag=True, help=f"{json} (-o json).")(func)
        return click.option(
            "-o", "--output", type=click.Choice(formats), default=None, help=f"auto: {auto}."
        )(func)

    return decorate


def connection_options(func: F) -> F:
    """--timeout, --connect-timeout, --max-response."""
    func = click.option(
        "--max-response",
        type=SIZE,
        default=None,
        help="Refuse answers larger than this (default 64M; units k, M, G).",
    )(func)
    return timeout_options(func)


def timeout_options(func: F) -> F:
    """--timeout, --connect-timeout."""
    func = click.option(
        "--connect-timeout",
        type=SECONDS,
        default=None,
        metavar="SECONDS",
        help="Deadline for connecting (default: the --timeout).",
    )(func)
    func = click.option(
        "-t",
        "--timeout",
        type=SECONDS,
        default=None,
        metavar="SECONDS",
        help=f"Deadline for the whole call (default {DEFAULT_TIMEOUT:g}, uWSGI's own; "
        "RPCCLI_TIMEOUT).",
    )(func)
    return func


def _store_tls(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value not in (None, False):
        ctx.meta.setdefault(TLS_META, {})[param.name] = value
    return value


def tls_options(func: F) -> F:
    """--cacert, --cert, --key, --server-name, --insecure, --tls-max (docs/tls.md): for the
    ``tls:`` nodes of any command that connects. The values go to the click context, not the
    command's parameters, so a command takes them with this one decorator and ``settings_for``
    finds them."""
    for name, kind, text in reversed(_TLS_OPTIONS):
        func = click.option(
            name,
            type=kind,
            is_flag=kind is None,
            default=None if kind is not None else False,
            expose_value=False,
            callback=_store_tls,
            help=text,
        )(func)
    return func


_FILE = click.Path(dir_okay=False)
_TLS_OPTIONS: tuple[tuple[str, Any, str], ...] = (
    ("--cacert", _FILE, "TLS: trust this CA file (default: the system's)."),
    ("--cert", _FILE, "TLS: client certificate file (with its key, or --key)."),
    ("--key", _FILE, "TLS: the client certificate's key file."),
    ("--server-name", str, "TLS: the name sent and checked (default: the host)."),
    ("--insecure", None, "TLS: do not verify the node's certificate (warns)."),
    (
        "--tls-max",
        click.Choice(TLS_VERSIONS),
        "TLS: the highest version to offer; 1.2 resumes sessions at less cost (docs/tls.md).",
    ),
)


def buffer_option(func: F) -> F:
    """--buffer-size N: the server's own, so that requests it takes get no warning."""
    return click.option(
        "--buffer-size",
        type=BUFFER_SIZE,
        default=None,
        metavar="N",
        help="The server's --buffer-size (default 4096, uWSGI's; or buffer_size in the config): "
        "larger requests get a warning.",
    )(func)


#: what settings_for takes of the options above: each command declares some of them
_SETTINGS_OPTIONS = ("timeout", "connect_timeout", "max_response", "strategy", "buffer_size")


def command_settings(node: str | None, *, config: Config | None = None) -> Settings:
    """``settings_for`` with the running command's --timeout, --connect-timeout, --max-response,
    -s/--strategy and --buffer-size, those of them it declares (as ``tls_for`` finds its TLS
    options)."""
    params = click.get_current_context().params
    given = {name: params[name] for name in _SETTINGS_OPTIONS if name in params}
    return settings_for(node, config=config, **given)
