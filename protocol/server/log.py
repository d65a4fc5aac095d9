"""The bundled server's log: one :class:`Event` per connection and its one-line text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..visible import counted, visible

if TYPE_CHECKING:
    from .functions import Outcome
    from .requests import Plan

__all__ = ["Event", "call_event", "format_event"]


@dataclass(frozen=True, slots=True)
class Event:
    """One finished connection, for the log.

    ``kind``: rpc, http, ping, wsgi, unserved (a packet was handled), or rejected, timeout,
    incomplete, idle (no complete packet), or dropped (a call still running when the server
    stopped), or stopping (the server waits for running calls; ``peer`` is its nodes).
    ``sent`` is the number of bytes written, of the ``total`` the answer has on the wire;
    ``size`` is the length of the function's result (what a client reports: the wire adds a
    4-byte header, or the large form's header and vars block); ``reason`` says why nothing
    useful was sent (``sent == 0`` is the 0-byte close).
    """

    peer: str
    kind: str
    modifier1: int = -1
    modifier2: int = -1
    function: bytes | None = None
    args: tuple[bytes, ...] = ()
    sent: int = 0
    size: int = 0
    total: int = 0
    reason: str | None = None
    traceback: str | None = None
    elapsed: float = 0.0
    reset: bool = False


def _short(data: bytes, limit: int = 24) -> str:
    text = data[:limit].decode("utf-8", "backslashreplace")
    return repr(text) + ("..." if len(data) > limit else "")


def _args_summary(args: Sequence[bytes]) -> str:
    shown = ", ".join(_short(a) for a in args[:4])
    if len(args) > 4:
        shown += f", ... ({len(args)} args)"
    return shown


def _result(event: Event, ms: str) -> str:
    """``8 bytes (1.2 ms)``: the result's size, as the client reports it, and what the framing
    or a cut answer changed."""
    size = event.size or event.sent  # an Event built without ``size``
    notes = []
    if event.modifier2 == 0 and size > 0xFFFF:
        notes.append("large form")  # the modifier2 5 framing (docs/protocol.md#responses)
    if event.total and event.sent < event.total:
        notes.append(f"cut short: {event.sent} of {event.total} bytes sent")
    return f"{counted(size, 'byte')} ({', '.join([*notes, ms])})"


def format_event(event: Event) -> str:
    """One log line: who, what, and the size of the answer or why it was a 0-byte close.

    Clients choose the function name and the arguments, and a reason may quote them: the line
    shows their control, bidi and format characters escaped, for the terminal it is read on."""
    return visible(_format(event), reversible=False)


def _format(event: Event) -> str:
    ms = f"{event.elapsed * 1000:.1f} ms"
    if event.kind == "ping":
        what = "ping -> " + (f"warning {event.reason!r}" if event.reason else "ok")
        return f"{event.peer} {what}"
    if event.function is not None:
        name = visible(event.function.decode("utf-8", "surrogateescape"))
        call = f"{name}({_args_summary(event.args)})"
        if event.kind == "http":
            call = "HTTP " + call
        mode = {0: "", 1: " raw"}.get(event.modifier2, f" modifier2={event.modifier2}")
        if event.kind == "rpc" and event.sent:
            return f"{event.peer} {call}{mode} -> {_result(event, ms)}"
        if event.kind == "timeout":  # the client stopped taking its answer
            sent = f"{event.sent} of {event.total} bytes sent"
            return f"{event.peer} {call}{mode} -> {sent}: {event.reason} ({ms})"
        if event.kind == "dropped":
            return f"{event.peer} {call}{mode} -> dropped: {event.reason} ({ms})"
        if event.kind == "http":
            return f"{event.peer} {call} -> {event.sent} bytes HTTP ({event.reason or 'ok'}, {ms})"
        return f"{event.peer} {call}{mode} -> 0-byte close: {event.reason} ({ms})"
    if event.kind == "signal":
        return f"{event.peer} signal {event.modifier2} -> queued"
    if event.kind == "stopping":
        return f"{event.peer} stopping: {event.reason}"
    if event.sent:
        return f"{event.peer} modifier1={event.modifier1} -> {event.sent} bytes: {event.reason}"
    end = "connection reset" if event.reset else "0-byte close"
    return f"{event.peer} {end}: {event.reason}"


def call_event(
    peer: str,
    step: Plan,
    outcome: Outcome | None,
    *,
    kind: str | None = None,
    sent: int = 0,
    total: int = 0,
    reason: str | None = None,
    elapsed: float = 0.0,
) -> Event:
    """The record of a connection that got a whole packet (``kind``: the step's own unless
    given; ``reason``: the outcome's or the step's unless given)."""
    return Event(
        peer,
        kind or step.kind,
        step.modifier1,
        step.modifier2,
        step.function,
        step.args,
        sent=sent,
        # the client reports the result's size, not the framing around it
        size=len(outcome.result) if outcome is not None and outcome.result else 0,
        total=total,
        reason=reason or (outcome.reason if outcome is not None else step.reason),
        traceback=outcome.traceback if outcome is not None else None,
        elapsed=elapsed,
    )
