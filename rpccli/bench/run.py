"""One process's share of a bench run, on the batch engine's epoll loop (rpccli.batch.engine).

Closed loop: ``concurrency`` calls in flight; each answer starts the next call. Open loop
(``rate``): call k is due at ``first + k / rate`` whatever happened before it; a due call waits
for a free slot when ``concurrency`` are in flight, and its latency is measured from when it was
DUE, not from when it could start -- so a stall of the server shows in the percentiles instead
of silently lowering the rate (no coordinated omission, as wrk2). Due times follow from k, so a
backlog costs no memory.

Every call started is counted exactly once (rpccli.bench.tally); calls that began during the
warm-up are not counted at all. A :class:`Tally` of what was counted goes to ``tick`` every
second and at the end (deltas: the receiver adds them up).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from protocol import Client, Health
from rpccli.batch.calls import Call
from rpccli.batch.engine import Loop
from rpccli.batch.stop import Stop
from rpccli.bench.tally import NodeTally, Tally
from rpccli.errors import describe

__all__ = ["Plan", "run_share"]

_NO_ARGS: list[bytes] = []  # a bench call's record has no input line (never written)
Tick = Callable[[int, Tally], None]  # (second since the measuring began, the delta)


@dataclass
class Plan:
    """What to run; one lane's share comes from :meth:`share`."""

    nodes: Callable[[], tuple[list[Client], Health | None, bool]]  # the next call's clients
    requests: Sequence[bytes]  # cycled through, one per call
    function: str
    concurrency: int
    count: int | None = None  # calls to measure (None: for ``duration``)
    duration: float | None = None
    warmup: float = 0.0
    rate: float | None = None  # open loop: calls per second
    retry_unsafe: bool = False
    per_node: bool = False
    offset: float = 0.0  # open loop: this lane's first due time after the start

    def share(self, lane: int, lanes: int) -> Plan:
        """This lane's part: its share of -c, -n and -R, and its place in the arrivals."""
        count = None if self.count is None else self.count // lanes + (lane < self.count % lanes)
        concurrency = self.concurrency // lanes + (lane < self.concurrency % lanes)
        rate = None if self.rate is None else self.rate / lanes
        offset = 0.0 if self.rate is None else lane / self.rate
        return Plan(
            self.nodes,
            self.requests,
            self.function,
            max(concurrency, 1),
            count,
            self.duration,
            self.warmup,
            rate,
            self.retry_unsafe,
            self.per_node,
            offset,
        )


class _Timed(Call):
    __slots__ = ("due", "measured")

    due: float  # when the call was due (closed loop: when it started)
    measured: bool  # False for a warm-up call


def _record(tally: Tally, call: _Timed, now: float, per_node: bool) -> None:
    result = call.result  # the answer's body, or a failure's record (rpccli.batch.calls)
    if isinstance(result, dict):
        error, node = result["error"], result["node"]
    else:
        error, node = None, call.node
    row: NodeTally | None = None
    if per_node:
        row = tally.nodes.get(node)
        if row is None:
            row = tally.nodes[node] = NodeTally()
    if error is not None:
        tally.error(error.kind, describe(error))
        if row is not None:
            row.errors += 1
        return
    tally.ok += 1
    latency = int((now - call.due) * 1e9)
    tally.latency.record(latency)
    if call.connected:
        tally.connect.record(int((call.connected - call.start) * 1e9))
    if row is not None:
        row.ok += 1
        row.latency.record(latency)


def run_share(plan: Plan, start: float, tick: Tick, stop: Stop | None = None) -> None:
    """Run ``plan`` from the monotonic time ``start`` (shared by every lane)."""
    _sleep_until(start, stop)  # the lanes begin together
    loop = Loop(stop)
    done: list[_Timed] = []
    loop.finished = done  # type: ignore[assignment]
    measure_from = start + plan.warmup
    end = measure_from + plan.duration if plan.duration is not None else None
    interval = 1.0 / plan.rate if plan.rate else 0.0
    first_due = start + plan.offset
    requests = plan.requests
    function = plan.function
    retry_unsafe = plan.retry_unsafe
    per_node = plan.per_node
    nodes = plan.nodes
    started = measured = active = 0
    second = 0  # the second that the current delta belongs to
    next_tick = measure_from + 1.0
    delta = Tally()
    try:
        while True:
            now = time.monotonic()
            if stop is not None and stop.requested and not loop.stopping:
                loop.interrupt()
            stopping = loop.stopping
            # start what is due
            while not stopping and active < plan.concurrency:
                due = first_due + started * interval if interval else now
                if due > now:
                    break  # open loop: not yet
                if end is not None and due >= end:
                    break
                counted = due >= measure_from
                if counted and plan.count is not None and measured >= plan.count:
                    break
                clients, health, best = nodes()
                call = _Timed(clients, requests[started % len(requests)], function, 0, _NO_ARGS)
                if health is not None:
                    call.health = health
                    call.best = best
                call.retry_unsafe = retry_unsafe
                call.due = due
                call.measured = counted
                if counted:
                    measured += 1
                    if interval:
                        delta.lag_max = max(delta.lag_max, int((now - due) * 1e9))
                started += 1
                active += 1
                loop.start(call)
            answered = bool(done)
            if answered:
                now = time.monotonic()
                for call in done:
                    active -= 1
                    if call.measured:
                        _record(delta, call, now, per_node)
                done.clear()
            if now >= next_tick:
                tick(second, delta)
                delta = Tally()
                second += 1
                next_tick += 1.0
            finished = (
                stopping
                or (end is not None and now >= end)
                or (plan.count is not None and measured >= plan.count)
            )
            if finished and not active:
                break
            if answered and not finished:
                continue  # start the next calls before waiting
            if interval and not finished and active < plan.concurrency:
                wake = min(next_tick, first_due + started * interval)
            else:
                wake = next_tick
            if loop.inflight:
                loop.poll(until=wake)
            elif not answered:
                _sleep_until(wake, stop)
    finally:
        loop.close()
    tick(second, delta)


def _sleep_until(wake: float, stop: Stop | None) -> None:
    wait = max(wake - time.monotonic(), 0.0)
    if stop is None:
        time.sleep(wait)
    elif not stop.requested:
        select.select([stop.fd], [], [], wait)
