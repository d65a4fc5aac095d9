"""What a server connection sees of its server: the narrow :class:`Host` interface, the
:class:`Workers` that run its calls, and :func:`peer_text`, a client's name in the log.

:mod:`protocol.server.connection` depends on this module, never on the server itself; the
server (and the TLS front) provide a :class:`Host` (docs/design.md#architecture).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .functions import FunctionTable
from .log import Event
from .pace import Pace
from .write import Room

if TYPE_CHECKING:
    from .answer import Answer

__all__ = ["Host", "Workers", "peer_text"]


class Workers(Protocol):
    def submit(self, fn: Callable[[Any], None], arg: Any) -> None: ...


class Sleeper(Protocol):
    """The watchdog of the calls the loop runs itself (:mod:`.rescue`): asleep while ``idle``."""

    idle: bool

    def wake(self) -> None: ...


class Host(Protocol):
    """What a connection needs of the server that accepted it, and nothing more: the server
    module imports this one, never the other way round."""

    @property
    def table(self) -> FunctionTable: ...
    @property
    def buffer_size(self) -> int: ...
    @property
    def socket_timeout(self) -> float: ...
    @property
    def read_limit(self) -> int: ...
    @property
    def scratch(self) -> memoryview: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def on_event(self) -> Callable[[Event], None] | None: ...
    @property
    def connections(self) -> set[Answer]: ...
    @property
    def calls(self) -> set[Answer]: ...
    @property
    def calls_lock(self) -> threading.Lock: ...
    @property
    def room(self) -> Room: ...
    @property
    def workers(self) -> Workers | None: ...
    @property
    def pace(self) -> Pace | None: ...

    #: when the loop started the call it runs itself now, and the function (None: none)
    inline: tuple[float, bytes] | None

    @property
    def watchdog(self) -> Sleeper | None: ...

    @property
    def held(self) -> int: ...
    def report(self, event: Event) -> None: ...
    def take_call(self, conn: Answer, log: Callable[[], None] | None = None) -> bool: ...


def peer_text(address: Any, local: str) -> str:
    """A client for the log: ``127.0.0.1:50312``, ``[::1]:50312``, or ``<socket> client``."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{local} client"
