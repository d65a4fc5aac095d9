"""One call on a node group: the strategy's order (across one-shot runs for round-robin and
best, rpccli.rotation), safe failover, and ``-v`` lines for each failover."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocol import CallResult
from protocol.errors import RPCError
from rpccli.errors import describe
from rpccli.output import Printer
from rpccli.settings import Settings, attempt_on

if TYPE_CHECKING:
    from protocol import NodeGroup

__all__ = ["call_one"]


def call_one(
    settings: Settings,
    request: bytes,
    function: str,
    retry_unsafe: bool,
    verbose: Printer | None = None,
) -> CallResult:
    attempt = attempt_on(settings, request, function)
    if settings.spec.single:
        return attempt(settings.spec.addresses[0])
    from protocol import NodeGroup

    group = NodeGroup(
        settings.spec.addresses, strategy=settings.strategy, retry_unsafe=retry_unsafe
    )
    if settings.strategy in ("round-robin", "best"):
        # a one-shot call is a new process: where the group's last call left off is in the
        # state dir, so a loop of calls spreads over the nodes
        from rpccli.rotation import starting_order

        order = starting_order(settings.strategy, group.addresses)
        nodes = group.addresses
        group = NodeGroup(order, strategy="first", retry_unsafe=retry_unsafe)
        result = _call_group(group, attempt, settings, retry_unsafe, verbose)
        if result.node != str(order[0]):
            from rpccli.rotation import answered_by

            answered_by(settings.strategy, [str(a) for a in nodes], result.node)
        return result
    return _call_group(group, attempt, settings, retry_unsafe, verbose)


def _call_group(
    group: NodeGroup,
    attempt: Callable[[Any], CallResult],
    settings: Settings,
    retry_unsafe: bool,
    verbose: Printer | None,
) -> CallResult:
    from protocol import may_retry

    if verbose is None:
        return group.call(attempt)
    tried = 0

    def logged(address: Any) -> CallResult:
        # -v shows the failover that is otherwise silent (as curl -v shows each try)
        nonlocal tried
        tried += 1
        try:
            return attempt(address)
        except RPCError as exc:
            left = tried < len(settings.spec.addresses)
            if left and may_retry(exc, retry_unsafe=retry_unsafe):
                verbose.info(f"* {describe(exc)}; trying the next node")
            raise

    return group.call(logged)
