"""How the shell sends a call: the same request, node group and settings as ``rpccli call``.

The request is built by protocol.wire.rpc_request (every limit of docs/protocol.md#limits checked
before anything is sent) and the settings come from rpccli.options.settings_for, so the shell and
``call`` agree on precedence, limits and messages. Only the network part runs here: printing stays
on the main thread (session.py), so a call abandoned with Ctrl-C can never write under the prompt.
"""

from __future__ import annotations

import threading
from typing import Any

from protocol import CallResult, Client, NodeGroup, Outcome, PingResult
from protocol.errors import NoResult
from protocol.failures import shown
from protocol.wire import DEFAULT_BUFFER_SIZE
from rpccli.options import Settings

__all__ = ["DemoReasons", "buffer_warning", "call", "modifier2", "ping"]


def modifier2(settings: Settings) -> int:
    return 1 if settings.mode == "raw" else 0


def _client(address: Any, settings: Settings, timeout: float | None = None) -> Client:
    timeout = settings.timeout if timeout is None else timeout
    return settings.client(
        address, timeout=timeout, connect_timeout=min(settings.connect_timeout, timeout)
    )


def _group(settings: Settings) -> NodeGroup:
    strategy = settings.strategy if settings.strategy != "all" else "first"
    return NodeGroup(settings.spec.addresses, strategy=strategy)


def call(
    settings: Settings, request: bytes, function: str, *, timeout: float | None = None
) -> CallResult:
    """Send ``request`` to one node of the spec (failing over only when it was never sent)."""

    def attempt(address: Any) -> CallResult:
        client = _client(address, settings, timeout)
        return client.exchange(request, function=function)

    if settings.spec.single:
        return attempt(settings.spec.addresses[0])
    return _group(settings).call(attempt)


def ping(settings: Settings) -> list[Outcome[PingResult]]:
    nodes = NodeGroup(settings.spec.addresses, strategy="all")
    return nodes.fan_out_pings(lambda address: _client(address, settings))


class DemoReasons:
    """The in-process demo server's log, as far as the shell needs it.

    On the wire every failure is the same 0-byte close (docs/protocol.md#failures) and the usual
    advice is "see the server log"; with the demo server that log is in this process, so the shell
    can say why instead. The server logs a call before it closes the connection, so the reason is
    here by the time the client sees the close.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[bytes, str] | None = None

    def __call__(self, event: Any) -> None:  # the server's on_event, from its threads
        if event.function is not None and not event.sent and event.reason:
            with self._lock:
                self._last = (event.function, event.reason)

    def explain(self, error: NoResult, function: bytes) -> NoResult:
        """``error`` with the server's own reason, when it logged one for ``function``."""
        with self._lock:
            last, self._last = self._last, None
        if last is None or last[0] != function:
            return error
        name = shown(function.decode("utf-8", "surrogateescape"))
        return NoResult(
            error.node,
            f"no result from {error.node}: {name}: {last[1]} (from the demo server's log; "
            "uWSGI sends no error detail)",
        )


def buffer_warning(request: bytes, buffer_size: int = DEFAULT_BUFFER_SIZE) -> str | None:
    """The warning ``rpccli call`` prints for a request over the server's buffer
    (docs/protocol.md#buffer-size)."""
    from rpccli.options import buffer_warning as warning

    return warning(request, buffer_size)
