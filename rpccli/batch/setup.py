"""How a call of the batch engine (rpccli.batch.engine) gets going other than the plain TCP way
that Loop.start() writes out: what a node needs worked out once, a failed send's error, a TLS
handshake, and the blocking exchange for a host name that needs DNS. The base of its Loop."""

from __future__ import annotations

import _socket
import os
import socket
from typing import Any

import rpccli.batch.tlsstate as _tls  # ssl only once a node uses TLS
from protocol import Client, failures
from protocol.errors import CallError, RPCError
from rpccli.batch.calls import CONNECTING, HANDSHAKE, SENDING, Call
from rpccli.batch.endings import Endings

__all__ = ["Setup"]


class Setup(Endings):
    """The part of the loop for the less usual starts; :class:`Loop` has the usual one."""

    _targets: dict[Client, tuple[Any, ...]]
    handshakes: list[int]  # TLS handshakes done: [full, resumed]

    def _succeed(self, call: Call, body: bytes, elapsed: float, node: str) -> None:
        raise NotImplementedError

    def _target(self, client: Client) -> tuple[Any, ...]:
        """What start() needs of ``client``, worked out once per client (is_literal parses the
        IP, family and sockaddr are properties)."""
        address = client.address
        if client.ssl_context is not None:
            _tls.tls_on()
        target = (
            address.is_literal,
            address.family,
            address.sockaddr,
            client.ssl_context,
            client.timeout,
            client.connect_timeout,
            client.node,
        )
        self._targets[client] = target
        return target

    def _send_failed(self, call: Call, sock: _socket.socket, exc: OSError) -> CallError:
        """What a failed send of ``call``'s request says."""
        client = call.clients[call.attempt]
        if call.state == CONNECTING:
            return failures.connect_failed(client.node, exc)
        if isinstance(sock, _tls.SSLSocket) and not call.pos:
            from protocol.tls import handshake_failed

            name = client.server_name or client.address.host
            return handshake_failed(client.node, exc, name, client.ssl_context, after=True)
        return failures.reset(client.node, call.function, len(call.request), 0)

    def _handshake(self, call: Call) -> bool:
        """Move a TLS connection on: the TCP connect, then the handshake; True once done."""
        sock = call.sock
        client = call.client
        assert isinstance(sock, _tls.SSLSocket)
        if call.state == CONNECTING:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise failures.connect_failed(client.node, OSError(code, os.strerror(code)))
            call.state = HANDSHAKE
        try:
            sock.do_handshake()
        except _tls.WOULD_BLOCK:
            return False
        except OSError as exc:
            from protocol.tls import handshake_failed

            name = client.server_name or client.address.host
            raise handshake_failed(client.node, exc, name, client.ssl_context) from None
        self.handshakes[bool(sock.session_reused)] += 1
        call.state = SENDING
        return True

    def _blocking(self, call: Call) -> None:
        client = call.client
        try:
            result = client.exchange(call.request, function=call.function)
        except RPCError as exc:
            self._failed(call, exc)
            if call.result is None:
                self.start(call)
            return
        self._succeed(call, result.body, result.timings.total, client.node)
