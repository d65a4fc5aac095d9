"""Which calls the event loop runs itself and which go to the worker threads: learned per function.

Handing a call to a worker thread costs far more than a quick function does: two threads taking
the GIL from each other around every system call, one to three context switches a call (the
profile in bench/README.md#bench_serverpy-rpccli-serve-against-uwsgi). So a function that has
shown itself quick runs in the loop, and everything else in the threads:

- a function starts in the threads; once ``PROVE`` runs in a row each took at most ``QUICK``
  seconds (wall time, measured around the call), its calls run in the loop;
- a run in the loop that took longer sends the function back to the threads at once, and it must
  prove itself again, twice as long each time (a function that is sometimes slow ends up in
  the threads for good); a slow run in the threads starts its proof over;
- only registered names are learned (an unknown name cannot fill the table), at most
  ``MAX_NAMES`` of them; a name not learned runs in the threads.

A slow function therefore never runs in the loop before it has been quick ``PROVE`` times; one
that turns slow once in the loop (or gets stuck) is covered by :mod:`.rescue`, which takes over
the listening sockets while the loop is held up (docs/serve.md#concurrency).
"""

from __future__ import annotations

import threading
from typing import Final

from .functions import FunctionTable

__all__ = ["MAX_NAMES", "PROVE", "QUICK", "Pace"]

#: seconds: a run no longer than this is quick (a call in the loop holds every client up this long)
QUICK: Final = 0.002
#: quick runs in a row, in the threads, before a function runs in the loop
PROVE: Final = 8
#: the longest proof a function that keeps turning slow is asked for
MAX_PROVE: Final = 1 << 20
#: function names learned at most
MAX_NAMES: Final = 256


class Pace:
    """Per function: how many quick runs it still owes before it runs in the loop (0: it does)."""

    __slots__ = ("_lock", "_need", "_proof", "_table")

    def __init__(self, table: FunctionTable) -> None:
        self._table = table
        self._need: dict[bytes, int] = {}
        self._proof: dict[bytes, int] = {}  # the proof asked for after the last slow run
        self._lock = threading.Lock()  # worker threads and the loop report runs

    def inline(self, name: bytes) -> bool:
        """Does ``name`` run in the loop? (The hot path: one dictionary look-up.)"""
        return self._need.get(name) == 0

    def ran(self, name: bytes, seconds: float) -> None:
        """A run of ``name`` took ``seconds`` (in a worker thread or in the loop)."""
        need = self._need.get(name)
        if need == 0 and seconds <= QUICK:
            return  # a quick function stays quick: no lock on the loop's path
        with self._lock:
            need = self._need.get(name)
            if need is None:
                if len(self._need) >= MAX_NAMES or name not in self._table:
                    return
                need = PROVE
            if seconds > QUICK:
                proof = self._proof.get(name, PROVE)
                if need == 0:  # it was slow in the loop: twice the proof from now on
                    proof = self._proof[name] = min(proof * 2, MAX_PROVE)
                self._need[name] = proof
            elif need:
                self._need[name] = need - 1

    def demote(self, name: bytes) -> None:
        """``name`` is running too long in the loop right now: its next calls go to the threads."""
        self.ran(name, float("inf"))
