"""One client connection of the bundled server: read the way uWSGI reads, answer once, close.

No transports: the event loop only watches plain non-blocking sockets (``add_reader``), which keeps
the hot path short and the kernel state exactly uWSGI's. Every ``recv_into`` asks for at most
``4 + buffer_size - received`` bytes, as uWSGI's ``read()`` in ``proto/uwsgi.c`` does (into one
scratch buffer of the loop; a connection keeps only what it received), reading stops once the
packet is complete, and a body over ``--buffer-size`` is refused after the first read. Whatever
uWSGI would have left unread stays in the kernel, so our close resets the connection exactly when
uWSGI's does (docs/protocol.md#requests). The answer is :class:`~protocol.server.answer.Answer`'s.
"""

from __future__ import annotations

import _socket

from ..wire import HEADER_SIZE
from .answer import Answer
from .functions import Outcome
from .host import Host, Workers, peer_text
from .log import Event
from .requests import Plan

__all__ = ["Connection", "Host", "Workers", "peer_text"]


_AGAIN = (BlockingIOError, InterruptedError)


class Connection(Answer):
    """Lives in the event loop until its request is complete; then answers it and is gone."""

    __slots__ = ()

    def __init__(
        self, server: Host, sock: _socket.socket, peer: str, first: int | OSError | None = None
    ) -> None:
        """``first``: what the accept fast path's first read of ``sock`` gave (bytes in the
        server's scratch buffer, or its error), None when it found nothing yet."""
        self._setup(server, sock, peer)
        # the request has usually arrived by the time we accept: try before watching the socket
        # (and before arming the idle timer, which a request answered at once never needs)
        if first is None:
            self._readable()
        else:
            self._took(first)
        if self in server.connections and self._out is None and not self._reading:
            self._reading = True
            server.loop.add_reader(self._fd, self._readable)
            self._timer = server.loop.call_at(self._last + server.socket_timeout, self._idle_check)

    @classmethod
    def answered(
        cls,
        server: Host,
        sock: _socket.socket,
        peer: str,
        step: Plan,
        parts: tuple[bytes, ...],
        outcome: Outcome,
        sent: int,
        start: float,
    ) -> None:
        """The accept fast path ran ``step`` in the loop (the connection accepted at ``start``)
        and sent ``sent`` bytes of its answer (the start of a small one): send the rest as
        :meth:`_run_inline` would have."""
        conn = cls.__new__(cls)
        conn._setup(server, sock, peer)
        conn._start = start
        server.connections.discard(conn)
        conn._after_run(step, parts, outcome, sent)

    # -- reading -------------------------------------------------------------------------------

    def _readable(self) -> None:
        server = self._server
        try:
            # into the loop's scratch buffer, shared: only the event loop thread reads
            got = self._sock.recv_into(server.scratch, server.read_limit - self._pos)
        except _AGAIN:
            return
        except OSError as exc:
            self._took(exc)
            return
        self._took(got)

    def _took(self, got: int | OSError) -> None:
        """A read gave ``got`` bytes (in the scratch buffer), or failed."""
        if isinstance(got, OSError):
            reason = f"read failed: {got.strerror or got}"
            self._end(Event(self.peer, "incomplete", reason=reason))
            return
        server = self._server
        pos = self._pos
        scratch = server.scratch
        if not got:
            # the client shut its side before a whole packet: uWSGI's read() gets 0 and closes
            kind = "idle" if not pos else "incomplete"
            self._end(Event(self.peer, kind, reason=f"client closed after {pos} bytes"))
            return
        # usually the whole request comes in the first read and is parsed in place
        buf: bytearray | memoryview
        if pos:
            assert self._buf is not None
            self._buf += scratch[:got]
            buf = self._buf
        else:
            buf = scratch[:got]
        self._pos = pos = pos + got
        self._last = server.loop.time()
        if pos < HEADER_SIZE:
            if buf is not self._buf:
                self._buf = bytearray(buf)
            return
        size = buf[1] | (buf[2] << 8)
        if pos - HEADER_SIZE >= size:
            self._leave_loop()
            self._dispatch(buf[0], buf[3], bytes(buf[HEADER_SIZE : HEADER_SIZE + size]))
        elif size > server.buffer_size:
            # uWSGI logs "invalid request block size" and closes; the unread rest of the body
            # makes the kernel reset the connection (docs/protocol.md#buffer-size)
            limit = server.buffer_size
            reason = f"request body of {size} bytes is over --buffer-size {limit}"
            reset = self._unread()
            self._end(Event(self.peer, "rejected", buf[0], buf[3], reason=reason, reset=reset))
        elif buf is not self._buf:
            self._buf = bytearray(buf)  # at most --buffer-size + 4 bytes per connection

    def _unread(self) -> bool:
        """Are bytes waiting in the kernel? Then closing resets the connection (for the log)."""
        try:
            return bool(self._sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT))
        except OSError:
            return False
