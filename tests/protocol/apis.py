"""The blocking and asyncio clients behind one calling convention, so tests can run both."""

from __future__ import annotations

from typing import Any

from protocol import Client
from protocol.aio import AsyncClient, run
from protocol.client import CallResult, PingResult


def _split(kw: dict[str, Any]) -> dict[str, Any]:
    """Take the per-call keywords out of ``kw``; what remains goes to the constructor."""
    return {k: kw.pop(k) for k in ("mode", "modifier2") if k in kw}


class Blocking:
    name = "blocking"

    def call_full(self, node: str, function: str | bytes, args: Any = (), **kw: Any) -> CallResult:
        call_kw = _split(kw)
        return Client(node, **kw).call_full(function, args, **call_kw)

    def call(self, node: str, function: str | bytes, *args: str | bytes, **kw: Any) -> bytes:
        return self.call_full(node, function, args, **kw).body

    def ping(self, node: str, **kw: Any) -> PingResult:
        return Client(node, **kw).ping()


class Async(Blocking):
    """Runs each AsyncClient call in a fresh loop: asyncio's own, or uvloop."""

    def __init__(self, use_uvloop: bool = True) -> None:
        self.use_uvloop = use_uvloop
        self.name = "uvloop" if use_uvloop else "asyncio"

    def call_full(self, node: str, function: str | bytes, args: Any = (), **kw: Any) -> CallResult:
        call_kw = _split(kw)
        client = AsyncClient(node, **kw)
        return run(client.call_full(function, args, **call_kw), use_uvloop=self.use_uvloop)

    def ping(self, node: str, **kw: Any) -> PingResult:
        return run(AsyncClient(node, **kw).ping(), use_uvloop=self.use_uvloop)
