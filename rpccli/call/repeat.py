"""``rpccli call --repeat N --interval S``: the same call N times (0: until Ctrl-C), as
redis-cli's ``-r``/``-i``.

Each result is printed as a single call prints it (``--json``: one record per call); a failed
call gets its stderr line and the run goes on. At the end one summary line on stderr: calls,
errors, and min/avg/p50/p99/max of the call times (bench's histogram: constant memory however
long it runs). Exit 0 when every call succeeded, the call's own code when all failed, 6 when
some did, 130 after Ctrl-C (the summary still comes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from protocol import CallResult
from protocol.errors import CallError, RPCError, UsageError
from rpccli import exitcodes
from rpccli.errors import describe
from rpccli.numbers import INTERVAL, PING_COUNT
from rpccli.output import Printer

if TYPE_CHECKING:
    from rpccli.bench.histogram import Histogram

__all__ = ["refuse_with_repeat", "repeat_call", "repeat_options"]

F = TypeVar("F", bound=Callable[..., Any])


def repeat_options(func: F) -> F:
    """--repeat N and --interval SECONDS."""
    func = click.option(
        "--interval",
        type=INTERVAL,
        default=0.0,
        metavar="SECONDS",
        help="With --repeat: wait this long between calls.",
    )(func)
    return click.option(
        "--repeat",
        type=PING_COUNT,
        default=None,
        metavar="N",
        help="Make the call N times (0: until Ctrl-C), then a summary line.",
    )(func)


def refuse_with_repeat(*, local: bool, dry_run: bool, strategy: str | None) -> None:
    """--repeat makes real calls one at a time: not with --local, --dry-run or -s all."""
    if local or dry_run or strategy == "all":
        raise UsageError("--repeat is not for --local, --dry-run, --explain or -s all")


def repeat_call(
    once: Callable[[], CallResult],
    printer: Printer,
    *,
    node: str,
    function: str,
    args: Sequence[bytes],
    repeat: int,
    interval: float,
) -> int:
    """Make the call ``repeat`` times (0: until Ctrl-C), ``interval`` seconds apart."""
    from rpccli.bench.histogram import Histogram  # here: a plain call never pays for it

    times = Histogram()
    failed = 0
    last_error: RPCError | None = None
    done = 0
    interrupted = False
    try:
        while repeat == 0 or done < repeat:
            if done and interval:
                time.sleep(interval)
            start = time.monotonic()
            try:
                result = once()
            except RPCError as exc:
                elapsed = time.monotonic() - start
                failed += 1
                last_error = exc
                where = exc.node if isinstance(exc, CallError) else node
                printer.failure(exc, node=where, function=function, args=args, elapsed=elapsed)
                printer.info(f"rpccli: {describe(exc)}")
            else:
                times.record(int(result.timings.total * 1e9))
                printer.result(result, function, args)
            done += 1
    except KeyboardInterrupt:
        interrupted = True
    printer.info(summary_line(done, failed, times))
    if interrupted:
        return exitcodes.INTERRUPTED
    if not failed:
        return exitcodes.OK
    if failed == done and last_error is not None:
        return exitcodes.exit_code(last_error)
    return exitcodes.PARTIAL


def summary_line(calls: int, failed: int, times: Histogram) -> str:
    def ms(ns: float) -> str:
        return f"{ns / 1e6:.3f}"

    line = f"rpccli: {calls} calls, {failed} errors"
    if times.count:
        line += (
            f"; min {ms(times.min)} avg {ms(times.mean)} p50 {ms(times.percentile(50))} "
            f"p99 {ms(times.percentile(99))} max {ms(times.max)} ms"
        )
    return line
