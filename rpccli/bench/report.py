"""A bench run's figures: the summary (text and JSON), --hgrm, --csv and the --fail-if checks.

The JSON summary's fields are documented in docs/bench.md#json-summary; times are milliseconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TextIO

import click

from rpccli.bench.histogram import Histogram
from rpccli.bench.lanes import Totals
from rpccli.bench.tally import KINDS

__all__ = ["PERCENTILES", "Threshold", "parse_threshold", "summary", "text_lines"]

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9), ("p99.99", 99.99))

_CHECK = re.compile(
    r"\s*(p50|p90|p99|p99\.9|p99\.99|max|mean|errors|rate)\s*(<=|>=|<|>)\s*"
    r"([0-9]+(?:\.[0-9]+)?)\s*(ns|us|µs|ms|s|%|/s)?\s*"
)
_TO_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, None: 1.0}


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    op: str
    value: float  # ms for latencies, a share (0-1) or a count for errors, calls/s for rate
    share: bool = False  # errors given in %

    def crossed(self, figures: dict[str, Any]) -> tuple[bool, float]:
        if self.metric == "errors":
            calls = figures["calls"]
            actual = (
                (figures["failed"] / calls if calls else 0.0) if self.share else figures["failed"]
            )
        elif self.metric == "rate":
            actual = figures["rate"]
        else:
            actual = figures["latency_ms"][self.metric]
        ops = {
            ">": actual > self.value,
            "<": actual < self.value,
            ">=": actual >= self.value,
            "<=": actual <= self.value,
        }
        return ops[self.op], actual


def parse_threshold(
    ctx: click.Context | None, param: click.Parameter | None, values: tuple[str, ...]
) -> list[Threshold]:
    """--fail-if 'p99>20ms', 'errors>0.1%', 'rate<5000' (a click callback)."""
    checks = []
    for text in values:
        found = _CHECK.fullmatch(text)
        unit = found.group(4) if found else None
        metric = found.group(1) if found else ""
        fits = found is not None and (
            (metric == "errors" and unit in (None, "%"))
            or (metric == "rate" and unit in (None, "/s"))
            or (metric not in ("errors", "rate") and unit not in ("%", "/s"))
        )
        if not found or not fits:
            raise click.BadParameter(
                f"{text!r} is no check; write METRIC>VALUE or METRIC<VALUE with METRIC one of "
                "p50 p90 p99 p99.9 p99.99 max mean (a time: 20ms, 1s), errors (a count or "
                "0.1%), rate (calls/s)",
                param_hint="--fail-if",
            )
        value = float(found.group(3))
        share = unit == "%"
        if share:
            value /= 100
        elif metric not in ("errors", "rate"):
            value *= _TO_MS[unit]
        checks.append(Threshold(text.strip(), metric, found.group(2), value, share))
    return checks


def _ms(ns: float) -> float:
    return round(ns / 1e6, 4)


def _latency(histogram: Histogram) -> dict[str, float]:
    figures = {"min": _ms(histogram.min), "mean": _ms(histogram.mean)}
    figures["stdev"] = _ms(histogram.stddev())
    for name, percent in PERCENTILES:
        figures[name] = _ms(histogram.percentile(percent))
    figures["max"] = _ms(histogram.max)
    return figures


def summary(
    totals: Totals,
    *,
    node: str,
    function: str,
    concurrency: int,
    rate: float | None,
    lanes: int,
    thresholds: list[Threshold],
) -> dict[str, Any]:
    tally = totals.tally
    calls = tally.calls
    reached = calls / totals.elapsed
    figures: dict[str, Any] = {
        "node": node,
        "function": function,
        "mode": "open" if rate else "closed",
        "concurrency": concurrency,
        "rate_asked": rate,
        "lanes": lanes,
        "duration": round(totals.elapsed, 3),
        "calls": calls,
        "ok": tally.ok,
        "failed": tally.failed,
        "errors": {kind: tally.errors[kind] for kind in KINDS if kind in tally.errors},
        "first_errors": {kind: tally.first[kind] for kind in KINDS if kind in tally.first},
        "rate": round(reached, 1),
        "latency_ms": _latency(tally.latency),
        "connect_ms": _latency(tally.connect),
        "nodes": [
            {
                "node": name,
                "ok": row.ok,
                "errors": row.errors,
                "p50_ms": _ms(row.latency.percentile(50)),
                "p99_ms": _ms(row.latency.percentile(99)),
            }
            for name, row in sorted(tally.nodes.items())
        ],
        "interrupted": totals.interrupted,
        "warnings": [],
    }
    if rate and reached < 0.99 * rate:
        figures["warnings"].append(
            f"the rate asked was not reached: {reached:,.0f} of {rate:,.0f} calls/s; calls "
            f"started up to {tally.lag_max / 1e6:,.1f} ms late (their latencies count from when "
            "they were due). Latencies that grew point at the server; if not, the client is the "
            "limit: try --lanes"
        )
    if totals.lost_lanes:
        figures["warnings"].append(
            f"{totals.lost_lanes} lane(s) died: their last second of calls is missing"
        )
    crossed = []
    for check in thresholds:
        hit, actual = check.crossed(figures)
        crossed.append({"check": check.text, "value": round(actual, 4), "crossed": hit})
    figures["thresholds"] = crossed
    return figures


def _num(value: float) -> str:
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def text_lines(figures: dict[str, Any]) -> list[str]:
    """The summary as plain text (piped output, and the table beside the drawing)."""
    mode = (
        f"open loop at {figures['rate_asked']:,.0f} calls/s (at most {figures['concurrency']} "
        "in flight)"
        if figures["mode"] == "open"
        else f"closed loop, {figures['concurrency']} in flight"
    )
    lines = [
        f"{figures['function']} on {figures['node']}: {mode}, {figures['lanes']} lane(s)",
        f"calls     {figures['calls']:,} in {figures['duration']:.2f} s = "
        f"{figures['rate']:,.1f} calls/s; ok {figures['ok']:,}, failed {figures['failed']:,}",
    ]
    latency, connect = figures["latency_ms"], figures["connect_ms"]
    names = ["min", "p50", "p90", "p99", "p99.9", "p99.99", "max"]
    lines.append("latency   " + "  ".join(f"{n} {_num(latency[n])}" for n in names) + " ms")
    lines.append(
        "connect   " + "  ".join(f"{n} {_num(connect[n])}" for n in ("p50", "p99", "max")) + " ms"
    )
    for kind, count in figures["errors"].items():
        lines.append(f"errors    {kind}: {count:,} (first: {figures['first_errors'][kind]})")
    for row in figures["nodes"]:
        lines.append(
            f"node      {row['node']}: ok {row['ok']:,}, errors {row['errors']:,}, "
            f"p50 {_num(row['p50_ms'])} ms, p99 {_num(row['p99_ms'])} ms"
        )
    for warning in figures["warnings"]:
        lines.append(f"warning   {warning}")
    for check in figures["thresholds"]:
        verdict = "CROSSED" if check["crossed"] else "ok"
        lines.append(f"fail-if   {check['check']}: {verdict} (actual {check['value']:g})")
    if figures["interrupted"]:
        lines.append("interrupted: the figures are those of the calls done until Ctrl-C")
    return lines


def write_json(figures: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(figures) + "\n")


def write_hgrm(histogram: Histogram, out: TextIO) -> None:
    """The percentile distribution in HdrHistogram's text format (values in milliseconds),
    which HdrHistogram's plotter and wrk2's tooling read."""
    out.write(f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}\n\n")
    total = histogram.count
    seen = 0
    tick = 0  # the next reporting level: see _level
    for index, n in histogram.buckets():
        seen += n
        percent = 100.0 * seen / total
        if percent < _level(tick) and seen < total:
            continue
        value = histogram.bucket_value(index) / 1e6
        fraction = percent / 100
        inverse = f"{1 / (1 - fraction):14.2f}" if seen < total else ""
        out.write(f"{value:12.3f} {fraction:14.12f} {seen:10d} {inverse}".rstrip() + "\n")
        while _level(tick) <= percent:
            tick += 1
    mean, stdev = histogram.mean / 1e6, histogram.stddev() / 1e6
    out.write(f"#[Mean    = {mean:12.3f}, StdDeviation   = {stdev:12.3f}]\n")
    out.write(f"#[Max     = {histogram.max / 1e6:12.3f}, Total count    = {total:12d}]\n")
    out.write(f"#[Buckets = {36:12d}, SubBuckets     = {128:12d}]\n")


_TICKS = 5  # reports per halving of the distance to 100%, as HdrHistogram's default


def _level(tick: int) -> float:
    """The percentile of reporting level ``tick``: _TICKS levels from 0 to 50%, _TICKS more
    from 50 to 75%, and so on; past 2**-40 of the way, only 100% is left."""
    half, step = divmod(tick, _TICKS)
    if half > 40:
        return float("inf")
    return 100.0 * (1 - 2.0**-half) + 100.0 * 2.0 ** -(half + 1) * step / _TICKS


def write_csv(totals: Totals, out: TextIO) -> None:
    out.write("second,calls,errors,p50_ms,p99_ms\n")
    for s in totals.seconds:
        out.write(f"{s.second},{s.ok + s.errors},{s.errors},{_ms(s.p50)},{_ms(s.p99)}\n")
