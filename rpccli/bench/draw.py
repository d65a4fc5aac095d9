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
        rate = round(tally.calls / elapsed) if elapsed > 0 else 0
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


def _distribution(histogram: Histogram, width: int = 24, rows: int = 14) -> Table:
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
        upper = edges[at + 1] if at < rows - 1 else high
        here = [name for name, v in marks.items() if edges[at] <= v <= upper]
        bar = "█" * max(1 if n else 0, round(width * n / top))
        table.add_row(f"{upper / 1e6:.3f} ms", Text(bar.ljust(width), style="cyan"), " ".join(here))
    return table


def _figures(figures: dict[str, Any]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("calls", f"{figures['calls']:,}")
    table.add_row("rate", f"{figures['rate']:,.1f}/s")
    table.add_row("ok", f"{figures['ok']:,}")
    table.add_row("failed", f"{figures['failed']:,}")
    latency = figures["latency_ms"]
    for name in ("min", "p50", "p90", "p99", "p99.9", "p99.99", "max"):
        table.add_row(name, f"{latency[name]:.3f} ms")
    connect = figures["connect_ms"]
    table.add_row("connect p50", f"{connect['p50']:.3f} ms")
    table.add_row("connect p99", f"{connect['p99']:.3f} ms")
    for kind, count in figures["errors"].items():
        table.add_row(kind, f"{count:,}")
    return table


def draw(figures: dict[str, Any], totals: Totals, console: Console) -> None:
    """The final report: the distribution, the figures beside it, rate and p99 over time,
    then the lines of the text summary that are not in the table."""
    lines = text_lines(figures)
    console.print(Text(lines[0], style="bold"))
    layout = Table.grid(padding=(0, 4))
    layout.add_column(no_wrap=True)
    layout.add_column(no_wrap=True)
    layout.add_row(
        Group(Text("latency distribution", style="bold"), _distribution(totals.tally.latency)),
        _figures(figures),
    )
    console.print(layout)
    seconds = totals.seconds[-60:]
    rates = [float(s.ok + s.errors) for s in seconds]
    p99s = [s.p99 / 1e6 for s in seconds]
    console.print(Text(f"rate per second  {_spark(rates)}  max {max(rates, default=0):,.0f}/s"))
    console.print(Text(f"p99 per second   {_spark(p99s)}  max {max(p99s, default=0):.3f} ms"))
    for line in lines[4:]:  # errors, nodes, warnings, checks
        console.print(Text(line))
