"""uWSGI signals, timers, cron and file monitors outside uWSGI (docs/serve.md#the-uwsgi-api).

As in uWSGI 2.0.21 (checked with ``--master --plugins signal``): a signal number is a byte (300
is 44, -1 is 255); the loading process (the master, worker id 0) cannot register a number twice
(ValueError "unable to register signal"), a worker can; ``uwsgi.signal(n)`` and a modifier1 110
packet queue the signal and the master routes it by the handler's target: ``""``/``worker``/
``worker0`` to any one worker, ``workers``/``active-workers`` to each, ``workerN`` to worker N; an
unregistered number still goes to one worker, which logs ``error managing signal N on worker W``.
Timers, cron entries and file monitors raise their signal from a thread of the process that
added them; in a ``--processes`` worker every raised signal goes to the parent, which routes it.
"""

from __future__ import annotations

import operator
import os
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .functions import FunctionTable

__all__ = ["SignalHub", "route_targets"]

_ANY = ("", "worker", "worker0")
_EACH = ("workers", "active-workers")


def signal_number(num: object) -> int:
    """uWSGI reads the number with ``i`` and keeps a byte: same TypeError, same wrap-around."""
    return operator.index(num) & 0xFF  # type: ignore[arg-type]


def route_targets(target: str | None, numproc: int) -> list[int] | str:
    """The workers a signal goes to (0 = any one), or the line uWSGI logs instead."""
    if target is None or target in _ANY:
        return [0]
    if target in _EACH:
        return list(range(1, numproc + 1))
    if target.startswith("worker") and target[6:].isdigit():
        number = int(target[6:])
        return [number] if number <= numproc else f"worker {number} does not exist"
    if target.startswith(("mule", "spooler", "farm")):
        return f"could not deliver signal to {target}: rpccli serve runs no mules or spooler"
    return f"^^^ UNSUPPORTED SIGNAL TARGET: {target} ^^^"


class SignalHub:
    """The signal table of one :class:`FunctionTable`, and the threads that raise signals."""

    def __init__(self, table: FunctionTable) -> None:
        self._table = table
        self.handlers: dict[int, tuple[str, object]] = {}
        #: in a ``--processes`` worker: the pipe to the parent, which routes every signal
        self.master_fd: int | None = None
        #: in the ``--processes`` parent: routes a signal to the workers' pipes
        self.router: Callable[[int], None] | None = None
        self._stop = threading.Event()

    # -- the table ---------------------------------------------------------------------------

    def register(self, num: object, target: object, handler: object) -> None:
        number = signal_number(num)
        if not isinstance(target, str):
            raise TypeError(
                f"register_signal() argument 2 must be str, not {type(target).__name__}"
            )
        if self._table.worker_id == 0 and number in self.handlers:
            self._table.log("[uwsgi-signal] you cannot re-register a signal as the master !!!")
            raise ValueError("unable to register signal")
        self.handlers[number] = (target, handler)

    def registered(self, num: object) -> bool | None:
        return True if signal_number(num) in self.handlers else None

    def target(self, num: int) -> str | None:
        entry = self.handlers.get(num)
        return entry[0] if entry else None

    def free(self) -> int:
        """uwsgidecorators' get_free_signal: the lowest unregistered number."""
        for number in range(256):
            if number not in self.handlers:
                return number
        raise Exception("No free uwsgi signal available")

    # -- raising and running -----------------------------------------------------------------

    def send(self, num: object) -> None:
        """``uwsgi.signal(n)`` and a modifier1 110 packet: queue it for the master's routing."""
        number = signal_number(num)
        if self.master_fd is not None:
            with suppress(OSError):  # a full pipe drops the signal, as uWSGI's would
                os.write(self.master_fd, bytes([number]))
            return
        if self.router is not None:
            self.router(number)
            return
        where = route_targets(self.target(number), self._table.numproc)
        if isinstance(where, str):
            self._table.log(where.replace("signal to", f"signal {number} to"))
        else:
            for _ in where:
                self.run_soon(number)

    def run_soon(self, number: int) -> None:
        threading.Thread(target=self.dispatch, args=(number,), daemon=True).start()

    def dispatch(self, number: int) -> None:
        """Run the handler of ``number`` here, as the worker that received it."""
        from .shim import active

        entry = self.handlers.get(number)
        if entry is None or not callable(entry[1]):
            if entry is not None:
                self._table.log(f"TypeError: {type(entry[1]).__name__!r} object is not callable")
            now = time.strftime("%a %b %d %H:%M:%S %Y")
            self._table.log(
                f"{now} - error managing signal {number} on worker {self._table.worker_id}"
            )
            return
        try:
            with active(self._table):
                entry[1](number)
        except BaseException:
            self._table.log(traceback.format_exc().rstrip("\n"))

    # -- timers, cron, file monitors -----------------------------------------------------------

    def _every(self, seconds: float, number: int, due: Callable[[], bool]) -> None:
        def loop() -> None:
            while not self._stop.wait(seconds):
                with suppress(Exception):
                    if due():
                        self.send(number)

        threading.Thread(target=loop, name=f"rpccli-signal-{number}", daemon=True).start()

    def add_timer(self, num: object, seconds: object) -> None:
        number = signal_number(num)
        self._every(max(operator.index(seconds), 1), number, lambda: True)  # type: ignore[arg-type]

    def add_cron(self, num: object, *fields: object) -> bool:
        number = signal_number(num)
        minute, hour, day, month, weekday = (operator.index(f) for f in fields)  # type: ignore[arg-type]
        last: list[int] = [int(time.time() // 60)]

        def due() -> bool:
            now = int(time.time() // 60)
            if now == last[0]:
                return False
            last[0] = now
            t = time.localtime(now * 60)
            wday = (t.tm_wday + 1) % 7  # cron counts from Sunday
            values = zip(
                (minute, hour, day, month, weekday),
                (t.tm_min, t.tm_hour, t.tm_mday, t.tm_mon, wday),
                strict=True,
            )
            return all(
                want == -1 or want == got or (want < -1 and got % -want == 0)
                for want, got in values
            )

        self._every(1, number, due)
        return True

    def add_file_monitor(self, num: object, path: object) -> None:
        number = signal_number(num)
        if not isinstance(path, str):
            raise TypeError(f"add_file_monitor() argument 2 must be str, not {type(path).__name__}")

        def state() -> tuple[int, int, int] | None:
            try:
                st = os.stat(path)
            except OSError:
                return None
            return st.st_mtime_ns, st.st_size, st.st_ino

        seen = [state()]

        def due() -> bool:
            now = state()
            changed = now != seen[0]
            seen[0] = now
            return changed

        self._every(0.5, number, due)

    def stop(self) -> None:
        """End the timer, cron and file monitor threads."""
        self._stop.set()
