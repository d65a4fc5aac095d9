"""On a terminal: live progress on stderr while the bench runs, and the final drawing (rich).

Nothing here runs when the output is piped: the command checks first (rpccli.bench).
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rpccli.bench.histogram import Histogram
from rpccli.bench.lanes import Totals
from rpccli.bench.report import PERCENTILES, text_lines

__all__ = ["Progress", "draw"]

_BLOCKS = " ▁▂▃▄▅▆▇█"


class Progress:
    """One status line on stderr, redrawn at most 4 times a second."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.live = Live(console=self.console, transient=True, auto_refresh=False)
        self._shown = 0.0

    def __enter__(self) -> Progress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def __call__(self, totals: Totals, elapsed: float) -> None:
        now = time.monotonic()
        if now - self._shown < 0.25:
            return
        self._shown = now
        tally = totals.tally
        last = totals.seconds[-1] if totals.seconds else None
        rate = (last.ok + last.errors) if last else 0
        p50 = tally.latency.percentile(50) / 1e6
        p99 = tally.latency.percentile(99) / 1e6
        line = Text(
            f"{max(elapsed, 0):6.1f} s  {tally.calls:>10,} calls  {rate:>8,}/s  "
            f"p50 {p50:.3f} ms  p99 {p99:.3f} ms  errors {tally.failed:,}"
        )
        self.live.update(line, refresh=True)


def _spark(values: list[float]) -> str:
    top = max(values, default=0) or 1
    return "".join(_BLOCKS[min(8, math.ceil(8 * v / top))] for v in values)


def _distribution(histogram: Histogram, width: int = 40, rows: int = 16) -> Table:
    """Latency counts in log-spaced bins from min to max, with the percentile marks."""
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right")
    table.add_column()
    table.add_column()
    low, high = max(histogram.min, 1), max(histogram.max, 2)
    if histogram.count == 0:
        return table
    ratio = (high / low) ** (1 / rows) if high > low else 2.0
    edges = [low * ratio**i for i in range(rows + 1)]
    counts = [0] * rows
    for index, n in histogram.buckets():
        value = histogram.bucket_value(index)
        at = min(rows - 1, max(0, int(math.log(max(value, low) / low, ratio)))) if ratio > 1 else 0
        counts[at] += n
    marks = {name: histogram.percentile(p) for name, p in PERCENTILES}
    top = max(counts) or 1
    for at, n in enumerate(counts):
        upper = edges[at + 1]
        here = [name for name, v in marks.items() if edges[at] <= v <= upper]
        bar = "█" * max(1 if n else 0, round(width * n / top))
        table.add_row(f"{upper / 1e6:.3f} ms", Text(bar, style="cyan"), " ".join(here))
    return table


def draw(figures: dict[str, Any], totals: Totals, console: Console) -> None:
    """The final report: the distribution, rate and p99 over time, and the figures."""
    left = Group(
        Text("latency distribution (log-scaled buckets)", style="bold"),
        _distribution(totals.tally.latency),
    )
    seconds = totals.seconds[-60:]
    rates = [float(s.ok + s.errors) for s in seconds]
    p99s = [s.p99 / 1e6 for s in seconds]
    over_time = Group(
        Text("per second (last 60 s)", style="bold"),
        Text(f"rate {_spark(rates)}  max {max(rates, default=0):,.0f}/s"),
        Text(f"p99  {_spark(p99s)}  max {max(p99s, default=0):.3f} ms"),
    )
    figures_text = Text("\n".join(text_lines(figures)))
    layout = Table.grid(padding=(0, 3))
    layout.add_column()
    layout.add_column()
    layout.add_row(left, Group(figures_text, Text(""), over_time))
    console.print(layout)
