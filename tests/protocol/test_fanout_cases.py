"""The one-thread fan-out engine (protocol.fanout, behind NodeGroup.fan_out_calls and
fan_out_pings) held to EVERY case of test_client_cases.py: the same answers, errors, messages and
deadlines as the blocking Client, each case run as a fan-out to a group of that one node.

The cases are collected here a second time with this module's ``api`` fixture; a case whose node
is a DNS name (``localhost``) runs on the thread pool the engine hands such groups to.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocol import Client, NodeGroup
from protocol.client import CallResult, PingResult
from protocol.fanout import runs_here
from tests.protocol import test_client_cases as cases

# every case of the blocking and asyncio clients, for the fan-out engine too
globals().update({name: value for name, value in vars(cases).items() if name.startswith("test_")})


class FanOut:
    """A call or a ping as a fan-out to a group of one node, on the one-thread engine."""

    name = "fanout"

    def call_full(self, node: str, function: str | bytes, args: Any = (), **kw: Any) -> CallResult:
        call_kw = {k: kw.pop(k) for k in ("mode", "modifier2") if k in kw}
        client = Client(node, **kw)
        assert runs_here(client) or client.address.host == "localhost"  # the engine, not threads
        request, _ = client._prepare(function, args, call_kw.get("mode"), call_kw.get("modifier2"))
        group = NodeGroup([client.address], strategy="all")
        [outcome] = group.fan_out_calls(lambda _: client, request, function=function)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.value is not None
        return outcome.value

    def call(self, node: str, function: str | bytes, *args: str | bytes, **kw: Any) -> bytes:
        return self.call_full(node, function, args, **kw).body

    def ping(self, node: str, **kw: Any) -> PingResult:
        client = Client(node, **kw)
        [outcome] = NodeGroup([client.address], strategy="all").fan_out_pings(lambda _: client)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.value is not None
        return outcome.value


@pytest.fixture
def api() -> FanOut:
    return FanOut()
