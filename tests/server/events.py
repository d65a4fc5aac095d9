"""What tests of the bundled server share: a recorder of its log events, and the demo table."""

from __future__ import annotations

import threading

from protocol.server import Event
from protocol.server.functions import FunctionTable
from tests.conftest import DEMO_FUNCTIONS


class Recorder:
    """An ``on_event`` callback that keeps every event and lets a test wait for them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10) -> list[Event]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.events) >= count, timeout)
            return list(self.events)


def demo_table() -> FunctionTable:
    table = FunctionTable()
    table.load_file(DEMO_FUNCTIONS)
    return table
