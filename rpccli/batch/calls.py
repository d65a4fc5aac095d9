"""One call of ``rpccli batch`` (and ``rpccli bench``) on its way through the event loop: the
nodes to try in order, the request, the socket and reader while it runs, its result when done.

A call's ``result`` is None while it runs; then the answer's body (bytes: ``node`` and
``elapsed`` are set too) or, when it failed, its record (a dict with its ``error``). The output
takes a successful call's record from the call itself: no dict is built and filled per input
line (about 3,000 instructions a line, bench/README.md)."""

from __future__ import annotations

import _socket
from typing import Any

from protocol import Client, Health
from protocol.reader import ResponseReader

__all__ = [
    "CONNECTING",
    "HANDSHAKE",
    "READING",
    "SENDING",
    "SETTING_UP",
    "Call",
    "answer_record",
    "failure_record",
]

#: where a call is (Call.state)
CONNECTING, SENDING, READING, HANDSHAKE = 1, 2, 3, 4
SETTING_UP = (CONNECTING, HANDSHAKE)  # TLS: connect then handshake, in --connect-timeout


class Call:
    """One call: the nodes to try in order, the request, and (when done) its result dict."""

    __slots__ = (
        "args",
        "attempt",
        "best",
        "clients",
        "connect_deadline",
        "connected",
        "deadline",
        "elapsed",
        "fd",
        "function",
        "health",
        "json",
        "line",
        "node",
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

    # set by Loop.start() for each attempt
    fd: int  # the socket's, while it is open
    state: int
    pos: int  # of the request, sent so far
    received: int
    reader: ResponseReader | None  # built only when the answer does not come whole at once
    deadline: float
    connect_deadline: float
    # set by the loop when the call succeeds (with result, the body)
    node: str
    elapsed: float  # seconds

    clients: list[Client]
    request: bytes
    function: str
    line: int  # the input line's number (batch; 0 in bench)
    args: list[bytes]
    json: bytes | None  # the JSON of function and args, when the line gave it (batch/plain.py)
    health: Health | None
    retry_unsafe: bool
    best: bool  # strategy best: a failover goes to the best node left, by health now
    attempt: int
    #: None while it runs; once done, the answer's body or a failure's record
    result: bytes | dict[str, Any] | None
    sock: _socket.socket | None

    def renew(
        self,
        clients: list[Client],
        request: bytes,
        function: str,
        line: int,
        args: list[bytes],
        json: bytes | None = None,
        health: Health | None = None,
        retry_unsafe: bool = False,
        best: bool = False,
    ) -> None:
        """Make this a new call (``__init__`` is this method too): batch reuses the calls whose
        records are written (rpccli.batch.ordered), as a new object and its deallocation cost
        about 1,000 instructions more (bench/README.md)."""
        # only what is read before Loop.start() is set here (positional arguments, no
        # keywords: a call with keywords builds a dict); start() sets the socket's fields (fd,
        # state, pos, received, reader, deadlines) before any use
        self.clients = clients
        self.request = request
        self.function = function
        self.line = line
        self.args = args
        self.json = json
        self.health = health
        self.retry_unsafe = retry_unsafe
        self.best = best
        self.attempt = 0
        self.result = None
        self.sock = None
        self.start = self.connected = 0.0

    __init__ = renew

    def record(self) -> dict[str, Any]:
        """The record of a call that succeeded, as a dict (the output's full way)."""
        return answer_record(
            self.node, self.result, self.elapsed, self.line, self.function, self.args
        )

    def failed(self, node: str, error: Exception, elapsed: float | None) -> dict[str, Any]:
        """The record of a call that failed on ``node``."""
        return failure_record(node, error, elapsed, self.line, self.function, self.args)

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


def answer_record(
    node: str, body: object, elapsed: float, line: int, function: str, args: list[bytes]
) -> dict[str, Any]:
    """The record of an answered call as rpccli.batch.output writes it (a call's, or --local's)."""
    return {
        "node": node,
        "body": body,
        "elapsed": elapsed,
        "line": line,
        "function": function,
        "args": args,
    }


def failure_record(
    node: str | None,
    error: Exception,
    elapsed: float | None,
    line: int,
    function: str | None,
    args: list[bytes],
) -> dict[str, Any]:
    """The record of a call that failed, or of a line never sent (a bad line: no node, no
    time), as rpccli.batch.output writes it."""
    return {
        "node": node,
        "error": error,
        "elapsed": elapsed,
        "line": line,
        "function": function,
        "args": args,
    }
