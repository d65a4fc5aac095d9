"""The ``rpccli bench`` command: options, the plan, and where the figures go."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from protocol.errors import UsageError
from protocol.wire import rpc_request
from rpccli import exitcodes
from rpccli.args import ARGUMENT_HELP, read_arguments
from rpccli.call import _modifier2, _split_words
from rpccli.call.command import CallCommand
from rpccli.config import load_config
from rpccli.numbers import CONCURRENCY, INTERVAL, LANES, SECONDS, Number
from rpccli.options import (
    command_settings,
    complete_call_function,
    complete_file_argument,
    complete_node_lazily,
    connection_options,
    group_options,
    tls_options,
)
from rpccli.output import is_terminal

__all__ = ["bench"]

COUNT = Number("count", 1, 10**12)
RATE = Number("seconds", 0, 10**7, low_open=True)  # calls per second: any positive decimal
_OPEN_LOOP_CAP = 512  # in flight at most in open loop unless -c says otherwise
_ARGS_FILE_LINES = 1_000_000


def _args_lines(path: str) -> list[list[bytes]]:
    from rpccli.words import split_line

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = []
            for line in handle:
                text = line.strip()
                if text and not text.startswith("#"):
                    words = [w.text for w in split_line(text)]
                    lines.append(read_arguments(words, stdin=None))
                if len(lines) > _ARGS_FILE_LINES:
                    raise UsageError(f"--args-file {path}: more than {_ARGS_FILE_LINES:,} lines")
    except OSError as exc:
        raise UsageError(f"--args-file {path}: {exc.strerror or exc}") from None
    if not lines:
        raise UsageError(f"--args-file {path}: no argument line in it")
    return lines


@click.command(
    cls=CallCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=ARGUMENT_HELP
    + " Options go before FUNCTION. Exit codes: 0 done, 1 a --fail-if check crossed, 2 usage,"
    " 3/4/5 every call failed (connect, timeout, protocol), 130 Ctrl-C (after the summary of"
    " what was done). docs/bench.md explains how to benchmark properly.",
)
@click.argument("node", metavar="NODE", required=False, shell_complete=complete_node_lazily)
@click.argument(
    "function", metavar="FUNCTION", required=False, shell_complete=complete_call_function
)
@click.argument("args", metavar="[ARG]...", nargs=-1, shell_complete=complete_file_argument)
@click.option(
    "-c",
    "--concurrency",
    type=CONCURRENCY,
    default=None,
    help="Calls in flight (closed loop, default 16); with -R the most in flight "
    f"(default {_OPEN_LOOP_CAP}).",
)
@click.option("-n", "--count", type=COUNT, default=None, help="Calls to make (after the warm-up).")
@click.option(
    "-d",
    "--duration",
    type=SECONDS,
    default=None,
    metavar="SECONDS",
    help="How long to measure (default 10 s unless -n).",
)
@click.option(
    "--warmup",
    type=INTERVAL,
    default=0.0,
    metavar="SECONDS",
    help="Calls first, not counted, for this long.",
)
@click.option(
    "-R",
    "--rate",
    type=RATE,
    default=None,
    metavar="CALLS/S",
    help="Open loop: start calls at this constant rate, latency counted from when each was due.",
)
@click.option(
    "--lanes",
    type=LANES,
    default=None,
    help="Processes sharing the calls, 1 to 64 (default: 2 on a multi-core machine with -c 4 "
    "or more in closed loop, or -R 2000 or more; else 1).",
)
@click.option(
    "--args-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Argument lines (shell words, @FILE too), one per call, in turn.",
)
@click.option("--raw", is_flag=True, help="Ask for the raw answer (modifier2 1).")
@connection_options
@tls_options
@group_options(fan_out=False)
@click.option("--json", "json_flag", is_flag=True, help="The summary as one JSON object.")
@click.option(
    "--hgrm",
    type=click.File("w"),
    default=None,
    metavar="FILE",
    help="Write the percentile distribution (HdrHistogram's text format).",
)
@click.option(
    "--csv",
    "csv_file",
    type=click.File("w"),
    default=None,
    metavar="FILE",
    help="Write calls, errors, p50 and p99 per second.",
)
@click.option(
    "--fail-if",
    "fail_if",
    multiple=True,
    metavar="CHECK",
    callback=lambda c, p, v: _thresholds(c, p, v),
    help="Exit 1 when crossed: 'p99>20ms', 'errors>0.1%', 'rate<5000'; repeatable.",
)
@click.option("-q", "--quiet", is_flag=True, help="No live progress on stderr.")
def bench(
    node: str | None,
    function: str | None,
    args: tuple[str, ...],
    concurrency: int | None,
    count: int | None,
    duration: float | None,
    warmup: float,
    rate: float | None,
    lanes: int | None,
    args_file: str | None,
    raw: bool,
    timeout: float | None,
    connect_timeout: float | None,
    max_response: int | None,
    strategy: str | None,
    retry_unsafe: bool,
    json_flag: bool,
    hgrm: Any,
    csv_file: Any,
    fail_if: Any,
    quiet: bool,
) -> int:
    """Load FUNCTION on NODE and measure its latency.

    \b
      rpccli bench -c 16 -d 10 :3031 hello          # closed loop: 16 calls in flight
      rpccli bench -R 5000 -d 30 :3031 hello        # open loop: 5,000 calls/s
      rpccli bench -s round-robin --fail-if 'p99>20ms' a:3031,b:3031 hello
    """
    from rpccli.batch import Nodes
    from rpccli.bench.lanes import run
    from rpccli.bench.report import summary, text_lines, write_csv, write_hgrm, write_json
    from rpccli.bench.run import Plan

    config = load_config()
    words = [w for w in (node, function) if w is not None] + list(args)
    node, name, arg_words = _split_words(words, False, config)
    _refuse_options_as_args(click.get_current_context(), arg_words)
    if count is not None and duration is not None:
        raise UsageError("-n and -d are exclusive: a count of calls, or a duration")
    if count is None and duration is None:
        duration = 10.0
    settings = command_settings(node, config=config)
    if settings.strategy == "all":
        raise UsageError("--strategy all is for call; bench spreads its calls over the nodes")
    lines = _args_lines(args_file) if args_file else [read_arguments(arg_words, stdin=None)]
    modifier2 = _modifier2(raw, None, settings.mode)
    requests = [rpc_request(name, line, modifier2=modifier2) for line in lines]
    nodes = Nodes(settings, config, retry_unsafe)
    if concurrency is None:
        concurrency = _OPEN_LOOP_CAP if rate else 16
    if (
        lanes is None
    ):  # as batch: the kernel's connection work fills one core (rpccli/batch/lanes.py)
        busy = rate >= 2000 if rate else concurrency >= 4
        lanes = 2 if (os.cpu_count() or 1) > 1 and busy else 1
    lanes = min(lanes, concurrency)
    plan = Plan(
        lambda: nodes.clients(None),
        requests,
        name,
        concurrency,
        count,
        duration,
        warmup,
        rate,
        retry_unsafe,
        per_node=not settings.spec.single,
    )
    live = is_terminal(sys.stderr) and not quiet and os.environ.get("TERM") != "dumb"
    if live:
        from rpccli.bench.draw import Progress

        with Progress() as progress:
            totals = run(plan, lanes, progress)
    else:
        totals = run(plan, lanes)
    figures = summary(
        totals,
        node=settings.spec.label,
        function=name,
        concurrency=concurrency,
        rate=rate,
        lanes=lanes,
        thresholds=fail_if,
    )
    if hgrm is not None:
        write_hgrm(totals.tally.latency, hgrm)
    if csv_file is not None:
        write_csv(totals, csv_file)
    if json_flag:
        write_json(figures, sys.stdout)
    elif is_terminal(sys.stdout):
        from rich.console import Console

        from rpccli.bench.draw import draw

        draw(figures, totals, Console())
    else:
        sys.stdout.write("".join(line + "\n" for line in text_lines(figures)))
    return _exit_code(figures, totals)


def _refuse_options_as_args(ctx: click.Context, words: list[str]) -> None:
    """``rpccli bench :3031 hello -c 16`` would send ``-c 16`` to hello and bench with the
    defaults: refused, as a user means the option (an --args-file line can send such a word)."""
    assert ctx.command is not None
    names = {name for param in ctx.command.params for name in getattr(param, "opts", ())}
    for word in words:
        if word.split("=", 1)[0] in names and word.startswith("-"):
            raise UsageError(
                f"{word} after FUNCTION would be an ARG: options go before NODE FUNCTION "
                "(to send it as an argument, use --args-file)"
            )


def _thresholds(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    from rpccli.bench.report import parse_threshold

    return parse_threshold(ctx, param, values)


def _exit_code(figures: dict[str, Any], totals: Any) -> int:
    if totals.interrupted:
        return exitcodes.INTERRUPTED
    if any(check["crossed"] for check in figures["thresholds"]):
        for check in figures["thresholds"]:
            if check["crossed"]:
                sys.stderr.write(
                    f"rpccli: --fail-if {check['check']}: crossed ({check['value']:g})\n"
                )
        return exitcodes.THRESHOLD
    if figures["ok"] == 0 and figures["failed"]:
        kind = next(iter(figures["errors"]))
        return _KIND_CODES.get(kind, exitcodes.PROTOCOL)
    return exitcodes.OK


_KIND_CODES = {
    "connect": exitcodes.CONNECT,
    "timeout": exitcodes.TIMEOUT,
    "no_result": exitcodes.NO_RESULT,
    "protocol": exitcodes.PROTOCOL,
}
