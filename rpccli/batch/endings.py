"""How a call of the batch engine (rpccli.batch.engine) ends other than with its answer: a
failure (and the failover it may lead to), a time-out, or Ctrl-C. The base of its Loop."""

from __future__ import annotations

import select
import time

from protocol import failures, may_retry
from protocol.errors import CallError, RPCError
from rpccli.batch.calls import READING, SETTING_UP, Call
from rpccli.errors import Interrupted

__all__ = ["Endings"]


class Endings:
    """The part of the loop that finishes calls with an error; :class:`Loop` starts and reads
    them."""

    epoll: select.epoll
    inflight: dict[int, Call]
    stopping: bool  # Ctrl-C came: no request goes out any more
    finished: list[Call] | None  # every call that has its final result, when a list
    _soonest: float  # no call in flight times out before this

    def start(self, call: Call) -> None:
        raise NotImplementedError

    def _event(self, call: Call) -> None:
        raise NotImplementedError

    def _close(self, call: Call) -> None:
        sock = call.sock
        if sock is not None:
            self.inflight.pop(call.fd, None)
            sock.close()  # closing also removes it from the epoll set
            call.sock = None

    def _failed(self, call: Call, error: RPCError) -> None:
        """Record ``error``; move on to the next node when that is safe, else finish."""
        self._close(call)
        node = call.clients[call.attempt].node
        retry = may_retry(error)
        if call.health is not None and retry:
            call.health.mark_down(node)
        if call.attempt + 1 < len(call.clients) and may_retry(
            error, retry_unsafe=call.retry_unsafe
        ):
            call.fail_over()
            return
        call.result = call.failed(
            node, error, time.monotonic() - call.start if call.start else None
        )
        if self.finished is not None:
            self.finished.append(call)

    def _cut(self, call: Call, *, sent: bool) -> None:
        """Finish ``call`` as interrupted: ``sent`` when its whole request had gone out."""
        self._close(call)
        node = call.clients[call.attempt].node
        if sent:
            message = f"interrupted while waiting for {node}'s answer: the call may have run there"
        else:
            message = f"not sent to {node}: interrupted"
        call.result = call.failed(
            node,
            Interrupted(message, sent=sent),
            time.monotonic() - call.start if call.start else None,
        )
        if self.finished is not None:
            self.finished.append(call)

    def interrupt(self) -> None:
        """Ctrl-C: read the answers that are already here, cut off every other call."""
        self.stopping = True
        for fd, _ in self.epoll.poll(0):
            call = self.inflight.get(fd)
            if call is None or call.state != READING:
                continue  # a request not yet all sent stays unsent: no send after Ctrl-C
            try:
                self._event(call)
            except CallError as exc:
                self._failed(call, exc)
                if call.result is None:  # it would fail over: not sent to the next node
                    self._cut(call, sent=False)
        for call in list(self.inflight.values()):
            self._cut(call, sent=call.state == READING)

    def _expire(self) -> None:
        """Fail the calls whose deadline has come; then make ``_soonest`` exact again."""
        now = time.monotonic()
        inflight = self.inflight
        for call in [c for c in inflight.values() if c.state in SETTING_UP]:
            if now >= call.connect_deadline:
                client = call.clients[call.attempt]
                self._failed(call, failures.connect_timed_out(client.node, client.connect_timeout))
                if call.result is None:
                    self.start(call)
        for call in [c for c in inflight.values() if now >= c.deadline]:
            client = call.clients[call.attempt]
            self._failed(
                call, failures.response_timed_out(client.node, client.timeout, call.received)
            )
        self._soonest = min(
            (
                c.connect_deadline if c.state in SETTING_UP else c.deadline
                for c in inflight.values()
            ),
            default=float("inf"),
        )
