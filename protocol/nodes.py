"""Several nodes: choose one per call, fail over safely, or fan out to all of them.

Strategies (``STRATEGIES``):

- ``first``: the nodes in the order given; the next one only when a node failed.
- ``round-robin``: each call starts one node further along (per node group, per process).
- ``random``: a random order for each call.
- ``best``: the healthy node chosen least recently -- what uWSGI's removed
  ``cluster_best_node()`` did (docs/protocol.md#server-side).
- ``all``: every node, concurrently (threads); one outcome per node (:meth:`NodeGroup.fan_out`).

Failover is SAFE by default: the next node is tried only when the request was certainly never
sent -- a :class:`ConnectError`, or a :class:`CallTimeout` with ``sent=False`` (the connect timed
out). A function is not retried after the server may have run it, unless ``retry_unsafe``.
A node that failed to connect is remembered as down for ``cooldown`` seconds in this process and
tried after the healthy ones meanwhile.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .address import Address, parse_address
from .errors import (
    CallError,
    CallTimeout,
    ConnectError,
    NoResult,
    RequestError,
    ResponseTooLarge,
    RPCError,
    UsageError,
)
from .limits import check_seconds

if TYPE_CHECKING:
    from .client import Client
    from .reader import PingReader
    from .results import CallResult, PingResult

__all__ = [
    "STRATEGIES",
    "Health",
    "NodeGroup",
    "Outcome",
    "may_retry",
]

STRATEGIES = ("first", "round-robin", "random", "best", "all")
T = TypeVar("T")


class Health:
    """What this process learned about nodes: when each was last chosen, which are down."""

    def __init__(self, *, cooldown: float = 30.0) -> None:
        self.cooldown = check_seconds(cooldown, "cooldown", zero=True)  # 0: remember nothing
        self._lock = threading.Lock()
        self._down_until: dict[str, float] = {}
        self._chosen: dict[str, int] = {}
        self._ticks = 0
        self._rotation: dict[tuple[str, ...], int] = {}

    def is_up(self, node: str) -> bool:
        with self._lock:
            return self._down_until.get(node, 0.0) <= time.monotonic()

    def mark_down(self, node: str) -> None:
        with self._lock:
            self._down_until[node] = time.monotonic() + self.cooldown

    def mark_up(self, node: str) -> None:
        with self._lock:
            self._down_until.pop(node, None)

    def chosen(self, node: str) -> None:
        with self._lock:
            self._ticks += 1
            self._chosen[node] = self._ticks

    def last_chosen(self, node: str) -> int:
        with self._lock:
            return self._chosen.get(node, 0)

    def rank(self, node: str) -> tuple[bool, int]:
        """Where ``best`` puts ``node`` now: healthy before down, then least recently chosen."""
        with self._lock:
            return self._down_until.get(node, 0.0) > time.monotonic(), self._chosen.get(node, 0)

    def rotate(self, group: tuple[str, ...]) -> int:
        """The next turn of round-robin for ``group``: 0, 1, 2, ... up to a full cycle of
        ``len(group) * (len(group) - 1)`` turns (see :meth:`NodeGroup.order`)."""
        with self._lock:
            turn = self._rotation.get(group, 0)
            self._rotation[group] = (turn + 1) % (len(group) * max(len(group) - 1, 1))
            return turn


#: health shared by every group of this process ("health remembered for the process")
HEALTH = Health()


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """One node's part of a fan-out: ``value`` or ``error``, and the seconds it took."""

    node: str
    value: T | None
    error: RPCError | None
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.error is None


def may_retry(error: RPCError, *, retry_unsafe: bool = False) -> bool:
    """True when another node may be tried after ``error``."""
    if isinstance(error, ConnectError):
        return True
    if isinstance(error, CallTimeout) and not error.sent:
        return True
    # NoResult is the node's answer (the function is missing or failed there), not a node fault
    return retry_unsafe and isinstance(error, CallError) and not isinstance(error, NoResult)


class NodeGroup:
    """Nodes and a strategy. ``call(op)`` runs ``op(address)`` on one node, failing over."""

    def __init__(
        self,
        nodes: Sequence[str | Address],
        *,
        strategy: str = "first",
        retry_unsafe: bool = False,
        health: Health | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise UsageError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
        addresses = [n if isinstance(n, Address) else parse_address(n) for n in nodes]
        if not addresses:
            raise UsageError("a node group needs at least one node")
        self.addresses = addresses
        self.strategy = strategy
        self.retry_unsafe = retry_unsafe
        self.health = health if health is not None else HEALTH
        self._rng = rng or random.Random()
        self._key = tuple(str(a) for a in addresses)

    def __repr__(self) -> str:
        return f"NodeGroup({list(self._key)!r}, strategy={self.strategy!r})"

    def order(self) -> list[Address]:
        """The nodes in the order one call tries them: by strategy, healthy ones first."""
        nodes = list(self.addresses)
        if self.strategy == "round-robin":
            # each turn starts one node further; the nodes after the first turn too, every
            # round, so that a node that is down hands its turns to each of the others in turn,
            # not always to the next one (which gave it 8 of 12 calls with the first of three
            # down)
            turn = self.health.rotate(self._key)
            nodes = _turn_rest(nodes[turn % len(nodes) :] + nodes[: turn % len(nodes)], turn)
        elif self.strategy == "random":
            self._rng.shuffle(nodes)
        elif self.strategy == "best":
            nodes.sort(key=lambda a: self.health.last_chosen(str(a)))
            if all(self.health.is_up(str(a)) for a in nodes):
                # no node known down (a burst of calls ordered before any answer): the failover
                # order turns as round-robin's does, so a node that turns out down hands its
                # calls to each of the others, not all to the one chosen after it
                nodes = _turn_rest(nodes, self.health.rotate(self._key))
        up: list[Address] = []
        down: list[Address] = []
        for address in nodes:  # one pass: a group of thousands is not searched per node
            (up if self.health.is_up(str(address)) else down).append(address)
        return up + down

    def call(self, op: Callable[[Address], T]) -> T:
        """Run ``op`` on the first node of :meth:`order`, then the next while a retry is safe."""
        errors: list[RPCError] = []
        order = self.order()
        for index, address in enumerate(order):
            node = str(address)
            self.health.chosen(node)
            try:
                value = op(address)
            except RPCError as exc:
                if self._may_go_on(node, exc, errors):
                    continue
                _say_not_tried(exc, node, [str(a) for a in order[index + 1 :]])
                raise
            self.health.mark_up(node)
            return value
        raise _all_failed(errors)

    async def acall(self, op: Callable[[Address], Awaitable[T]]) -> T:
        """:meth:`call` for a coroutine function ``op`` (asyncio): the same order and failover."""
        errors: list[RPCError] = []
        for address in self.order():
            node = str(address)
            self.health.chosen(node)
            try:
                value = await op(address)
            except RPCError as exc:
                if self._may_go_on(node, exc, errors):
                    continue
                raise
            self.health.mark_up(node)
            return value
        raise _all_failed(errors)

    def _may_go_on(self, node: str, exc: RPCError, errors: list[RPCError]) -> bool:
        """Note a failed attempt; True when the next node may be tried."""
        if isinstance(exc, ConnectError | CallTimeout) and may_retry(exc):
            self.health.mark_down(node)
        errors.append(exc)
        return may_retry(exc, retry_unsafe=self.retry_unsafe)

    def fan_out(self, op: Callable[[Address], T], *, max_workers: int = 32) -> list[Outcome[T]]:
        """Run ``op`` on every node concurrently; outcomes in the order of the nodes."""
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise RequestError(
                f"max_workers= must be a whole number above 0, not {max_workers!r}",
                limit="max_workers",
            )

        def one(address: Address) -> Outcome[T]:
            start = time.monotonic()
            try:
                return self._outcome(address, start, op(address), None)
            except RPCError as exc:
                return self._outcome(address, start, None, exc)

        if len(self.addresses) == 1:
            return [one(self.addresses[0])]
        # here: concurrent.futures (with logging and queue) is most of this module's import
        # time, and only a fan-out to several nodes uses it
        from concurrent.futures import ThreadPoolExecutor

        workers = min(max_workers, len(self.addresses))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fan-out") as pool:
            return list(pool.map(one, self.addresses))

    async def afan_out(self, op: Callable[[Address], Awaitable[T]]) -> list[Outcome[T]]:
        """:meth:`fan_out` for a coroutine function ``op``: every node at once, in one loop."""
        import asyncio  # here: the blocking path of this module never pays for asyncio

        async def one(address: Address) -> Outcome[T]:
            start = time.monotonic()
            try:
                return self._outcome(address, start, await op(address), None)
            except RPCError as exc:
                return self._outcome(address, start, None, exc)

        return list(await asyncio.gather(*(one(address) for address in self.addresses)))

    def fan_out_calls(
        self,
        client_for: Callable[[Address], Client],
        request: bytes,
        *,
        function: str | bytes | None = None,
        limit: int | None = None,
    ) -> list[Outcome[CallResult]]:
        """Send the encoded ``request`` to every node at once, on ONE thread (protocol.fanout):
        what :meth:`fan_out` with ``client.exchange`` gives, without a thread per node. At most
        ``limit`` connections are open at once (``protocol.fanout.default_limit()``). A group
        with a TLS node or a DNS name runs on :meth:`fan_out`'s threads instead."""

        from . import fanout

        def blocking(client: Client) -> CallResult:
            return client.exchange(request, function=function)

        def result(client: Client, reader: Any, timings: tuple[float, float, float]) -> Any:
            from .results import Timings

            return client._result(request, reader, function, Timings(*timings))

        return fanout.for_group(self, client_for, request, blocking, None, result, function, limit)

    def fan_out_pings(
        self,
        client_for: Callable[[Address], Client],
        *,
        limit: int | None = None,
        on_outcome: Callable[[Outcome[PingResult]], None] | None = None,
    ) -> list[Outcome[PingResult]]:
        """uWSGI's ping to every node at once, on one thread (see :meth:`fan_out_calls`).
        ``on_outcome`` gets each outcome as soon as those of the nodes before it are in, so
        that a report can be written in the order of the nodes while the rest still run."""
        from . import fanout
        from .reader import PingReader
        from .results import PingResult, Timings
        from .wire import PING_REQUEST

        def blocking(client: Client) -> PingResult:
            return client.ping()

        def reader(client: Client) -> PingReader:
            return PingReader(node=client.node)

        def result(client: Client, done: Any, timings: tuple[float, float, float]) -> Any:
            return PingResult(client.node, done.feed_eof(), Timings(*timings))

        return fanout.for_group(
            self, client_for, PING_REQUEST, blocking, reader, result, None, limit, on_outcome
        )

    def _outcome(
        self,
        address: Address,
        start: float,
        value: T | None,
        error: RPCError | None,
        elapsed: float | None = None,
    ) -> Outcome[T]:
        """One node's outcome of a fan-out, and what it teaches the group's health."""
        node = str(address)
        if error is None:
            self.health.mark_up(node)
        elif may_retry(error):
            self.health.mark_down(node)
        if elapsed is None:
            elapsed = time.monotonic() - start
        return Outcome(node, value, error, elapsed)


def _turn_rest(nodes: list[Address], turn: int) -> list[Address]:
    """``nodes`` with the ones after the first turned by one every round of ``turn``."""
    rest = nodes[1:]
    shift = (turn // len(nodes)) % max(len(rest), 1)
    return [nodes[0], *rest[shift:], *rest[:shift]]


def _say_not_tried(error: RPCError, node: str, rest: list[str]) -> None:
    """A failure after the request may have run (a read timeout, a broken answer) ends the call
    with nodes left untried; the error says so, and how to try them, instead of leaving it out."""
    if not rest or not may_retry(error, retry_unsafe=True) or isinstance(error, ResponseTooLarge):
        return
    assert isinstance(error, CallError)
    them = "it" if len(rest) == 1 else "them"
    note = (
        f"not tried: {', '.join(rest)}, as the call may have run on {node}; "
        f"retry_unsafe= tries {them}"
    )
    error.hint = f"{error.hint}; {note}" if error.hint else note
    error.args = (f"{error.detail} ({error.hint})",)


def _all_failed(errors: list[RPCError]) -> RPCError:
    last = errors[-1]
    if len(errors) == 1 or not isinstance(last, CallError):
        return last
    summary = "; ".join(str(e) for e in errors)
    message = f"all {len(errors)} nodes failed: {summary}"
    if isinstance(last, CallTimeout):
        return CallTimeout(last.node, message, sent=last.sent)
    return type(last)(last.node, message)
