"""One client connection of the bundled server: read the way uWSGI reads, answer once, close.

No transports: the event loop only watches plain non-blocking sockets (``add_reader``), which keeps
the hot path short and the kernel state exactly uWSGI's. Every ``recv_into`` asks for at most
``4 + buffer_size - received`` bytes, as uWSGI's ``read()`` in ``proto/uwsgi.c`` does (into one
scratch buffer of the loop; a connection keeps only what it received), reading stops once the
packet is complete, and a body over ``--buffer-size`` is refused after the first read. Whatever
uWSGI would have left unread stays in the kernel, so our close resets the connection exactly when
uWSGI's does (facts 2).

When a function must run, the socket leaves the event loop for a worker thread, which calls the
function, writes the answer (each send waits at most ``--socket-timeout``, like uWSGI's writes)
and closes: one hand-over per call and none back. Answers that need no function (ping, refusals,
the 500 pages) and every answer with ``threads=0`` are written from the loop without blocking.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING, Any

from .functions import Outcome
from .server_log import Event
from .server_requests import Plan, plan, run
from .wire import HEADER_SIZE

if TYPE_CHECKING:
    from .server import Server

__all__ = ["Connection", "peer_text"]

_AGAIN = (BlockingIOError, InterruptedError)


def peer_text(address: Any, local: str) -> str:
    """A client for the log: ``127.0.0.1:50312``, ``[::1]:50312``, or ``<socket> client``."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{local} client"


class Connection:
    """Lives in the event loop until its request is complete; then answers it and is gone."""

    __slots__ = (
        "_buf",
        "_fd",
        "_last",
        "_pending",
        "_pos",
        "_reading",
        "_server",
        "_sock",
        "_start",
        "_step",
        "_timer",
        "_writing",
        "peer",
    )

    def __init__(self, server: Server, sock: _socket.socket, peer: str) -> None:
        self._server = server
        self._sock = sock
        self._fd = sock.fileno()
        self._buf = b""  # what arrived so far, when a request takes more than one read
        self._pos = 0
        self._reading = False
        self._writing: memoryview | None = None
        self._pending: tuple[Plan, int, Outcome | None] | None = None
        self._step: Plan | None = None  # the call a worker runs (for the log if it is dropped)
        self.peer = peer
        self._start = time.monotonic()
        loop = server.loop
        self._last = loop.time()
        self._timer: asyncio.TimerHandle | None = loop.call_at(
            self._last + server.socket_timeout, self._idle_check
        )
        server.connections.add(self)
        # the request has usually arrived by the time we accept: try before watching the socket
        self._readable()
        if self in server.connections and self._writing is None and not self._reading:
            self._reading = True
            loop.add_reader(self._fd, self._readable)

    # -- reading -------------------------------------------------------------------------------

    def _readable(self) -> None:
        server = self._server
        pos = self._pos
        scratch = server.scratch  # shared: only the event loop thread reads
        try:
            got = self._sock.recv_into(scratch, server.read_limit - pos)
        except _AGAIN:
            return
        except OSError as exc:
            self._end(Event(self.peer, "incomplete", reason=f"read failed: {exc.strerror or exc}"))
            return
        if not got:
            # the client shut its side before a whole packet: uWSGI's read() gets 0 and closes
            kind = "idle" if not pos else "incomplete"
            self._end(Event(self.peer, kind, reason=f"client closed after {pos} bytes"))
            return
        # usually the whole request comes in the first read and is parsed in place
        buf: bytes | memoryview = scratch[:got] if not pos else self._buf + scratch[:got]
        self._pos = pos = pos + got
        self._last = server.loop.time()
        if pos < HEADER_SIZE:
            self._buf = bytes(buf)
            return
        size = buf[1] | (buf[2] << 8)
        if pos - HEADER_SIZE >= size:
            self._leave_loop()
            self._dispatch(buf[0], buf[3], bytes(buf[HEADER_SIZE : HEADER_SIZE + size]))
        elif size > server.buffer_size:
            # uWSGI logs "invalid request block size" and closes; the unread rest of the body
            # makes the kernel reset the connection (facts 2)
            limit = server.buffer_size
            reason = f"request body of {size} bytes is over --buffer-size {limit}"
            reset = self._unread()
            self._end(Event(self.peer, "rejected", buf[0], buf[3], reason=reason, reset=reset))
        else:
            self._buf = bytes(buf)  # at most --buffer-size + 4 bytes per connection

    def _unread(self) -> bool:
        """Are bytes waiting in the kernel? Then closing resets the connection (for the log)."""
        try:
            return bool(self._sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT))
        except OSError:
            return False

    def _idle_check(self) -> None:
        self._timer = None
        loop = self._server.loop
        timeout = self._server.socket_timeout
        if loop.time() - self._last < timeout:
            self._timer = loop.call_at(self._last + timeout, self._idle_check)
            return
        if self._writing is not None:
            reason = f"client read nothing for --socket-timeout {timeout:g}s; answer cut short"
            self._end(Event(self.peer, "timeout", reason=reason))
            return
        got = self._pos
        reason = f"no complete request within --socket-timeout {timeout:g}s ({got} bytes)"
        self._end(Event(self.peer, "idle" if not got else "timeout", reason=reason))

    def _leave_loop(self) -> None:
        """Stop watching the socket: it is either answered now or handed to a worker."""
        loop = self._server.loop
        if self._reading:
            self._reading = False
            loop.remove_reader(self._fd)
        if self._writing is not None:
            self._writing = None
            loop.remove_writer(self._fd)
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
        return self._writing is not None

    def abort(self) -> None:
        """The server stops: drop this connection (no call yet, nothing to log)."""
        self._leave_loop()
        self._sock.close()

    def wake(self) -> None:
        """End a worker's call on the wire now (the client sees the close, a blocked send
        fails); the worker still closes the socket. Called under the server's ``calls_lock``,
        so it always comes before that close (the worker's take_call() waits for the lock)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(_socket.SHUT_RDWR)

    def drop(self, reason: str) -> None:
        """The server stops while this call runs or its answer is written: end it now, so the
        client sees the close at once, and log it as dropped."""
        step: Plan | None
        if self._writing is not None:  # the loop writes the answer: the loop owns the socket
            assert self._pending is not None
            step, size, _ = self._pending
            sent = size - len(self._writing)
            self._leave_loop()
            self._sock.close()
        else:  # a worker owns the socket (close() has shut it down: see wake())
            step, sent = self._step, 0
        if step is None or step.function is None:
            return
        event = Event(
            self.peer,
            "dropped",
            step.modifier1,
            step.modifier2,
            step.function,
            step.args,
            sent=sent,
            reason=reason,
            elapsed=time.monotonic() - self._start,
        )
        self._server.report(event)

    # -- answering -----------------------------------------------------------------------------

    def _dispatch(self, modifier1: int, modifier2: int, body: bytes) -> None:
        server = self._server
        step = plan(modifier1, modifier2, body, warning=server.table.warning)
        if step.function is None:
            self._answer_in_loop(step, step.immediate, None)
        elif server.workers is None:
            data, outcome = run(server.table, step)
            self._answer_in_loop(step, data, outcome)
        else:
            self._step = step
            with server.calls_lock:
                server.calls.add(self)
            server.workers.submit(self._work, step)

    def _work(self, step: Plan) -> None:
        """In a worker thread: call, write the whole answer, close, log."""
        try:
            data, outcome = run(self._server.table, step)
        except BaseException as exc:  # never expected: run() catches what functions raise
            data, outcome = b"", Outcome(None, f"server error: {type(exc).__name__}: {exc}")
        sock = self._sock
        try:
            sent = self._send_blocking(sock, data) if data else 0
            # log before the close: once the client sees the end, its line is in the log;
            # unless the stopping server dropped this call (and logged it) meanwhile
            if self._server.take_call(self):
                self._log(step, sent, len(data), outcome)
        finally:
            sock.close()

    def _send_blocking(self, sock: _socket.socket, data: bytes) -> int:
        view = memoryview(data)
        sent = 0
        try:
            sent = sock.send(view)  # usually everything, without a system call more
            if sent < len(view):
                sock.settimeout(self._server.socket_timeout)  # each send waits at most this
                while sent < len(view):
                    sent += sock.send(view[sent:])
        except _AGAIN:
            pass
        except OSError:  # the client went away, or stopped reading for --socket-timeout
            pass
        return sent

    def _answer_in_loop(self, step: Plan, data: bytes, outcome: Outcome | None) -> None:
        sent = 0
        total = len(data)
        if data:
            try:
                sent = self._sock.send(data)
            except _AGAIN:
                sent = 0
            except OSError:  # the client is gone: nothing more to send
                data = b""
            if sent < len(data):
                # a big answer to a slow reader: finish it without blocking the loop
                self._pending = (step, len(data), outcome)
                self._writing = memoryview(data)[sent:]
                loop = self._server.loop
                self._last = loop.time()
                self._timer = loop.call_at(
                    self._last + self._server.socket_timeout, self._idle_check
                )
                self._server.connections.add(self)
                loop.add_writer(self._fd, self._writable)
                return
        self._sock.close()
        self._log(step, sent, total, outcome)

    def _writable(self) -> None:
        rest = self._writing
        assert rest is not None and self._pending is not None
        lost = 0
        try:
            sent = self._sock.send(rest)
        except _AGAIN:
            return
        except OSError:  # the client went away: what is left is lost
            sent, lost = len(rest), len(rest)
        self._last = self._server.loop.time()
        if sent < len(rest):
            self._writing = rest[sent:]
            return
        step, size, outcome = self._pending
        self._leave_loop()
        self._sock.close()
        self._log(step, size - lost, size, outcome)

    def _log(self, step: Plan, sent: int, total: int, outcome: Outcome | None) -> None:
        server = self._server
        if server.on_event is None:  # the hot path builds no log record at all
            return
        server.report(
            Event(
                self.peer,
                step.kind,
                step.modifier1,
                step.modifier2,
                step.function,
                step.args,
                sent=sent,
                # the client reports the result's size, not the framing around it (QA F6)
                size=len(outcome.result) if outcome is not None and outcome.result else 0,
                total=total,
                reason=outcome.reason if outcome is not None else step.reason,
                traceback=outcome.traceback if outcome is not None else None,
                elapsed=time.monotonic() - self._start,
            )
        )
