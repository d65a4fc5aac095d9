"""Accepting connections on a listening socket the event loop saw readable (the server's loop and
the rescue loop of :mod:`.rescue` both use it), and answering at once what needs no more.

The fast path (docs/serve.md#concurrency): right after ``accept``, one non-blocking read of at
most ``4 + buffer_size`` bytes -- the first read a :class:`Connection` makes. When it holds a
whole RPC packet for a function that runs in the loop (:mod:`.pace`), the call is run, a small
answer sent with one non-blocking ``send`` and the socket closed: no :class:`Connection`, no
``add_reader``, no ``setblocking``. Anything else -- a request not whole yet, another modifier1,
an answer that does not go out whole -- continues as a :class:`Connection` from exactly where
the fast path left it, so the bytes on the wire and the log are the same either way.
"""

from __future__ import annotations

import _socket
import errno
import time
from typing import Any, Final, cast

from ..wire import HEADER_SIZE, MODIFIER1_RPC
from .connection import Connection
from .host import Host, peer_text
from .inline import log_call, run_inline
from .listen import Listener
from .requests import plan
from .write import SMALL_ANSWER

__all__ = ["ACCEPT_BATCH", "accept_ready"]

#: connections accepted per wake-up of a listening socket
ACCEPT_BATCH: Final = 64

_DONTWAIT: Final = _socket.MSG_DONTWAIT
# the C socket's plain ints: socket.socket's family and type are properties that build enums
_family = cast(Any, _socket.socket).family.__get__
_kind = cast(Any, _socket.socket).type.__get__
_AGAIN = (BlockingIOError, InterruptedError)


def accept_ready(host: Host, listener: Listener) -> str | None:
    """Accept what is waiting (at most ``ACCEPT_BATCH``), each answered at once or a
    :class:`Connection` of ``host``; the reason to pause accepting (out of file descriptors),
    or None."""
    # the C-level accept and socket type: socket.socket's Python wrappers cost more than
    # the system calls on this path (one connection per call)
    accept = cast(Any, listener.sock)._accept  # (fd, address), no socket object
    family, kind = _family(listener.sock), _kind(listener.sock)
    scratch, limit = host.scratch, host.read_limit
    for _ in range(ACCEPT_BATCH):
        try:
            fd, address = accept()
        except _AGAIN:
            return None
        except OSError as exc:
            if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                continue
            return f"cannot accept: {exc.strerror or exc}"
        sock = _socket.socket(family, kind, 0, fd)  # blocking: every call below says DONTWAIT
        peer = peer_text(address, listener.node) if host.on_event is not None else "?"
        first: int | OSError | None
        try:
            first = sock.recv_into(scratch, limit, _DONTWAIT)
        except _AGAIN:
            first = None
        except OSError as exc:
            first = exc
        if type(first) is int and first >= HEADER_SIZE and _answer_at_once(host, sock, peer, first):
            continue
        sock.setblocking(False)
        Connection(host, sock, peer, first)
    return None


def _answer_at_once(host: Host, sock: _socket.socket, peer: str, got: int) -> bool:
    """``got`` bytes of a request are in the scratch buffer: answer them here if they are a
    whole RPC packet for a function the loop runs itself; False (nothing done) otherwise."""
    scratch = host.scratch
    size = scratch[1] | (scratch[2] << 8)
    if got - HEADER_SIZE < size or scratch[0] != MODIFIER1_RPC:
        return False  # not whole yet (or over --buffer-size), or not a call: the Connection's
    start = time.monotonic() if host.on_event is not None else 0.0
    step = plan(MODIFIER1_RPC, scratch[3], bytes(scratch[HEADER_SIZE : HEADER_SIZE + size]))
    function = step.function
    if function is None:
        return False  # an immediate answer or a refusal
    pace = host.pace
    if host.workers is not None and (pace is None or not pace.inline(function)):
        return False  # a function not shown to be quick runs in a worker thread
    parts, outcome = run_inline(host, step)
    total = sum(map(len, parts))
    sent = 0
    if total <= SMALL_ANSWER:
        gone = False
        try:
            if len(parts) == 1:
                sent = sock.send(parts[0], _DONTWAIT)
            elif parts:
                sent = sock.sendmsg(parts, (), _DONTWAIT)
        except _AGAIN:
            pass
        except OSError:  # the client is gone: nothing more to send
            gone = True
        if sent == total or gone:
            sock.close()
            log_call(host, peer, start, step, sent, total, outcome)
            return True
    # a big answer, or one the socket did not take whole: the Connection's way from here
    sock.setblocking(False)
    Connection.answered(host, sock, peer, step, parts, outcome, sent, start)
    return True
