"""A server that stops while a call runs waits for that call's log line, not only for its
answer: the worker that finished the call writes the line after the client has its answer,
and a stopping server (a ``--processes`` worker exits right after close()) must not leave
before it."""

from __future__ import annotations

import threading
import time

from protocol import Client
from protocol.server import Event, serve_in_thread
from protocol.server.functions import FunctionTable


def test_close_waits_for_the_log_line_of_a_call_that_ends_in_the_grace() -> None:
    running, release = threading.Event(), threading.Event()

    def hold() -> bytes:
        running.set()
        release.wait(10)
        return b"released"

    table = FunctionTable()
    table.register("hold", hold)
    logged: list[Event] = []

    def slow_sink(event: Event) -> None:  # a log that takes its time (a busy stderr)
        if event.function == b"hold":
            time.sleep(0.3)
        logged.append(event)

    server = serve_in_thread(table, grace=5.0, on_event=slow_sink)
    answers: list[bytes | None] = []
    caller = threading.Thread(
        target=lambda: answers.append(Client(server.node, timeout=10).call("hold"))
    )
    caller.start()
    assert running.wait(10)  # the call runs in a worker thread (a new function starts there)
    closing = threading.Thread(target=server.close)
    closing.start()
    release.set()
    caller.join(10)
    closing.join(15)
    # close() returned: the call's line was written before, not after
    assert [e.function for e in logged if e.function == b"hold"] == [b"hold"]
    assert answers == [b"released"]
