"""``rpccli batch``'s run: calls from the input started on the event loop
(:class:`rpccli.batch.engine.Loop`), results written in input order.

Results come out through a window of at most ``window`` entries, so memory stays constant however
many lines stream through.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from rpccli.batch.calls import Call
from rpccli.batch.engine import Loop
from rpccli.batch.stop import Stop, wait_input

__all__ = ["SKIP", "run"]


#: what a source yields for an input line that holds no call (blank, comment)
SKIP = object()


def _done(item: Call | dict[str, Any]) -> bool:
    return item.result is not None if isinstance(item, Call) else True


def run(
    source: Iterator[Call | dict[str, Any] | object],
    emit: Callable[[dict[str, Any] | Call], None],
    *,
    concurrency: int,
    window: int,
    flush: Callable[[], None] | None = None,
    input_ready: Callable[[], int] | None = None,
    input_fd: int | None = None,
    stop: Stop | None = None,
    spare: list[Call] | None = None,
) -> bool:
    """Start calls from ``source`` (ready dicts pass through), ``emit`` them in order once
    done (a call's record is its ``result``, or the call itself when it succeeded:
    rpccli.batch.calls).

    ``flush`` is called before waiting for the network, so output never lags behind. With calls
    in flight, the next item is taken only when ``input_ready()`` says it will not block (how
    many items can be taken so, or True for at least one; 0 or False for none); else the loop
    waits on the sockets and on ``input_fd`` together.

    Every call whose record is written goes to ``spare``, for the source to renew (Call.renew)
    rather than build a new one.

    Returns False when ``stop`` ended the run (Ctrl-C) before the input did.
    """
    if spare is None:
        spare = []
    loop = Loop(stop)
    loop.connect_times = False  # a batch writes no connect times
    inflight = loop.inflight
    pending: deque[Call | dict[str, Any]] = deque()
    exhausted = False
    # how many more items input_ready() said can be had without blocking: it is asked again
    # only once they are taken (not a Python call per line). Each item is one entry of the
    # source (a line, or a lane's chunk end), and only next(source) below takes them
    ready = 0
    try:
        while True:
            if stop is not None and stop.requested and not loop.stopping:
                exhausted = True
                loop.interrupt()  # every call taken now has its result
            while pending:  # what is done, in input order
                head = pending[0]
                if head.__class__ is dict:  # a record already (a bad line)
                    emit(pending.popleft())
                    continue
                if head.result is None:  # type: ignore[union-attr]
                    break
                pending.popleft()
                emit(head)
                spare.append(head)  # type: ignore[arg-type]
            if exhausted and not pending:
                return not loop.stopping
            waiting_for_input = False
            while not exhausted and len(inflight) < concurrency and len(pending) < window:
                if ready:
                    ready -= 1
                elif input_ready is not None:
                    ready = input_ready()
                    if ready:
                        ready -= 1
                    elif inflight:
                        waiting_for_input = True  # wait on the sockets and the input together
                        break
                    else:
                        if pending and _done(pending[0]):
                            break  # write what is answered (a bad line's record) before waiting
                        if flush is not None:
                            flush()  # about to block on the input: show all answered so far
                        if stop is not None and input_fd is not None:
                            if not wait_input(input_fd, stop):
                                break  # Ctrl-C while waiting for a line
                            continue  # something came: a whole line, or still part of one
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                if item is SKIP:
                    continue
                pending.append(item)  # type: ignore[arg-type]
                if item.__class__ is not dict:  # else a record already (a bad line)
                    loop.start(item)  # type: ignore[arg-type]
            if inflight:
                loop.poll(input_fd if waiting_for_input else None, before_blocking=flush)
    finally:
        loop.close()
