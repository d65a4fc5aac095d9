"""TLS in front of the bundled server: a ``tls:`` listener (``rpccli serve --bind tls:...``).

asyncio does the handshake (within the server's socket timeout) and the TLS records; each
connection is then handed to an ordinary :class:`~.connection.Connection` through a socket pair,
so the request rules, limits and log lines are exactly those of a plain socket (docs/tls.md).
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import socket
import ssl
from typing import TYPE_CHECKING

from .connection import Connection, peer_text
from .listen import Listener

if TYPE_CHECKING:
    from . import Server

__all__ = ["serve_tls"]

_CHUNK = 64 * 1024


async def serve_tls(server: Server, listener: Listener, context: ssl.SSLContext) -> asyncio.Server:
    """Accept TLS connections on ``listener`` for ``server``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        inner, outer = socket.socketpair()
        sock = _socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, inner.detach())
        sock.setblocking(False)
        peer = writer.get_extra_info("peername")
        shown = peer_text(peer, listener.node) if server.on_event is not None else "?"
        Connection(server, sock, shown)
        try:
            back_reader, back_writer = await asyncio.open_unix_connection(sock=outer)
        except OSError:
            outer.close()
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, back_writer, half_close=True),
            _pipe(back_reader, writer, half_close=False),
        )

    return await asyncio.start_server(
        handle,
        sock=listener.sock,
        ssl=context,
        ssl_handshake_timeout=server.socket_timeout,
        limit=_CHUNK,
    )


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, half_close: bool
) -> None:
    """Copy until EOF; then half-close (towards the server) or close (towards the client: the
    answer is complete, and TLS sends its close_notify)."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()
            return
    except (OSError, ssl.SSLError):
        pass
    with contextlib.suppress(OSError, ssl.SSLError):
        writer.close()
