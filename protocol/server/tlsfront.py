"""TLS in front of the bundled server: a ``tls:`` listener (``rpccli serve --bind tls:...``).

Each accepted connection is checked and its TLS done here, with an :class:`ssl.SSLObject` over
memory buffers and the loop's socket calls (no asyncio TLS transport: its handshake errors
drop the alert, and start_tls hung handshakes under uvloop); the plaintext is handed to an
ordinary :class:`~.connection.Connection` through a socket pair, so the request rules, limits
and log lines are exactly those of a plain socket (docs/tls.md).

Where a client goes wrong it is answered as uWSGI's ``--suwsgi-socket`` answers
(docs/protocol.md#tls): a plain uwsgi request (a first byte that does not open a TLS
handshake record) is reset, and a failed handshake sends OpenSSL's alert -- certificate
required, or the reason a client certificate was refused -- before closing.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import socket
import ssl
import struct
from typing import TYPE_CHECKING

from .connection import Connection, peer_text
from .listen import Listener

if TYPE_CHECKING:
    from . import Server

__all__ = ["TLSFront", "serve_tls"]

_CHUNK = 64 * 1024
_HANDSHAKE_RECORD = 0x16  # the content type of a TLS record that opens a handshake


class TLSFront:
    """Accepts TLS connections on one listener until closed."""

    def __init__(self, server: Server, listener: Listener, context: ssl.SSLContext) -> None:
        self._server = server
        self._listener = listener
        self._context = context
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = asyncio.get_running_loop().create_task(self._accept())

    def close(self) -> None:
        """Stop accepting; connections under way finish on their own."""
        self._accepting.cancel()

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(self._listener.sock)
            except (ConnectionAbortedError, InterruptedError):
                continue
            except OSError:
                await asyncio.sleep(0.5)  # out of file descriptors: pause, do not spin
                continue
            sock.setblocking(False)
            task = loop.create_task(self._serve(sock, address))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket, address: object) -> None:
        with sock:
            try:
                tls = await asyncio.wait_for(
                    _handshake(sock, self._context), self._server.socket_timeout
                )
            except (TimeoutError, OSError, EOFError):
                return
            if tls is None:
                return
            await self._relay(sock, tls, address)

    async def _relay(self, sock: socket.socket, tls: _Tls, address: object) -> None:
        inner, outer = socket.socketpair()
        back = _socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, inner.detach())
        back.setblocking(False)
        server = self._server
        shown = peer_text(address, self._listener.node) if server.on_event is not None else "?"
        Connection(server, back, shown)
        try:
            reader, writer = await asyncio.open_unix_connection(sock=outer, limit=_CHUNK)
        except OSError:
            outer.close()
            return
        try:
            await asyncio.gather(_inward(tls, writer), _outward(tls, reader))
        finally:
            with contextlib.suppress(OSError):
                writer.close()


class _Tls:
    """One server-side TLS connection: the SSLObject and the socket its records travel on."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    async def flush(self) -> None:
        if data := self.outgoing.read():
            await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def receive(self) -> bool:
        """Feed the next records from the socket; False at its end."""
        data = await asyncio.get_running_loop().sock_recv(self.sock, _CHUNK)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()
        return bool(data)


async def _handshake(sock: socket.socket, context: ssl.SSLContext) -> _Tls | None:
    """The TLS connection once its handshake is done, or None when the client was answered as
    uWSGI answers it (docs/protocol.md#tls): reset, or sent the handshake's alert."""
    loop = asyncio.get_running_loop()
    first = b""
    while not first:
        await _readable(loop, sock)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            continue
        if not first:
            return None  # closed before a byte
    if first[0] != _HANDSHAKE_RECORD:  # a plain uwsgi request (its modifier1): reset it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return None
    tls = _Tls(sock, context)
    while True:
        try:
            tls.obj.do_handshake()
        except ssl.SSLWantReadError:
            await tls.flush()
            if not await tls.receive() and not tls.incoming.pending:
                return None
            continue
        except ssl.SSLError:
            await tls.flush()  # the alert OpenSSL wrote: certificate required, unknown CA ...
            await _close_after_the_alert(sock)
            return None
        await tls.flush()
        return tls


async def _close_after_the_alert(sock: socket.socket) -> None:
    """Close after the alert, not with a reset that could overtake it: what the client sent
    after its half of the TLS 1.3 handshake (its request) is read and dropped until it closes
    (the handshake's deadline bounds the wait)."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        while await loop.sock_recv(sock, _CHUNK):
            pass


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready = loop.create_future()
    loop.add_reader(sock.fileno(), ready.set_result, None)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


async def _inward(tls: _Tls, writer: asyncio.StreamWriter) -> None:
    """Client to server: decrypt until the client's end, then half-close towards the server."""
    try:
        while True:
            try:
                while data := tls.obj.read(_CHUNK):
                    writer.write(data)
                    await writer.drain()
                break  # read() returns b"" at a close_notify
            except ssl.SSLWantReadError:
                await tls.flush()  # a read may answer (key updates)
                if not await tls.receive():
                    break
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, ssl.SSLError):
        with contextlib.suppress(OSError):
            writer.close()


async def _outward(tls: _Tls, reader: asyncio.StreamReader) -> None:
    """Server to client: encrypt until the answer is complete, then close_notify and close."""
    try:
        while data := await reader.read(_CHUNK):
            tls.obj.write(data)
            await tls.flush()
        with contextlib.suppress(ssl.SSLError):
            tls.obj.unwrap()
        await tls.flush()
    except (OSError, ssl.SSLError):
        pass
    with contextlib.suppress(OSError):
        tls.sock.shutdown(socket.SHUT_RDWR)


async def serve_tls(server: Server, listener: Listener, context: ssl.SSLContext) -> TLSFront:
    """Accept TLS connections on ``listener`` for ``server``."""
    return TLSFront(server, listener, context)
