"""What a call returns: the result with its request, response and timings (both clients)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .reader import Response

__all__ = ["CallResult", "PingResult", "Timings"]


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

    @property
    def body(self) -> bytes:
        return self.response.body


@dataclass(frozen=True, slots=True)
class PingResult:
    node: str
    warning: str | None
    timings: Timings
