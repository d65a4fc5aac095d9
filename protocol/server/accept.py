"""Accepting connections on a listening socket the event loop saw readable (the server's loop and
the rescue loop of :mod:`.rescue` both use it)."""

from __future__ import annotations

import _socket
import errno
from typing import Any, Final, cast

from .connection import Connection
from .host import Host, peer_text
from .listen import Listener

__all__ = ["ACCEPT_BATCH", "accept_ready"]

#: connections accepted per wake-up of a listening socket
ACCEPT_BATCH: Final = 64


def accept_ready(host: Host, listener: Listener) -> str | None:
    """Accept what is waiting (at most ``ACCEPT_BATCH``), each a :class:`Connection` of
    ``host``; the reason to pause accepting (out of file descriptors), or None."""
    # the C-level accept and socket type: socket.socket's Python wrappers cost more than
    # the system calls on this path (one connection per call)
    accept = cast(Any, listener.sock)._accept  # (fd, address), no socket object
    family, kind = listener.sock.family, listener.sock.type
    for _ in range(ACCEPT_BATCH):
        try:
            fd, address = accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                continue
            return f"cannot accept: {exc.strerror or exc}"
        sock = _socket.socket(family, kind, 0, fd)
        sock.setblocking(False)
        peer = peer_text(address, listener.node) if host.on_event is not None else "?"
        Connection(host, sock, peer)
    return None
