"""``--strategy all``: the same request to every node at once, one result per node.

Output: a table on a terminal; JSON Lines with ``--json`` AND by default when stdout is not a
terminal (several answers in one byte stream could not be split again); with an explicit
``-o bytes`` each node's answer followed by a newline. Always in the order the nodes were given;
a node named twice is called once. Failures go to stderr too.

Exit code: 0 when every node answered; 6 (partial) when some failed; when EVERY node failed, the
code of their error if they all agree (3 when all refused, 4 when all timed out, ...), else 6.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocol import NodeGroup, Outcome
from rpccli import exitcodes
from rpccli.errors import describe
from rpccli.options import Settings
from rpccli.output import Printer, record

__all__ = ["call_all", "fan_out_exit_code"]


def fan_out_exit_code(outcomes: Sequence[Outcome[Any]]) -> int:
    failed = [o.error for o in outcomes if o.error is not None]
    if not failed:
        return exitcodes.OK
    if len(failed) < len(outcomes):
        return exitcodes.PARTIAL
    codes = {exitcodes.exit_code(e) for e in failed}
    return codes.pop() if len(codes) == 1 else exitcodes.PARTIAL


def _remember(label: str, function: str, outcomes: Sequence[Outcome[Any]]) -> None:
    # every node that answered learns the name, as a plain call to it would, and so
    # does the group or profile as written, for TAB after `rpccli call -s all A,B `
    from rpccli.names import remember_all  # never raises; one lock for all the nodes

    remember_all([label, *(o.node for o in outcomes if o.error is None)], function)


def call_all(
    printer: Printer,
    settings: Settings,
    request: bytes,
    function: str,
    args: Sequence[bytes],
    *,
    verbose: bool = False,
) -> int:
    group = NodeGroup(settings.spec.addresses, strategy="all")
    # one thread, every node's exchange under epoll (protocol.fanout); TLS or DNS names: threads
    outcomes = group.fan_out_calls(settings.client, request, function=function)
    rows = []
    for outcome in outcomes:
        result = outcome.value
        rows.append(
            record(
                node=outcome.node,
                function=function,
                args=args,
                body=None if result is None else result.body,
                error=outcome.error,
                # an answer's own timings; a failure has only the time until it failed
                elapsed=outcome.elapsed if result is None else result.timings.total,
            )
        )
        if verbose and result is not None:
            from rpccli.output.wire import verbose_lines

            for line in verbose_lines(result):
                printer.info(line)
    if printer.format == "json":
        from rpccli.output import json_line

        for row in rows:
            printer.write(json_line(row))
    elif printer.format == "pretty":
        from rpccli.output.pretty import print_table

        print_table(printer.console, rows, title=f"{function} on {len(rows)} nodes")
    else:
        for outcome in outcomes:
            if outcome.value is not None:
                printer.write(outcome.value.body + b"\n")
    if printer.format != "pretty":
        for outcome in outcomes:
            if outcome.error is not None:
                printer.info(f"rpccli: {describe(outcome.error)}")
    failed = sum(1 for o in outcomes if o.error is not None)
    if failed < len(outcomes):
        _remember(settings.spec.label, function, outcomes)
    if failed:
        printer.info(f"rpccli: {failed} of {len(outcomes)} nodes failed")
    return fan_out_exit_code(outcomes)
