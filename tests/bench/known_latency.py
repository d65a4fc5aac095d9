"""Functions whose latency is known, for `rpccli serve` (threads) in tests/bench.

paced: 1 ms, and 100 ms on every 100th call. spiked: 1 ms, and 500 ms on every 100th call (far
above what a busy machine adds to a 1 ms call, so that the slow calls stand apart). stall: 1 ms,
but the 50th call stalls the whole server for 1 s (every call waits for it). served: how many
paced, spiked and stall calls ran.
"""

import threading
import time

import uwsgi

_count_lock = threading.Lock()
_stall_lock = threading.Lock()
_calls = [0]


def _next():
    with _count_lock:
        _calls[0] += 1
        return _calls[0]


def paced(*args):
    time.sleep(0.1 if _next() % 100 == 0 else 0.001)
    return b"ok"


def spiked(*args):
    time.sleep(0.5 if _next() % 100 == 0 else 0.001)
    return b"ok"


def stall(*args):
    if _next() == 50:
        with _stall_lock:
            time.sleep(1.0)
    else:
        with _stall_lock:
            pass
        time.sleep(0.001)
    return b"ok"


def served(*args):
    return str(_calls[0]).encode()


uwsgi.register_rpc("paced", paced)
uwsgi.register_rpc("spiked", spiked)
uwsgi.register_rpc("stall", stall)
uwsgi.register_rpc("served", served)
