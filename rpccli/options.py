"""What the commands share: the connection options, their defaults, and the node group.

Precedence of every setting: command-line option > environment (RPCCLI_TIMEOUT) > the node's
profile > ``[defaults]`` of the config file > built-in default (4 s, like uWSGI's own client).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import click

from protocol import DEFAULT_TIMEOUT, CallResult, Client
from protocol.wire import DEFAULT_BUFFER_SIZE
from rpccli.config import STRATEGIES, Config, NodeSpec, load_config, resolve_nodes
from rpccli.numbers import BUFFER_SIZE, SECONDS, SIZE

__all__ = [
    "Settings",
    "attempt_on",
    "buffer_option",
    "buffer_warning",
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


_TLS_META = "rpccli.tls"


def _store_tls(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value not in (None, False):
        ctx.meta.setdefault(_TLS_META, {})[param.name] = value
    return value


def tls_options(func: F) -> F:
    """--cacert, --cert, --key, --server-name, --insecure (docs/tls.md): for the ``tls:`` nodes
    of any command that connects. The values go to the click context, not the command's
    parameters, so a command takes them with this one decorator and ``settings_for`` finds
    them."""
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
)


class TLS(NamedTuple):
    """TLS settings of one command: options over the profile's keys (docs/tls.md)."""

    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None
    insecure: bool = False

    def context(self) -> Any:
        """The ssl.SSLContext these settings make (one per settings; loaded on first use)."""
        return _context(self)

    def describe(self) -> str:
        """One line for --dry-run/--explain."""
        verify = (
            "NOT verified (--insecure)"
            if self.insecure
            else (
                f"verified against {self.cacert}"
                if self.cacert
                else "verified (system trust store)"
            )
        )
        parts = [f"TLS 1.2+, certificate {verify}"]
        if self.cert:
            parts.append(f"client certificate {self.cert}")
        if self.server_name:
            parts.append(f"server name {self.server_name}")
        return "; ".join(parts)


_CONTEXTS: dict[TLS, Any] = {}


def _context(tls: TLS) -> Any:
    context = _CONTEXTS.get(tls)
    if context is None:
        from protocol.tls import client_context

        context = _CONTEXTS[tls] = client_context(
            cafile=tls.cacert, certfile=tls.cert, keyfile=tls.key, insecure=tls.insecure
        )
    return context


def tls_for(profile: Any) -> TLS:
    ctx = click.get_current_context(silent=True)
    given: dict[str, Any] = ctx.meta.get(_TLS_META, {}) if ctx is not None else {}
    values = {**(profile.tls if profile is not None else {}), **given}
    return TLS(**values)


class Settings(NamedTuple):
    spec: NodeSpec
    timeout: float
    connect_timeout: float
    max_response: int
    mode: str
    strategy: str
    output: str
    #: the server's --buffer-size as the user told it: larger requests get a warning
    buffer_size: int = DEFAULT_BUFFER_SIZE
    tls: TLS = TLS()

    def client(self, address: Any, **kw: Any) -> Client:
        """A client for ``address`` with these deadlines and cap (``kw`` overrides), over TLS
        for a ``tls:`` node."""
        settings = {
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "max_response": self.max_response,
            **kw,
        }
        return client_for(address, self.tls, **settings)


def client_for(address: Any, tls: TLS, **kw: Any) -> Client:
    """A Client; a ``tls:`` node gets ``tls``'s context and server name."""
    text = str(address)
    if text.startswith(("tls:", "suwsgi:")):
        kw.update(ssl_context=tls.context(), server_name=tls.server_name)
    return Client(address, **kw)


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


def buffer_warning(request: bytes, buffer_size: int) -> str | None:
    """The warning for a request over the server's buffer (docs/protocol.md#buffer-size)."""
    body = len(request) - 4
    if body <= buffer_size:
        return None
    if buffer_size == DEFAULT_BUFFER_SIZE:
        return (
            f"the request body is {body} bytes: a uWSGI server with the default --buffer-size "
            f"({DEFAULT_BUFFER_SIZE}) rejects it (--buffer-size N, or buffer_size in the config, "
            "tells rpccli the server's)"
        )
    return f"the request body is {body} bytes: over the server's --buffer-size {buffer_size}"


def settings_for(
    node: str | None,
    *,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    max_response: int | None = None,
    mode: str | None = None,
    strategy: str | None = None,
    output: str | None = None,
    config: Config | None = None,
    buffer_size: int | None = None,
) -> Settings:
    """Resolve the node word and every setting for one command."""
    config = config if config is not None else load_config()
    spec = resolve_nodes(node, config)
    profile = spec.profile
    defaults = config.defaults
    if timeout is None and not os.environ.get("RPCCLI_TIMEOUT", "").strip() and profile:
        timeout = profile.timeout
    timeout = timeout if timeout is not None else defaults.timeout
    if connect_timeout is None:
        connect_timeout = (profile.connect_timeout if profile else None) or defaults.connect_timeout
    settings = Settings(
        spec=spec,
        timeout=timeout,
        connect_timeout=min(connect_timeout, timeout) if connect_timeout else timeout,
        max_response=max_response or defaults.max_response,
        mode=mode or (profile.mode if profile and profile.mode else defaults.mode),
        strategy=strategy or spec.strategy or defaults.strategy,
        output=output or defaults.output,
        buffer_size=buffer_size
        or (profile.buffer_size if profile else None)
        or defaults.buffer_size
        or DEFAULT_BUFFER_SIZE,
        tls=tls_for(profile),
    )
    if settings.tls.insecure and any(a.startswith("tls:") for a in spec.addresses):
        click.echo("rpccli: warning: --insecure: the node's certificate is not verified", err=True)
    return settings


#: what settings_for takes of the options above: each command declares some of them
_SETTINGS_OPTIONS = ("timeout", "connect_timeout", "max_response", "strategy", "buffer_size")


def command_settings(node: str | None, *, config: Config | None = None) -> Settings:
    """``settings_for`` with the running command's --timeout, --connect-timeout, --max-response,
    -s/--strategy and --buffer-size, those of them it declares (as ``tls_for`` finds its TLS
    options)."""
    params = click.get_current_context().params
    given = {name: params[name] for name in _SETTINGS_OPTIONS if name in params}
    return settings_for(node, config=config, **given)


def attempt_on(settings: Settings, request: bytes, function: str) -> Callable[[Any], CallResult]:
    """One try of an encoded ``request`` on one address, as a node group calls it (with the
    settings' deadlines and cap; read raw unless the request asked for modifier2 0,
    docs/protocol.md#responses)."""

    def attempt(address: Any) -> CallResult:
        client = settings.client(address)
        return client.exchange(request, function=function)

    return attempt
