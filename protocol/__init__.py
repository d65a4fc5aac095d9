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

Every name is loaded from its module on first use: ``import protocol`` imports no module of the
package, and the blocking client never imports asyncio or thread pools.
"""

from typing import TYPE_CHECKING

from .lazy import lazy_names

if TYPE_CHECKING:
    from .address import Address, parse_address, parse_addresses
    from .aio import AsyncClient
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
    from .groups import AsyncGroupClient, GroupClient
    from .limits import MAX_RESPONSE, MAX_TIMEOUT
    from .nodes import STRATEGIES, Health, NodeGroup, Outcome, may_retry
    from .reader import Response
    from .results import CallResult, PingResult, SignalResult, Timings
    from .wire import DEFAULT_MAX_RESPONSE, Mode, RequestEncoder, rpc_request

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

# Every name is imported from its module on first use (PEP 562): the blocking call path must not
# pay for asyncio or thread pools (docs/design.md#architecture), and a program that needs one
# module of the package (``protocol.errors`` for the exception tree, as rpccli's TAB does) must
# not pay for the client, sockets and addresses.
_HOME = {
    "Address": "address",
    "parse_address": "address",
    "parse_addresses": "address",
    "AsyncClient": "aio",
    "DEFAULT_TIMEOUT": "client",
    "Client": "client",
    "AddressError": "errors",
    "CallError": "errors",
    "CallTimeout": "errors",
    "ConnectError": "errors",
    "NoResult": "errors",
    "ProtocolError": "errors",
    "RequestError": "errors",
    "ResponseTooLarge": "errors",
    "RPCError": "errors",
    "UsageError": "errors",
    "AsyncGroupClient": "groups",
    "GroupClient": "groups",
    "MAX_RESPONSE": "limits",
    "MAX_TIMEOUT": "limits",
    "STRATEGIES": "nodes",
    "Health": "nodes",
    "NodeGroup": "nodes",
    "Outcome": "nodes",
    "may_retry": "nodes",
    "Response": "reader",
    "CallResult": "results",
    "PingResult": "results",
    "SignalResult": "results",
    "Timings": "results",
    "DEFAULT_MAX_RESPONSE": "wire",
    "Mode": "wire",
    "RequestEncoder": "wire",
    "rpc_request": "wire",
}


__getattr__, __dir__ = lazy_names(__name__, _HOME, globals())
