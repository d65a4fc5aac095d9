"""The concurrent engine of ``rpccli batch``: many calls in flight on ONE thread (epoll).

Threads were tried first: with 16 of them, handing the GIL back and forth cost more than the
calls (most of the time went to futex system calls). uWSGI serves one request per connection
(docs/protocol.md#requests), so a call is connect, send, read until done, close: a small state
machine per socket, driven by epoll. Messages and verdicts are the blocking client's
(``protocol.failures``); failover follows ``protocol.may_retry``. The calls are
:class:`rpccli.batch.calls.Call`; :func:`rpccli.batch.ordered.run` feeds this loop and writes the
results in input order.

Ctrl-C (a :class:`rpccli.batch.stop.Stop`) ends the run without losing a record: no more input is
taken and no request sent; answers that have already arrived are read; every call still waiting
for its answer gets an ``interrupted`` record (it was sent: the node may have run it), and every
result goes out in input order. So each line taken from the input has exactly one record.
"""

from __future__ import annotations

import _socket
import errno
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import rpccli.batch.tlsstate as _tls  # ssl only once a node uses TLS
from protocol import Client, failures
from protocol.errors import CallError, NoResult
from protocol.reader import ResponseReader
from rpccli.batch.calls import CONNECTING, READING, SENDING, SETTING_UP, Call
from rpccli.batch.setup import Setup
from rpccli.batch.stop import Stop

__all__ = ["Call", "Loop"]

_CHUNK = 256 * 1024
_BOTH = select.EPOLLIN | select.EPOLLOUT | select.EPOLLET
_IN = select.EPOLLIN | select.EPOLLET
_STREAM_NONBLOCK = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
_AF_UNIX = socket.AF_UNIX
_SOL_SOCKET, _SO_LINGER = socket.SOL_SOCKET, socket.SO_LINGER
_LINGER_0 = struct.pack("ii", 1, 0)  # struct linger: on, 0 seconds: close() sends a reset
_MSG_PEEK = socket.MSG_PEEK
_monotonic = time.monotonic
_write = os.write
_IN_PROGRESS = {errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK}


class Loop(Setup):
    """An epoll loop with as few system calls per call as it takes: non-blocking sockets from
    the start, one edge-triggered registration for both directions, no SO_ERROR query (the send
    reports a failed connect), reads into one reused buffer, and no unregister (closing a socket
    removes it from epoll)."""

    def __init__(self, stop: Stop | None = None) -> None:
        self.epoll = select.epoll()
        self.stopping = False  # Ctrl-C came: no request goes out any more
        if stop is not None:
            self.epoll.register(stop.fd, select.EPOLLIN)  # Ctrl-C wakes the poll
        self.inflight: dict[int, Call] = {}
        self._input: int | None = None  # the stdin fd, once registered
        self._buffer = bytearray(_CHUNK)
        self._view = memoryview(self._buffer)
        self._targets: dict[Client, tuple[Any, ...]] = {}
        # no call in flight times out before this: a lower bound, kept as calls start and made
        # exact only after a time-out check (a min over every call in flight per poll costs
        # O(in flight) each round: with hundreds in flight, more than the calls)
        self._soonest = float("inf")
        #: when a list, every call that has its final result is appended to it (rpccli bench)
        self.finished: list[Call] | None = None
        #: whether Call.connected is taken (rpccli bench tallies connect times; batch does not)
        self.connect_times = True
        #: TLS handshakes done: [full, resumed]
        self.handshakes = [0, 0]

    def close(self) -> None:
        for call in list(self.inflight.values()):
            self._close(call)
        self.epoll.close()

    # -- starting ----------------------------------------------------------------------------
    def start(self, call: Call) -> None:
        while call.result is None:
            if self.stopping:  # a failover after Ctrl-C: the next node is not tried
                self._cut(call, sent=False)
                return
            client = call.clients[call.attempt]
            target = self._targets.get(client)
            if target is None:
                target = self._target(client)
            literal, family, sockaddr, tls, timeout, connect_timeout, node = target
            if call.health is not None:
                call.health.chosen(node)  # what "best" goes by (least recently chosen)
            if not literal:
                # a DNS name: the blocking client resolves and tries every address (rare in
                # batch; names are usually literals or profiles of literals)
                self._blocking(call)
                return
            now = _monotonic()
            call.start = now
            deadline = call.deadline = now + timeout
            connect_deadline = now + connect_timeout
            if connect_deadline > deadline:
                connect_deadline = deadline
            call.connect_deadline = connect_deadline
            if connect_deadline < self._soonest:
                self._soonest = connect_deadline
            call.received = call.pos = 0
            call.reader = None  # built at the first read, unless the answer came whole (_event)
            # socket.socket for unix paths, its C base type for TCP
            sock: _socket.socket | None = None
            try:
                if family == _AF_UNIX:
                    # a unix connect does not complete later: do it blocking, it is immediate
                    sock = socket.socket(family, socket.SOCK_STREAM)
                    sock.settimeout(max(connect_deadline - now, 0.001))
                    sock.connect(client.address.sockaddrs[0])
                    sock.setblocking(False)
                    code = 0
                elif tls is not None:
                    # the handshake goes on under epoll too (_handshake); the session of an
                    # earlier connection to the node is offered for resumption
                    name = client.server_name or client.address.host
                    from protocol.tls import nodelay, session_for

                    sock = tls.wrap_socket(
                        nodelay(socket.socket(family, _STREAM_NONBLOCK)),
                        server_hostname=name if tls.check_hostname else None,
                        do_handshake_on_connect=False,
                        session=session_for(tls, node, name),
                    )
                    code = sock.connect_ex(sockaddr)
                else:
                    # non-blocking from the start: no extra ioctl per call
                    # the C socket type: socket.socket's Python layer costs microseconds per call
                    sock = _socket.socket(family, _STREAM_NONBLOCK)
                    code = sock.connect_ex(sockaddr)
            except TimeoutError:
                if sock is not None:
                    sock.close()
                self._failed(call, failures.connect_timed_out(node, connect_timeout))
                continue
            except OSError as exc:
                if sock is not None:
                    sock.close()
                self._failed(call, failures.connect_failed(node, exc))
                continue
            if code and code not in _IN_PROGRESS:
                sock.close()
                self._failed(call, failures.connect_failed(node, OSError(code, os.strerror(code))))
                continue
            call.sock = sock
            fd = call.fd = sock.fileno()
            self.inflight[fd] = call
            # Edge-triggered: one epoll_ctl per call, no modify.
            if tls is not None:
                # sending before the handshake is done costs a failed send: wait for EPOLLOUT
                call.state = CONNECTING
                self.epoll.register(fd, _BOTH)
                return
            # Plain TCP: loopback finishes the handshake inside connect() (even when it says
            # EINPROGRESS), so the request goes out now; when it all went, only the answer is
            # waited for (EPOLLIN: no EPOLLOUT wake-up and no empty read). _send, written out
            # for the first send (once per input line). os.write: write(2) on a socket is
            # send(2) with no flags, and os.write takes its arguments for a third less than
            # socket.send's PyArg_ParseTuple (540 instructions a call, bench/README.md)
            request = call.request
            try:
                sent = _write(fd, request)
            except _tls.WOULD_BLOCK:
                call.state = CONNECTING if code else SENDING
                self.epoll.register(fd, _BOTH)  # still connecting, or the buffer is full
                return
            except OSError as exc:
                call.state = CONNECTING if code else SENDING
                self._failed(call, self._send_failed(call, sock, exc))
                continue
            if code and self.connect_times:
                call.connected = _monotonic()
            call.pos = sent
            if sent < len(request):
                call.state = SENDING
                self.epoll.register(fd, _BOTH)
            else:
                call.state = READING
                self.epoll.register(fd, _IN)
            return

    def _send(self, call: Call) -> bool:
        """Send what is left of the request; True when all of it is sent."""
        sock = call.sock
        assert sock is not None
        try:
            call.pos += sock.send(call.request[call.pos :] if call.pos else call.request)
        except _tls.WOULD_BLOCK:
            return False  # still connecting, or the buffer is full
        except OSError as exc:
            raise self._send_failed(call, sock, exc) from None
        if call.state == CONNECTING:
            call.connected = _monotonic()
            call.state = SENDING
        if call.pos < len(call.request):
            return False
        call.state = READING
        return True

    def _succeed(self, call: Call, body: bytes, elapsed: float, node: str) -> None:
        """Close the connection, record the answer ``body`` (_event writes this out for the
        usual answer: keep the two alike)."""
        sock = call.sock
        if sock is not None:
            client = call.clients[call.attempt]
            tls = client.ssl_context
            if tls is not None and isinstance(sock, _tls.SSLSocket) and not sock.session_reused:
                # a new session is kept for the next connections; a resumed one is already there
                from protocol.tls import remember_session

                name = client.server_name or client.address.host
                remember_session(tls, node, name, sock)
            elif type(sock) is _socket.socket:
                # the whole answer is in: end the connection with a reset rather than the
                # FIN/ACK exchange and the TIME_WAIT it leaves (docs/protocol.md#requests)
                sock.setsockopt(_SOL_SOCKET, _SO_LINGER, _LINGER_0)
            del self.inflight[call.fd]
            sock.close()  # closing also removes it from the epoll set
            call.sock = None
        if call.health is not None:
            call.health.mark_up(node)
        call.node = node
        call.elapsed = elapsed
        call.result = body  # (rpccli.batch.calls)
        if self.finished is not None:
            self.finished.append(call)

    # -- events ------------------------------------------------------------------------------
    def _watch_input(self, fd: int) -> bool:
        """Wake the next poll when ``fd`` becomes readable (one shot); False if it cannot."""
        try:
            if self._input is None:
                self.epoll.register(fd, select.EPOLLIN | select.EPOLLONESHOT)
                self._input = fd
            else:
                self.epoll.modify(fd, select.EPOLLIN | select.EPOLLONESHOT)
        except OSError:
            return False
        return True

    def poll(
        self,
        input_fd: int | None = None,
        before_blocking: Callable[[], None] | None = None,
        until: float | None = None,
    ) -> None:
        """Handle what the sockets (and ``input_fd``) have; ``before_blocking`` runs only when
        nothing is ready yet, so a busy loop does not write its output after every round. The
        wait ends at ``until`` (a monotonic time) at the latest."""
        now = time.monotonic()
        soonest = self._soonest
        wait = max(min(soonest, until if until is not None else soonest) - now, 0)
        if input_fd is not None and not self._watch_input(input_fd):
            wait = min(wait, 0.01)  # an fd epoll refuses: look at the input again soon
        inflight = self.inflight
        if before_blocking is None:
            events = self.epoll.poll(wait)
        else:
            events = self.epoll.poll(0)
            if not events:
                before_blocking()
                events = self.epoll.poll(wait)
        for fd, _ in events:
            call = inflight.get(fd)
            if call is None:
                continue
            try:
                self._event(call)
            except CallError as exc:
                self._failed(call, exc)
                if call.result is None:
                    self.start(call)
        if time.monotonic() >= soonest:
            self._expire()  # a deadline has come (not in the usual round)

    def _event(self, call: Call) -> None:
        sock = call.sock
        reader = call.reader
        assert sock is not None
        if call.state != READING:
            tls = call.state in SETTING_UP and call.clients[call.attempt].ssl_context is not None
            if tls and not self._handshake(call):
                return
            if call.state != READING and not self._send(call):
                # a failed connect shows up as the send's error: no getsockopt(SO_ERROR) needed
                return
        # edge-triggered: read until the answer is complete or the socket has nothing more
        buffer = self._buffer
        # plain TCP's first read only looks (MSG_PEEK): an answer that came whole stays unread,
        # so closing the socket ends the connection with a reset (RFC 2525 2.17; Linux
        # tcp_close) without the setsockopt(SO_LINGER) that _succeed makes otherwise -- a
        # system call, and CPython's setsockopt parses a bytes value only on its third try,
        # formatting two TypeErrors first (8,000 instructions a call, bench/README.md)
        peek = reader is None and type(sock) is _socket.socket
        while True:
            try:
                # into one reused buffer: a fresh 256 KiB bytes object per recv costs mmap,
                # mremap and munmap system calls
                size = sock.recv_into(buffer, 0, _MSG_PEEK) if peek else sock.recv_into(buffer)
            except _tls.WOULD_BLOCK:
                return
            except OSError as exc:
                client = call.clients[call.attempt]
                if isinstance(sock, _tls.SSLSocket) and not call.received:
                    # an alert or a close right after the handshake: the client certificate
                    from protocol.tls import handshake_failed

                    name = client.server_name or client.address.host
                    raise handshake_failed(
                        client.node, exc, name, client.ssl_context, after=True
                    ) from None
                raise failures.reset(
                    client.node, call.function, len(call.request), call.received
                ) from None
            if size:
                if reader is None:  # the first read
                    n = buffer[1] | buffer[2] << 8 if size >= 4 else 0
                    if n and size == n + 4 and not buffer[3] and not call.request[3]:
                        client = call.clients[call.attempt]
                        if n <= client.max_response:
                            # the usual answer: a plain packet, whole in one read. What a
                            # ResponseReader says of it, without building one
                            # (docs/protocol.md#responses)
                            call.received = size
                            body = self._view[4:size].tobytes()
                            elapsed = _monotonic() - call.start
                            if not peek:
                                self._succeed(call, body, elapsed, client.node)
                                return
                            # _succeed, written out for the usual answer (once per input line)
                            del self.inflight[call.fd]
                            sock.close()  # with the answer unread: a reset (see above)
                            call.sock = None
                            if call.health is not None:
                                call.health.mark_up(client.node)
                            call.node = client.node
                            call.elapsed = elapsed
                            call.result = body
                            if self.finished is not None:
                                self.finished.append(call)
                            return
                    if peek:  # read again, for real: the reader takes what was only looked at
                        peek = False
                        continue
                    reader = call.reader = _reader(call)
                call.received += size
                if not reader.feed(self._view[:size]):
                    continue
                body = reader.body  # done: all of it, no Response object needed
            else:
                if reader is None:
                    reader = call.reader = _reader(call)
                try:
                    body = reader.feed_eof().body
                except NoResult:
                    client = call.clients[call.attempt]
                    raise failures.no_result(
                        client.node, call.function, len(call.request)
                    ) from None
            self._succeed(call, body, _monotonic() - call.start, call.clients[call.attempt].node)
            return


def _reader(call: Call) -> ResponseReader:
    """The reader of ``call``'s answer (ResponseReader.for_request)."""
    client = call.clients[call.attempt]
    return ResponseReader.for_request(call.request, max_size=client.max_response, node=client.node)
