"""One call of ``rpccli batch`` (and ``rpccli bench``) on its way through the event loop: the
nodes to try in order, the request, the socket and reader while it runs, its result when done."""

from __future__ import annotations

import _socket
from typing import Any

from protocol import Client, Health
from protocol.reader import ResponseReader

__all__ = ["CONNECTING", "HANDSHAKE", "READING", "SENDING", "SETTING_UP", "Call"]

#: where a call is (Call.state)
CONNECTING, SENDING, READING, HANDSHAKE = 1, 2, 3, 4
SETTING_UP = (CONNECTING, HANDSHAKE)  # TLS: connect then handshake, in --connect-timeout


class Call:
    """One call: the nodes to try in order, the request, and (when done) its result dict."""

    __slots__ = (
        "attempt",
        "best",
        "clients",
        "connect_deadline",
        "connected",
        "deadline",
        "fd",
        "first",
        "function",
        "health",
        "info",
        "pos",
        "reader",
        "received",
        "request",
        "result",
        "retry_unsafe",
        "sock",
        "start",
        "state",
    )

    def __init__(
        self,
        clients: list[Client],
        request: bytes,
        function: str,
        info: dict[str, Any],
        *,
        health: Health | None = None,
        retry_unsafe: bool = False,
        best: bool = False,
    ) -> None:
        self.clients = clients
        self.request = request
        self.function = function
        self.info = info  # line, function, args: a success adds its answer and is its result
        self.health = health
        self.retry_unsafe = retry_unsafe
        self.best = best  # strategy best: a failover goes to the best node left, by health now
        self.attempt = 0
        self.result: dict[str, Any] | None = None
        self.sock: _socket.socket | None = None
        self.fd = -1  # the socket's, while it is open
        self.state = 0
        self.pos = 0
        self.received = 0
        self.reader: ResponseReader | None = None
        self.start = self.connected = self.first = 0.0
        self.deadline = self.connect_deadline = 0.0

    @property
    def client(self) -> Client:
        return self.clients[self.attempt]

    def fail_over(self) -> None:
        """Move on to the next node. For ``best`` the rest is ordered again: the calls started
        since this one was ordered count, so that a refusal learned late does not hand this
        call to a node just chosen."""
        self.attempt += 1
        health = self.health
        if self.best and health is not None:
            rest = self.clients[self.attempt :]
            self.clients[self.attempt :] = sorted(rest, key=lambda c: health.rank(c.node))
