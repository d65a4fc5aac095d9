"""A standalone client library for uWSGI RPC over the uwsgi protocol (standard library only).

>>> from protocol import Client
>>> Client("127.0.0.1:3031").call("hello", "world")  # doctest: +SKIP
b'Hello, world'

This package is the public API (docs/library.md#the-public-api): everything an application needs
is importable from ``protocol`` itself. The documented public modules beside it are
``protocol.errors`` (the exception tree), the sans-IO core ``protocol.wire`` (requests to bytes)
and ``protocol.reader`` (bytes to answers), ``protocol.failures`` (the errors' messages, for a
transport of your own), ``protocol.visible`` (untrusted text made safe for a terminal),
``protocol.aio`` (``run``), ``protocol.testing`` and ``protocol.server`` (the bundled server).
Every other module is internal and may change without notice.

``AsyncClient``, ``AsyncGroupClient`` and the node groups are loaded on first use, so
``import protocol`` never imports asyncio or thread pools.
"""

from typing import TYPE_CHECKING, Any

from .address import Address, parse_address, parse_addresses
from .client import DEFAULT_TIMEOUT, Client
from .errors import (
    AddressError,
    CallError,
    CallTimeout,
    ConnectError,
    NoResult,
    ProtocolError,
    RequestError,
    ResponseTooLarge,
    RPCError,
    UsageError,
)
from .limits import MAX_RESPONSE, MAX_TIMEOUT
from .reader import Response
from .results import CallResult, PingResult, SignalResult, Timings
from .wire import DEFAULT_MAX_RESPONSE, Mode, RequestEncoder, rpc_request

if TYPE_CHECKING:
    from .aio import AsyncClient
    from .groups import AsyncGroupClient, GroupClient
    from .nodes import STRATEGIES, Health, NodeGroup, Outcome, may_retry

__all__ = [
    "DEFAULT_MAX_RESPONSE",
    "DEFAULT_TIMEOUT",
    "MAX_RESPONSE",
    "MAX_TIMEOUT",
    "STRATEGIES",
    "Address",
    "AddressError",
    "AsyncClient",
    "AsyncGroupClient",
    "CallError",
    "CallResult",
    "CallTimeout",
    "Client",
    "ConnectError",
    "GroupClient",
    "Health",
    "Mode",
    "NoResult",
    "NodeGroup",
    "Outcome",
    "PingResult",
    "ProtocolError",
    "RPCError",
    "RequestEncoder",
    "RequestError",
    "Response",
    "ResponseTooLarge",
    "SignalResult",
    "Timings",
    "UsageError",
    "may_retry",
    "parse_address",
    "parse_addresses",
    "rpc_request",
]

# lazy: the blocking call path must not pay for asyncio or thread pools
# (docs/design.md#architecture)
_LAZY = {
    "AsyncClient": "aio",
    "AsyncGroupClient": "groups",
    "GroupClient": "groups",
    "STRATEGIES": "nodes",
    "Health": "nodes",
    "NodeGroup": "nodes",
    "Outcome": "nodes",
    "may_retry": "nodes",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'protocol' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
