"""Listening sockets for the bundled server: TCP (v4/v6), unix paths and abstract names.

The node syntax is the client's (:mod:`protocol.address`), so ``rpccli serve --bind X`` and
``rpccli call X`` accept the same strings. Port 0 asks for an ephemeral port; ``Listener.node``
always holds the real one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..address import Address, parse_address
from ..errors import UsageError

__all__ = ["BindError", "Listener", "bind", "spread"]


class BindError(UsageError):
    """The server cannot listen where it was asked to (in use, no permission, bad address)."""


@dataclass(slots=True)
class Listener:
    sock: socket.socket
    address: Address
    node: str
    unix: bool
    path: str | None = None  # a unix socket file we created (removed on close)
    inode: int | None = None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.path is None:
            return
        # remove the socket file only if it is still ours (not replaced by another server)
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)


def _explain(exc: OSError) -> str:
    reasons = {
        errno.EADDRINUSE: "address already in use",
        errno.EACCES: "permission denied",
        errno.EADDRNOTAVAIL: "address not available on this machine",
        errno.ENOENT: "no such directory",
    }
    return reasons.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()


def bind(text: str, *, backlog: int = 1024) -> Listener:
    """Create, bind and listen; raises :class:`BindError` naming the address."""
    address = _parse_bind(text)
    try:
        if address.kind == "tcp":
            return _bind_tcp(address, backlog)
        return _bind_unix(address, backlog)
    except BindError:
        raise
    except OSError as exc:
        raise BindError(f"cannot listen on {address}: {_explain(exc)}") from None


def spread(listener: Listener, count: int, *, backlog: int = 1024) -> list[Listener]:
    """``count`` listeners for ``count`` worker processes: on a TCP address, ``count`` sockets
    bound to it with ``SO_REUSEPORT`` (docs/serve.md#concurrency), else ``listener`` for all.

    With one shared socket every worker's event loop wakes up for every new connection and all
    but one find nothing to accept; with one socket each the kernel hands a connection to one of
    them. ``listener`` was bound without ``SO_REUSEPORT``, so an address already in use failed as
    it always does (a second server never joins another's group); its port (an ephemeral one
    too) is then taken over by the group. Closing them is the caller's (the parent keeps all of
    them open, so a worker that dies loses none of the connections queued for it).
    """
    reuseport = getattr(socket, "SO_REUSEPORT", None)
    if count < 2 or listener.unix or reuseport is None:
        return [listener] * count
    old = listener.sock
    family, sockaddr = old.family, old.getsockname()

    def bind_shared(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, reuseport, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)

    old.close()
    group: list[Listener] = []
    try:
        for _ in range(count):
            sock = _listening(family, bind_shared, backlog)
            group.append(Listener(sock, listener.address, listener.node, unix=False))
    except OSError as exc:
        for made in group:
            made.close()
        raise BindError(f"cannot listen on {listener.node}: {_explain(exc)}") from None
    return group


def _parse_bind(text: str) -> Address:
    # a client never connects to port 0, but a server may ask for an ephemeral port
    stripped = text.strip()
    if stripped.endswith(":0") and not stripped.startswith(("@", "unix:")) and "/" not in stripped:
        address = parse_address(stripped[:-1] + "1")
        return Address("tcp", host=address.host, port=0, tls=address.tls)
    return parse_address(stripped)


def _bind_tcp(address: Address, backlog: int) -> Listener:
    host = address.host
    if address.is_literal:
        family = address.family
        sockaddr: Any = (host, address.port)
    else:
        try:
            infos = socket.getaddrinfo(
                host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except OSError as exc:
            raise BindError(f"cannot listen on {address}: cannot resolve {host!r}") from exc
        # prefer IPv4 for names such as localhost, as most clients try it first
        infos.sort(key=lambda info: info[0] != socket.AF_INET)
        family, sockaddr = infos[0][0], infos[0][4]

    def bind_tcp(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)

    sock = _listening(family, bind_tcp, backlog)
    port = sock.getsockname()[1]
    bound = Address("tcp", host=address.host, port=port, tls=address.tls)
    return Listener(sock, bound, str(bound), unix=False)


def _bind_unix(address: Address, backlog: int) -> Listener:
    path = None if address.kind == "abstract" else address.path

    def bind_unix(sock: socket.socket) -> None:
        if path is None:
            sock.bind(address.sockaddr)
        else:
            _remove_stale(path)
            sock.bind(path)

    sock = _listening(socket.AF_UNIX, bind_unix, backlog)
    inode = os.stat(path).st_ino if path is not None else None
    return Listener(sock, address, str(address), unix=True, path=path, inode=inode)


def _listening(
    family: socket.AddressFamily, bind: Callable[[socket.socket], None], backlog: int
) -> socket.socket:
    """A new socket of ``family``, bound by ``bind``, listening and non-blocking; closed again
    when any step fails."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        bind(sock)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _remove_stale(path: str) -> None:
    """A socket file nobody listens on is left over from a killed server: replace it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise BindError(f"cannot listen on {path}: a file that is not a socket is in the way")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    except OSError:
        return
    finally:
        probe.close()
    raise BindError(f"cannot listen on {path}: another server is listening there")
