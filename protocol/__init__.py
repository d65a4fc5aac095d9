"""A standalone client library for uWSGI RPC over the uwsgi protocol (standard library only).

>>> from protocol import Client
>>> Client("127.0.0.1:3031").call("hello", "world")  # doctest: +SKIP
b'Hello, world'

``AsyncClient`` (asyncio) is loaded on first use, so ``import protocol`` never imports asyncio.
"""

from typing import TYPE_CHECKING, Any

from .address import Address, parse_address, parse_addresses
from .client import DEFAULT_TIMEOUT, CallResult, Client, PingResult, SignalResult, Timings
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
from .reader import Response
from .wire import Mode, RequestEncoder, rpc_request

if TYPE_CHECKING:
    from .aio import AsyncClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "Address",
    "AddressError",
    "AsyncClient",
    "CallError",
    "CallResult",
    "CallTimeout",
    "Client",
    "ConnectError",
    "Mode",
    "NoResult",
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
    "parse_address",
    "parse_addresses",
    "rpc_request",
]


def __getattr__(name: str) -> Any:
    # lazy: the blocking call path must not pay for importing asyncio (docs/design.md#architecture)
    if name == "AsyncClient":
        from .aio import AsyncClient

        return AsyncClient
    raise AttributeError(f"module 'protocol' has no attribute {name!r}")
