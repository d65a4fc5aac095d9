"""Small scripted peers on real loopback sockets, for misbehaviour that uWSGI never produces.

Each peer listens on 127.0.0.1 (or a unix / abstract socket), and runs ``script(conn, peer)`` in
a thread for every connection. Scripts stop when ``peer.stopping`` is set; leaving the ``with``
block closes the listener and joins every thread it started.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peers import free_port, short_tmpdir

Script = Callable[[socket.socket, "Peer"], None]


class Peer:
    def __init__(
        self,
        script: Script,
        kind: str = "tcp",
        *,
        backlog: int = 16,
        accept_after: float = 0,
        rcvbuf: int = 0,
    ) -> None:
        self.script = script
        self.accept_after = accept_after
        self.stopping = threading.Event()
        self.requests: list[bytes] = []
        self._threads: list[threading.Thread] = []
        self._dir: Path | None = None
        if kind == "tcp":
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", 0))
            self.node = f"127.0.0.1:{self.listener.getsockname()[1]}"
        else:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if kind == "unix":
                self._dir = short_tmpdir()
                self.node = str(self._dir / "peer.sock")
                self.listener.bind(self.node)
            else:
                name = f"rpccli-peer-{os.getpid()}-{free_port()}"
                # "abstract" binds like uWSGI (trailing NUL counted), "abstract-plain" like most
                # other programs; clients reach both
                tail = b"" if kind == "abstract-plain" else b"\0"
                self.listener.bind(b"\0" + name.encode() + tail)
                self.node = "@" + name
        if rcvbuf:  # inherited by accepted sockets: a small one makes a big request wait
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.listener.listen(backlog)
        self.listener.settimeout(0.05)
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        self.stopping.wait(self.accept_after)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        # the client going away first is what several tests provoke
        with conn, contextlib.suppress(OSError):
            self.script(conn, self)

    def close(self) -> None:
        self.stopping.set()
        self._accepting.join(5)
        self.listener.close()
        for thread in self._threads:
            thread.join(5)
        if self._dir is not None:
            for path in self._dir.iterdir():
                path.unlink()
            self._dir.rmdir()


@contextmanager
def peer(script: Script, kind: str = "tcp", **options: float) -> Iterator[Peer]:
    server = Peer(script, kind, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.close()


# ---- building blocks for scripts ----


def recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_request(conn: socket.socket, peer: Peer) -> bytes:
    """Read one uwsgi packet (header + body) and remember it in ``peer.requests``."""
    header = recv_exactly(conn, 4)
    (size,) = struct.unpack_from("<H", header, 1) if len(header) == 4 else (0,)
    request = header + recv_exactly(conn, size)
    peer.requests.append(request)
    return request


def reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the client sees ECONNRESET instead of an orderly EOF."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def wait(peer: Peer, seconds: float) -> None:
    peer.stopping.wait(seconds)


def answer(data: bytes) -> Script:
    """A peer that reads the request, sends ``data`` and closes, like uWSGI."""

    def script(conn: socket.socket, peer: Peer) -> None:
        read_request(conn, peer)
        conn.sendall(data)

    return script


def trickle(conn: socket.socket, peer: Peer) -> None:
    """Send one byte every 0.2 s, forever: only a whole-call deadline stops the client."""
    read_request(conn, peer)
    # a valid answer, one byte at a time: header (ad ff ff 00), then body bytes
    data = b"\xad\xff\xff\x00" + b"x" * 65535
    for i in range(len(data)):
        if peer.stopping.is_set():
            return
        conn.sendall(data[i : i + 1])
        wait(peer, 0.2)


def silent(conn: socket.socket, peer: Peer) -> None:
    read_request(conn, peer)
    wait(peer, 30)


def reset_after(data: bytes) -> Script:
    """Send ``data``, let the client read it, then reset the connection."""

    def script(conn: socket.socket, peer: Peer) -> None:
        read_request(conn, peer)
        if data:
            conn.sendall(data)
            time.sleep(0.2)
        reset(conn)

    return script


def reject_big_header(conn: socket.socket, peer: Peer) -> None:
    """uWSGI's answer to a body over --buffer-size: read the header only, then close
    (docs/protocol.md#buffer-size)."""
    peer.requests.append(recv_exactly(conn, 4))
    reset(conn)


def fill_backlog(address: tuple[str, int]) -> list[socket.socket]:
    """Connect to a listener that does not accept until a connect hangs (its queue is full:
    Linux then drops new SYNs, and connecting clients retry after about a second)."""
    held: list[socket.socket] = []
    for _ in range(8):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.append(sock)
        sock.settimeout(0.2)
        try:
            sock.connect(address)
        except TimeoutError:
            break
    return held


@contextmanager
def full_backlog() -> Iterator[str]:
    """A listening socket that never accepts, its queue filled: connects to it hang."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    held = fill_backlog(listener.getsockname())
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        for sock in held:
            sock.close()
        listener.close()
