"""Clients for several nodes: one call goes to one node, chosen by a strategy, with failover.

>>> from protocol import GroupClient
>>> client = GroupClient("10.0.0.2:3031,10.0.0.3:3031", strategy="round-robin")
>>> client.call("hello")  # doctest: +SKIP
b'Hello, world'
>>> [o.value for o in client.fan_out("hello")]  # every node at once  # doctest: +SKIP
[b'Hello, world', b'Hello, world']

Strategies and the failover rules are :mod:`protocol.nodes`': the next node is tried only when
the request was certainly never sent, unless ``retry_unsafe=True``. The request is built and
checked once, before any node is tried, so bad input is refused with nothing sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from .address import Address, parse_addresses
from .base import DEFAULT_TIMEOUT, BaseClient
from .client import Client
from .errors import UsageError
from .nodes import Health, NodeGroup, Outcome
from .results import CallResult
from .wire import DEFAULT_MAX_RESPONSE, Mode

if TYPE_CHECKING:
    from .aio import AsyncClient

__all__ = ["AsyncGroupClient", "GroupClient"]

C = TypeVar("C", bound=BaseClient)


class _Group(Generic[C]):
    """Settings, the node group and one client per node (built once, reused by every call)."""

    def __init__(
        self,
        nodes: str | Sequence[str | Address],
        *,
        strategy: str = "first",
        retry_unsafe: bool = False,
        health: Health | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        max_response: int = DEFAULT_MAX_RESPONSE,
        mode: Mode = "packet",
    ) -> None:
        if strategy == "all":
            raise UsageError("strategy='all' calls every node: use fan_out() for that")
        addresses = parse_addresses(nodes) if isinstance(nodes, str) else list(nodes)
        self.group = NodeGroup(
            addresses, strategy=strategy, retry_unsafe=retry_unsafe, health=health
        )
        self.clients: dict[str, C] = {}
        new_client = self._client_type()
        for address in self.group.addresses:
            client = new_client(
                address,
                timeout=timeout,
                connect_timeout=connect_timeout,
                max_response=max_response,
                mode=mode,
            )
            self.clients[client.node] = client
        self._first: C = next(iter(self.clients.values()))

    @classmethod
    def _client_type(cls) -> type[C]:
        """The client for one node (:class:`Client` or :class:`AsyncClient`)."""
        raise NotImplementedError

    @property
    def nodes(self) -> list[str]:
        return list(self.clients)

    @property
    def strategy(self) -> str:
        return self.group.strategy

    def __repr__(self) -> str:
        return f"{type(self).__name__}({','.join(self.clients)!r}, strategy={self.strategy!r})"

    def _request(
        self,
        function: str | bytes,
        args: Sequence[str | bytes],
        mode: Mode | None,
        modifier2: int | None,
    ) -> bytes:
        """The request, checked once for every node (RequestError before anything is sent)."""
        request, _ = self._first._prepare(function, args, mode, modifier2)
        return request

    def close(self) -> None:
        """Close every node's client (each call opens and closes its own connection)."""
        for client in self.clients.values():
            client.close()


class GroupClient(_Group[Client]):
    """A blocking client for a group of nodes: each call goes to one of them (``strategy``:
    first, round-robin, random, best) and fails over while that is safe.

    Thread-safe and fork-safe, like :class:`protocol.Client`.
    """

    @classmethod
    def _client_type(cls) -> type[Client]:
        return Client

    def call(self, function: str | bytes, *args: str | bytes, mode: Mode | None = None) -> bytes:
        """Call ``function(*args)`` on one node and return the result bytes."""
        return self.call_full(function, args, mode=mode).body

    def call_full(
        self,
        function: str | bytes,
        args: Sequence[str | bytes] = (),
        *,
        mode: Mode | None = None,
        modifier2: int | None = None,
    ) -> CallResult:
        """:meth:`call` with the details; ``result.node`` is the node that answered."""
        request = self._request(function, args, mode, modifier2)
        clients = self.clients
        return self.group.call(lambda a: clients[str(a)].exchange(request, function=function))

    def fan_out(
        self,
        function: str | bytes,
        *args: str | bytes,
        mode: Mode | None = None,
        max_workers: int = 32,
    ) -> list[Outcome[bytes]]:
        """Call ``function(*args)`` on every node at once (threads); one :class:`Outcome` per
        node, in the order of the nodes: ``value`` or ``error``."""
        request = self._request(function, args, mode, None)
        clients = self.clients
        return self.group.fan_out(
            lambda a: clients[str(a)].exchange(request, function=function).body,
            max_workers=max_workers,
        )

    def __enter__(self) -> GroupClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGroupClient(_Group["AsyncClient"]):
    """:class:`GroupClient` for asyncio: failover awaits one node after the other, and
    :meth:`fan_out` calls every node at once in the running loop."""

    @classmethod
    def _client_type(cls) -> type[AsyncClient]:
        from .aio import AsyncClient  # here: importing protocol.groups never imports asyncio

        return AsyncClient

    async def call(
        self, function: str | bytes, *args: str | bytes, mode: Mode | None = None
    ) -> bytes:
        """Call ``function(*args)`` on one node and return the result bytes."""
        return (await self.call_full(function, args, mode=mode)).body

    async def call_full(
        self,
        function: str | bytes,
        args: Sequence[str | bytes] = (),
        *,
        mode: Mode | None = None,
        modifier2: int | None = None,
    ) -> CallResult:
        """:meth:`call` with the details; ``result.node`` is the node that answered."""
        request = self._request(function, args, mode, modifier2)
        clients = self.clients
        return await self.group.acall(
            lambda a: clients[str(a)].exchange(request, function=function)
        )

    async def fan_out(
        self, function: str | bytes, *args: str | bytes, mode: Mode | None = None
    ) -> list[Outcome[bytes]]:
        """Call ``function(*args)`` on every node at once; one :class:`Outcome` per node."""
        request = self._request(function, args, mode, None)
        clients = self.clients

        async def one(address: Address) -> bytes:
            return (await clients[str(address)].exchange(request, function=function)).body

        return await self.group.afan_out(one)

    async def __aenter__(self) -> AsyncGroupClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
