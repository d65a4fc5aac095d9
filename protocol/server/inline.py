"""A call the event loop runs itself, and a finished call's log record: shared by a
:class:`~protocol.server.connection.Connection` and the accept fast path
(:mod:`protocol.server.accept`)."""

from __future__ import annotations

import time

from .functions import Outcome
from .host import Host
from .log import call_event
from .requests import Plan, run

__all__ = ["log_call", "run_inline"]


def run_inline(host: Host, step: Plan) -> tuple[tuple[bytes, ...], Outcome]:
    """Run ``step`` in the loop: with no worker threads (``threads=0``) as it is, else as a
    function known to be quick (protocol/server/pace.py), under the watchdog's eye
    (protocol/server/rescue.py) and timed for :class:`~protocol.server.pace.Pace`."""
    pace = host.pace
    if pace is None:
        return run(host.table, step)
    function = step.function
    assert function is not None
    start = time.monotonic()
    host.inline = (start, function)  # for the watchdog, which sleeps while no call runs here
    watchdog = host.watchdog
    if watchdog is not None and watchdog.idle:
        watchdog.wake()
    try:
        parts, outcome = run(host.table, step)
    finally:
        host.inline = None
    pace.ran(function, time.monotonic() - start)
    return parts, outcome


def log_call(
    host: Host,
    peer: str,
    start: float,
    step: Plan,
    sent: int,
    total: int,
    outcome: Outcome | None,
    reason: str | None = None,
) -> None:
    """Report a call that got a whole packet (``start``: when its connection was accepted)."""
    if host.on_event is None:  # the hot path builds no log record at all
        return
    elapsed = time.monotonic() - start
    event = call_event(peer, step, outcome, sent=sent, total=total, reason=reason, elapsed=elapsed)
    host.report(event)
