"""The settings of one command, without click: the node group, deadlines, cap, mode, output
and TLS of every command that connects, resolved once (``rpccli call`` resolves them without
importing click: docs/design.md#start-up).

Precedence of every setting: command-line option > environment (RPCCLI_TIMEOUT) > the node's
profile > ``[defaults]`` of the config file > built-in default (4 s, like uWSGI's own client).
"""

# no `from __future__ import annotations`, for the NamedTuples (see rpccli.config)

import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from protocol import CallResult, Client
from protocol.wire import DEFAULT_BUFFER_SIZE
from rpccli.config import Config, NodeSpec, load_config
from rpccli.node_words import resolve_nodes

__all__ = [
    "TLS",
    "TLS_META",
    "Settings",
    "attempt_on",
    "buffer_warning",
    "client_for",
    "settings_for",
    "tls_for",
]

#: where the TLS options of the command line wait in the click context (rpccli.options)
TLS_META = "rpccli.tls"


class TLS(NamedTuple):
    """TLS settings of one command: options over the profile's keys (docs/tls.md)."""

    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None
    insecure: bool = False
    tls_max: str | None = None  # "1.2" or "1.3"; None: the highest both sides speak

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
        versions = "TLS 1.2 only" if self.tls_max == "1.2" else "TLS 1.2+"
        parts = [f"{versions}, certificate {verify}"]
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
            cafile=tls.cacert,
            certfile=tls.cert,
            keyfile=tls.key,
            insecure=tls.insecure,
            max_version=tls.tls_max,
        )
    return context


def tls_for(profile: Any) -> TLS:
    # TLS options exist only on a command line click parsed: without click, none were given
    click = sys.modules.get("click")
    ctx = click.get_current_context(silent=True) if click is not None else None
    given: dict[str, Any] = ctx.meta.get(TLS_META, {}) if ctx is not None else {}
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
        sys.stderr.write("rpccli: warning: --insecure: the node's certificate is not verified\n")
        sys.stderr.flush()
    return settings


def attempt_on(settings: Settings, request: bytes, function: str) -> Callable[[Any], CallResult]:
    """One try of an encoded ``request`` on one address, as a node group calls it (with the
    settings' deadlines and cap; read raw unless the request asked for modifier2 0,
    docs/protocol.md#responses)."""

    def attempt(address: Any) -> CallResult:
        client = settings.client(address)
        return client.exchange(request, function=function)

    return attempt
