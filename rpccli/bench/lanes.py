"""A bench run on one process or on several (lanes), and the totals it adds up to.

With one lane the run happens here. With more, each lane is a fork made by batch's lanes
(rpccli.batch.lanes: the same spawning, Ctrl-C forwarding and framed pipes) running its share
of the plan; every second it sends its delta (a pickled Tally) as an output frame, and this
process adds the deltas up. All lanes share one start time, so their seconds line up.

Ctrl-C: the first stops every lane (each cuts its waiting calls, counted as ``interrupted``,
and sends its last delta); the run ends with what was done. A lane that dies without its
totals frame loses only its last second; the run says so.
"""

from __future__ import annotations

import os
import pickle
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rpccli.batch import frames as batch_frames
from rpccli.batch import lanes as batch_lanes
from rpccli.batch.stop import Counts, Stop, sigint_stops
from rpccli.bench.histogram import Histogram
from rpccli.bench.run import Plan, run_share
from rpccli.bench.tally import Tally

__all__ = ["Second", "Totals", "run"]

_START_DELAY = 0.05  # lanes fork first; all begin at the same instant after it


@dataclass
class Second:
    """One second of the run: completed calls and their latency."""

    second: int
    ok: int
    errors: int
    p50: int
    p99: int


@dataclass
class Totals:
    tally: Tally = field(default_factory=Tally)
    seconds: list[Second] = field(default_factory=list)
    elapsed: float = 0.0  # seconds of measuring
    interrupted: bool = False
    lost_lanes: int = 0


class _Seconds:
    """Per-second deltas from every lane; a second is closed once every lane is past it."""

    def __init__(self, lanes: int, out: list[Second]) -> None:
        self.open: dict[int, list[object]] = {}
        self.last = [-1] * lanes
        self.out = out

    def add(self, lane: int, second: int, tally: Tally) -> None:
        entry = self.open.setdefault(second, [0, 0, Histogram()])
        entry[0] += tally.ok  # type: ignore[operator]
        entry[1] += tally.failed  # type: ignore[operator]
        entry[2].merge(tally.latency)  # type: ignore[attr-defined]
        self.last[lane] = max(self.last[lane], second)
        self.close(min(self.last))

    def close(self, before: int) -> None:
        for second in sorted(s for s in self.open if s < before):
            ok, errors, histogram = self.open.pop(second)
            assert isinstance(histogram, Histogram)
            self.out.append(
                Second(second, ok, errors, histogram.percentile(50), histogram.percentile(99))  # type: ignore[arg-type]
            )


Progress = Callable[[Totals, float], None]  # the totals so far, seconds since the start


def run(plan: Plan, lanes: int, progress: Progress | None = None) -> Totals:
    """Run the plan on ``lanes`` processes; the totals over all of them."""
    totals = Totals()
    seconds = _Seconds(lanes, totals.seconds)
    stop = Stop()
    start = time.monotonic() + (_START_DELAY if lanes > 1 else 0.0)
    measure_from = start + plan.warmup

    def add(lane: int, second: int, tally: Tally) -> None:
        totals.tally.merge(tally)
        seconds.add(lane, second, tally)
        if progress is not None:
            progress(totals, time.monotonic() - measure_from)

    try:
        if lanes == 1:
            with sigint_stops(stop):
                run_share(plan, start, lambda s, t: add(0, s, t), stop)
        else:
            _coordinate(plan, lanes, start, stop, add, totals)
    finally:
        stop.close()
    seconds.close(1 << 62)
    totals.interrupted = stop.requested
    # until the last answer: a client that fell behind takes longer than -d, and says so
    totals.elapsed = max(time.monotonic() - measure_from, 1e-9)
    return totals


def _coordinate(
    plan: Plan,
    lanes: int,
    start: float,
    stop: Stop,
    add: Callable[[int, int, Tally], None],
    totals: Totals,
) -> None:
    started: list[batch_lanes.Lane] = []

    def work(number: int, source: object, sink: batch_frames.FrameSink, lane_stop: Stop) -> Counts:
        def tick(second: int, tally: Tally) -> None:
            sink.write(pickle.dumps((second, tally), pickle.HIGHEST_PROTOCOL))

        run_share(plan.share(number, lanes), start, tick, lane_stop)
        return Counts()

    try:
        with sigint_stops(stop, first=lambda: batch_lanes.forward(started)):
            for _ in range(lanes):
                started.append(batch_lanes.spawn(work, started, stop))
            for lane in started:  # a lane takes no input: its input ends now
                assert lane.to_lane is not None
                os.close(lane.to_lane)
                lane.to_lane = None
            if stop.requested:
                batch_lanes.forward(started)
            _collect(started, add, totals)
    finally:
        for lane in started:
            batch_lanes.stop_lane(lane)


def _collect(
    lanes: list[batch_lanes.Lane],
    add: Callable[[int, int, Tally], None],
    totals: Totals,
) -> None:
    number = {id(lane): index for index, lane in enumerate(lanes)}
    ended: set[int] = set()
    closed: set[int] = set()
    while len(ended) < len(lanes):
        poller = select.poll()
        watched = {}
        for lane in lanes:
            if lane.from_lane is not None:
                poller.register(lane.from_lane, select.POLLIN)
                watched[lane.from_lane] = lane
        if not watched:
            break
        for fd, _ in poller.poll(1000):
            lane = watched[fd]
            try:
                if not batch_lanes.receive(lane):
                    closed.add(id(lane))
            except OSError:
                closed.add(id(lane))
        for lane in lanes:
            for kind, payload in batch_frames.frames(lane.incoming):
                if kind == batch_frames.OUT:
                    second, tally = pickle.loads(payload)
                    add(number[id(lane)], second, tally)
                elif kind == batch_frames.TOTALS:
                    ended.add(id(lane))
            if id(lane) in closed and id(lane) not in ended:
                totals.lost_lanes += 1  # its output ended without the totals frame
                ended.add(id(lane))
