"""``rpccli ping [NODE]``: uWSGI's ping (modifier1 100, docs/protocol.md#ping) with latency, like
ping(8).

Exit codes (also when Ctrl-C ends ``-c 0``, which pings until then, as iputils ping): 0 every
ping answered; 1 the node answered with a warning (a monitoring WARNING, as ``uwsgi --ping``
exits 2 for it); when pings failed, the error's own code if all failed alike (3 refused, 4 timed
out, ...), else 6.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import click

from protocol import Client, Outcome, PingResult
from protocol.errors import RPCError
from protocol.visible import counted, visible
from rpccli import exitcodes
from rpccli.numbers import INTERVAL, PING_COUNT
from rpccli.options import command_settings, complete_node_lazily, timeout_options, tls_options
from rpccli.output import Printer, error_record, json_line

__all__ = ["ping"]


@dataclass
class _Stats:
    sent: int = 0
    answered: int = 0
    warnings: int = 0
    times: list[float] | None = None

    def add(self, elapsed: float) -> None:
        self.answered += 1
        if self.times is None:
            self.times = []
        self.times.append(elapsed * 1000)


def _ms(value: float) -> str:
    return f"{value:.3f}"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("node", metavar="[NODE]", required=False, shell_complete=complete_node_lazily)
@click.option(
    "-c",
    "--count",
    type=PING_COUNT,
    default=1,
    show_default=True,
    help="Pings per node; 0 = until Ctrl-C.",
)
@click.option(
    "-i",
    "--interval",
    type=INTERVAL,
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait between pings.",
)
@timeout_options
@tls_options
@click.option("--json", "json_flag", is_flag=True, help="One JSON object per ping.")
def ping(
    node: str | None,
    count: int,
    interval: float,
    timeout: float | None,
    connect_timeout: float | None,
    json_flag: bool,
) -> int:
    """Ping NODE (every node of a group or profile) and print the latency.

    \b
      rpccli ping 127.0.0.1:3031
      rpccli ping -c 5 -i 0.2 prod
    """
    settings = command_settings(node)
    printer = Printer("json" if json_flag else "bytes")
    clients = [settings.client(a) for a in settings.spec.addresses]
    stats = {c.node: _Stats() for c in clients}
    errors: list[RPCError] = []
    seq = 0
    # one ping of one node: its error ends the command (one line from main), not a report line
    say = not (count == 1 and len(clients) == 1)
    by_node = {c.node: c for c in clients}
    group = None
    if len(clients) > 1:
        from protocol import NodeGroup

        # every node of a round at once, on one thread (protocol.fanout); lines in node order
        group = NodeGroup(settings.spec.addresses, strategy="all")
    try:
        while count == 0 or seq < count:
            if seq:
                time.sleep(interval)
            seq += 1
            if group is None:
                _one(printer, clients[0], stats[clients[0].node], seq, say, errors)
                continue
            told = partial(_outcome, printer, stats, seq, say, errors)
            group.fan_out_pings(lambda address: by_node[str(address)], on_outcome=told)
    except KeyboardInterrupt:
        _summary(printer, stats, json_flag)
        if count != 0:
            raise
        # -c 0 pings until Ctrl-C: that is its normal end, and the exit code says how the pings
        # went (iputils ping does the same)
    else:
        if count != 1:
            _summary(printer, stats, json_flag)
    if errors:
        if not say:
            raise errors[0]
        codes = {exitcodes.exit_code(e) for e in errors}
        answered = sum(s.answered for s in stats.values())
        return codes.pop() if not answered and len(codes) == 1 else exitcodes.PARTIAL
    if any(s.warnings for s in stats.values()):
        return exitcodes.NO_RESULT
    return exitcodes.OK


def _one(
    printer: Printer, client: Client, stats: _Stats, seq: int, say: bool, errors: list[RPCError]
) -> None:
    start = time.monotonic()
    try:
        result = client.ping()
    except KeyboardInterrupt:
        raise  # cut off by Ctrl-C: neither answered nor failed
    except RPCError as exc:
        _report(printer, client.node, stats, seq, say, errors, None, exc, time.monotonic() - start)
        return
    _report(printer, client.node, stats, seq, say, errors, result, None, 0.0)


def _outcome(
    printer: Printer,
    stats: dict[str, _Stats],
    seq: int,
    say: bool,
    errors: list[RPCError],
    o: Outcome[PingResult],
) -> None:
    _report(printer, o.node, stats[o.node], seq, say, errors, o.value, o.error, o.elapsed)


def _report(
    printer: Printer,
    node: str,
    stats: _Stats,
    seq: int,
    say: bool,
    errors: list[RPCError],
    result: PingResult | None,
    error: RPCError | None,
    elapsed: float,
) -> None:
    """One ping's line (or JSON object) and its count: an answer, or ``error`` after
    ``elapsed`` seconds."""
    stats.sent += 1
    if result is None:
        assert error is not None
        errors.append(error)  # first: a Ctrl-C while it is reported must not lose it
        if printer.format == "json":
            printer.write(_json(node, seq, elapsed, error=error))
        if say:
            printer.info(f"rpccli: {error}")
        return
    total = result.timings.total
    stats.add(total)
    if result.warning is not None:
        stats.warnings += 1
    if printer.format == "json":
        printer.write(_json(node, seq, total, warning=result.warning))
    else:
        # the node's own text, on one report line: escaped, piped or not (--json has it exact)
        state = "ok" if result.warning is None else f"WARNING: {visible(result.warning)}"
        printer.text(f"{node}: seq={seq} time={_ms(total * 1000)} ms {state}")


def _json(
    node: str,
    seq: int,
    elapsed: float,
    *,
    warning: str | None = None,
    error: RPCError | None = None,
) -> bytes:
    """One ping as a JSON line: its answer (and warning) or its error."""
    return json_line(
        {
            "node": node,
            "seq": seq,
            "ok": error is None,
            "warning": warning,
            "elapsed_ms": round(elapsed * 1000, 3),
            "error": None if error is None else error_record(error),
        }
    )


def _summary(printer: Printer, stats: dict[str, _Stats], json_flag: bool) -> None:
    for node, s in stats.items():
        lost = s.sent - s.answered
        line = f"--- {node}: {s.sent} sent, {s.answered} answered, {lost} failed"
        if s.warnings:
            line += f", {counted(s.warnings, 'warning')}"
        if s.times:
            avg = sum(s.times) / len(s.times)
            line += f"; min/avg/max = {_ms(min(s.times))}/{_ms(avg)}/{_ms(max(s.times))} ms"
        if json_flag:
            printer.info(line)
        else:
            printer.text(line)
