"""A standalone client library for uWSGI RPC over the uwsgi protocol (standard library only).

>>> from protocol import Client
>>> Client("127.0.0.1:3031").call("hello", "world")  # doctest: +SKIP
b'Hello world'
"""

from .address import Address, parse_address, parse_addresses
from .client import DEFAULT_TIMEOUT, CallResult, Client, PingResult, Timings
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
from .wire import Mode, Response, rpc_request

__all__ = [
    "DEFAULT_TIMEOUT",
    "Address",
    "AddressError",
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
    "RequestError",
    "Response",
    "ResponseTooLarge",
    "Timings",
    "UsageError",
    "parse_address",
    "parse_addresses",
    "rpc_request",
]
