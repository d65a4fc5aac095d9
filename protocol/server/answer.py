"""The answering half of a bundled server's connection (:class:`Answer`): the request is whole.

When a function must run, the loop calls it itself if the function has shown itself quick
(:mod:`.pace`); otherwise the socket leaves the event loop for a worker thread, which calls the
function and tries one non-blocking send of the answer: a small answer (nearly all of them) goes
out whole and the worker closes. What the client has not taken yet goes back to the loop, which
writes it as the client reads, and gives up once the client takes nothing for ``--socket-timeout``
(as uWSGI's writes do). A worker never waits for a client, so slow readers hold only their own
connections. Answers that need no function (ping, refusals, the 500 pages) and every answer with
``threads=0`` are written from the loop the same way. A big answer stays in memory once (the
function's result, sent after its header without being joined to it), and
:class:`~protocol.server.write.Room` bounds what the loop holds in all.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import dataclasses
import time

from ..wire import MODIFIER1_PING
from .functions import Outcome
from .host import Host
from .inline import log_call, run_inline
from .log import Event, call_event
from .requests import Plan, plan, run
from .write import SMALL_ANSWER, Out, advance, queued, send_first, send_some

__all__ = ["Answer"]


class Answer:
    """A connection's state, its end and its answer; :class:`~.connection.Connection` adds
    the reading."""

    __slots__ = (
        "_buf",
        "_fd",
        "_last",
        "_left",
        "_out",
        "_pending",
        "_pos",
        "_reading",
        "_server",
        "_sock",
        "_start",
        "_step",
        "_taken",
        "_timer",
        "_writer",
        "peer",
    )

    _timer: asyncio.TimerHandle | None

    def _setup(self, server: Host, sock: _socket.socket, peer: str) -> None:
        self._server = server
        self._sock = sock
        self._fd = sock.fileno()
        # what arrived so far, when a request takes more than one read (grown in place: a
        # client that sends a byte at a time costs linear time, not quadratic)
        self._buf: bytearray | None = None
        self._pos = 0
        self._reading = False
        self._writer = False  # the loop waits for the socket to take more of the answer
        self._out: Out | None = None  # the answer's rest, once the loop owns it
        self._left = 0  # bytes in _out (counted in the server's held bytes)
        self._taken = 0  # bytes of the answer the client had read at the last look
        self._pending: tuple[Plan, int, Outcome | None] | None = None
        self._step: Plan | None = None  # the call a worker runs (for the log if it is dropped)
        self.peer = peer
        self._start = time.monotonic()
        self._last = server.loop.time()
        self._timer = None
        server.connections.add(self)

    def _idle_check(self) -> None:
        self._timer = None
        loop = self._server.loop
        timeout = self._server.socket_timeout
        if loop.time() - self._last < timeout:
            self._timer = loop.call_at(self._last + timeout, self._idle_check)
            return
        if self._pending is not None:
            taken = self._taken_now()
            if taken is not None and taken > self._taken:
                # the client reads, but the kernel's send buffer is still too full to take more
                self._taken, self._last = taken, loop.time()
                self._timer = loop.call_at(self._last + timeout, self._idle_check)
                return
            step, size, _ = self._pending
            reason = f"client took nothing for --socket-timeout {timeout:g}s; answer cut short"
            event = call_event(self.peer, step, None, kind="timeout", reason=reason, total=size)
            self._end(dataclasses.replace(event, sent=size - self._left))
            return
        got = self._pos
        reason = f"no complete request within --socket-timeout {timeout:g}s ({got} bytes)"
        self._end(Event(self.peer, "idle" if not got else "timeout", reason=reason))

    def _leave_loop(self) -> None:
        """Stop watching the socket: it is answered, handed to a worker or closed. An answer
        not sent yet is let go (its memory with it)."""
        loop = self._server.loop
        if self._reading:
            self._reading = False
            loop.remove_reader(self._fd)
        if self._writer:
            self._writer = False
            loop.remove_writer(self._fd)
        if self._out is not None:
            self._server.room.release(self._left)
            self._out, self._left, self._pending = None, 0, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._server.connections.discard(self)

    def _end(self, event: Event) -> None:
        """Close without an answer (the 0-byte close, or a reset when bytes stay unread)."""
        self._leave_loop()
        self._sock.close()
        self._server.report(dataclasses.replace(event, elapsed=time.monotonic() - self._start))

    @property
    def writing(self) -> bool:
        """The event loop is still writing this connection's answer."""
        return self._out is not None

    def abort(self) -> None:
        """The server stops: drop this connection (no call yet, nothing to log)."""
        self._leave_loop()
        self._sock.close()

    def wake(self) -> None:
        """End a worker's call on the wire now (the client sees the close); the worker still
        closes the socket. Called under the server's ``calls_lock``, so it always comes before
        that close (the worker's take_call() waits for the lock)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(_socket.SHUT_RDWR)

    def drop(self, reason: str) -> None:
        """The server stops while this call runs or its answer is written: end it now, so the
        client sees the close at once, and log it as dropped."""
        step: Plan | None
        if self._pending is not None:  # the answer was given to the loop: the loop owns it
            step, size, _ = self._pending
            sent = size - self._left
            self._leave_loop()
            self._sock.close()
        else:  # a worker owns the socket (close() has shut it down: see wake())
            step, sent = self._step, 0
        if step is None or step.function is None:
            return
        elapsed = time.monotonic() - self._start
        event = call_event(self.peer, step, None, kind="dropped", sent=sent, reason=reason)
        self._server.report(dataclasses.replace(event, elapsed=elapsed))

    # -- answering -----------------------------------------------------------------------------

    def _dispatch(self, modifier1: int, modifier2: int, body: bytes) -> None:
        server = self._server
        warning = server.table.warning if modifier1 == MODIFIER1_PING else None  # shared memory
        step = plan(modifier1, modifier2, body, warning=warning)
        if step.function is None:
            if step.kind == "signal":
                server.table.signals.send(modifier2)
            self._answer_in_loop(step, (step.immediate,) if step.immediate else (), None)
        elif server.workers is None:
            parts, outcome = run(server.table, step)
            self._answer_in_loop(step, parts, outcome)
        elif server.pace is not None and server.pace.inline(step.function):
            self._run_inline(step)  # a function known to be quick (protocol/server/pace.py)
        else:
            self._step = step
            with server.calls_lock:
                server.calls.add(self)
            server.workers.submit(self._work, step)

    def _run_inline(self, step: Plan) -> None:
        parts, outcome = run_inline(self._server, step)  # a quick function (pace.py)
        self._after_run(step, parts, outcome)

    def _after_run(
        self, step: Plan, parts: tuple[bytes, ...], outcome: Outcome, sent: int = 0
    ) -> None:
        server = self._server
        if not sent and sum(map(len, parts)) > SMALL_ANSWER and server.workers is not None:
            # a big answer is sent by a worker, which may wait for room (as without pace)
            self._step = step
            with server.calls_lock:
                server.calls.add(self)
            server.workers.submit(lambda job: self._deliver(*job), (step, parts, outcome))
            return
        self._answer_in_loop(step, parts, outcome, sent)

    def _work(self, step: Plan) -> None:
        """In a worker thread: call, send what the socket takes at once, and either close and
        log, or hand the rest to the loop."""
        server = self._server
        start = time.monotonic()
        try:
            parts, outcome = run(server.table, step)
        except BaseException as exc:  # never expected: run() catches what functions raise
            parts, outcome = (), Outcome(None, f"server error: {type(exc).__name__}: {exc}")
        if server.pace is not None and step.function is not None:
            server.pace.ran(step.function, time.monotonic() - start)
        self._deliver(step, parts, outcome)

    def _deliver(self, step: Plan, parts: tuple[bytes, ...], outcome: Outcome) -> None:
        """In a worker thread: send what the socket takes at once of a call's answer, and
        either close and log, or hand the rest to the loop."""
        server = self._server
        sock = self._sock
        total = sum(map(len, parts))
        reserved = total if total > SMALL_ANSWER else 0
        if reserved and not server.room.reserve(total, wait=True):
            try:
                refusal = server.room.refusal(total)
                server.take_call(self, lambda: self._log(step, 0, total, outcome, refusal))
            finally:
                sock.close()
            return
        out, sent = send_first(self._sock, parts, total)
        if out:
            with server.calls_lock:
                if self in server.calls:  # else close() dropped the call: just close
                    # the loop takes it from here (the call stays counted until it does)
                    self._out, self._left = out, total - sent
                    self._pending = (step, total, outcome)
                    server.room.adjust(self._left - reserved)
                    server.loop.call_soon_threadsafe(self._take_over)
                    return
        server.room.release(reserved)
        try:
            # log before the close: once the client sees the end, its line is in the log;
            # unless the stopping server dropped this call (and logged it) meanwhile
            server.take_call(self, lambda: self._log(step, sent, total, outcome))
        finally:
            sock.close()

    def _taken_now(self) -> int | None:
        """How far the client has read: sent, less what waits in the kernel (bytes for TCP;
        for unix sockets the kernel counts its buffers' memory, which still grows as the client
        reads). None where the kernel does not say: then only what the loop could send counts."""
        assert self._pending is not None
        waiting = queued(self._sock)
        return None if waiting is None else self._pending[1] - self._left - waiting

    def _take_over(self) -> None:
        """In the loop: write the rest a worker could not send at once."""
        if not self._server.take_call(self):
            return  # close() dropped the call meanwhile, and closed the socket
        self._start_writing()

    def _start_writing(self) -> None:
        server = self._server
        loop = server.loop
        self._last = loop.time()
        self._timer = loop.call_at(self._last + server.socket_timeout, self._idle_check)
        self._taken = self._taken_now() or 0
        server.connections.add(self)
        self._writer = True
        loop.add_writer(self._fd, self._writable)

    def _answer_in_loop(
        self, step: Plan, parts: tuple[bytes, ...], outcome: Outcome | None, already: int = 0
    ) -> None:
        """Send ``parts``; ``already``: bytes of a small answer the fast path sent."""
        server = self._server
        total = sum(map(len, parts))
        reserved = total if total > SMALL_ANSWER else 0
        if reserved and not server.room.reserve(total, wait=False):
            self._sock.close()
            self._log(step, 0, total, outcome, server.room.refusal(total))
            return
        if already:
            out: Out | None = [memoryview(part) for part in parts]
            assert out is not None
            advance(out, already)
            sent = already
        else:
            out, sent = send_first(self._sock, parts, total)
        if out:
            # a big answer to a slow reader: finish it without blocking the loop
            self._out, self._left = out, total - sent
            self._pending = (step, total, outcome)
            with server.calls_lock:
                server.room.adjust(self._left - reserved)
            self._start_writing()
            return
        server.room.release(reserved)
        self._sock.close()
        self._log(step, sent, total, outcome)

    def _writable(self) -> None:
        out = self._out
        assert out is not None and self._pending is not None
        lost = 0
        try:
            sent = send_some(self._sock, out)
        except OSError:  # the client went away: what is left is lost
            sent = lost = self._left
        if not sent:
            return
        self._last = self._server.loop.time()
        if sent < self._left:
            advance(out, sent)
            self._left -= sent
            self._server.room.release(sent)
            return
        step, size, outcome = self._pending
        self._leave_loop()
        self._sock.close()
        self._log(step, size - lost, size, outcome)

    def _log(
        self,
        step: Plan,
        sent: int,
        total: int,
        outcome: Outcome | None,
        reason: str | None = None,
    ) -> None:
        log_call(self._server, self.peer, self._start, step, sent, total, outcome, reason)
