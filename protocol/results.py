"""What a call, a ping and a signal return: the answer and the timings of the exchange."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .reader import Response
from .record import Record

if TYPE_CHECKING:
    from .tls import TLSInfo

__all__ = ["CallResult", "PingResult", "SignalResult", "Timings"]


# the functional form, for the reason given at protocol.wire.Header
Timings = NamedTuple(  # noqa: UP014
    "Timings", [("connect", float), ("first_byte", float), ("total", float)]
)
Timings.__doc__ = """Seconds from the start of the call: connected (the request handed over), first
response byte, done."""


class CallResult(Record):
    """What a call returned: the node that answered, the request sent, the answer, the timings,
    and over TLS what the handshake gave (docs/tls.md)."""

    __match_args__ = ("node", "request", "response", "timings", "tls")
    __slots__ = __match_args__
    node: str
    request: bytes
    response: Response
    timings: Timings
    tls: TLSInfo | None

    def __init__(
        self,
        node: str,
        request: bytes,
        response: Response,
        timings: Timings,
        tls: TLSInfo | None = None,
    ) -> None:
        init = object.__setattr__
        init(self, "node", node)
        init(self, "request", request)
        init(self, "response", response)
        init(self, "timings", timings)
        init(self, "tls", tls)

    @property
    def body(self) -> bytes:
        return self.response.body


class PingResult(Record):
    """What a ping returned: the node, its warning message (None: none) and the timings."""

    __match_args__ = ("node", "warning", "timings")
    __slots__ = __match_args__
    node: str
    warning: str | None
    timings: Timings

    def __init__(self, node: str, warning: str | None, timings: Timings) -> None:
        init = object.__setattr__
        init(self, "node", node)
        init(self, "warning", warning)
        init(self, "timings", timings)


class SignalResult(Record):
    """A signal the node queued (docs/protocol.md#other-packets: queued, not yet handled)."""

    __match_args__ = ("node", "signal", "timings")
    __slots__ = __match_args__
    node: str
    signal: int
    timings: Timings

    def __init__(self, node: str, signal: int, timings: Timings) -> None:
        init = object.__setattr__
        init(self, "node", node)
        init(self, "signal", signal)
        init(self, "timings", timings)
