"""What a call, a ping and a signal return: the answer and the timings of the exchange."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from .reader import Response

if TYPE_CHECKING:
    from .tls import TLSInfo

__all__ = ["CallResult", "PingResult", "SignalResult", "Timings"]


class Timings(NamedTuple):
    """Seconds from the start of the call: connected (the request handed over), first response
    byte, done."""

    connect: float
    first_byte: float
    total: float


@dataclass(frozen=True, slots=True)
class CallResult:
    node: str
    request: bytes
    response: Response
    timings: Timings
    tls: TLSInfo | None = None  # over TLS: what the handshake gave (docs/tls.md)

    @property
    def body(self) -> bytes:
        return self.response.body


@dataclass(frozen=True, slots=True)
class PingResult:
    node: str
    warning: str | None
    timings: Timings


@dataclass(frozen=True, slots=True)
class SignalResult:
    """A signal the node queued (docs/protocol.md#other-packets: queued, not yet handled)."""

    node: str
    signal: int
    timings: Timings
