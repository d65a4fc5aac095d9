"""``rpccli signal [NODE] NUM``: raise uWSGI signal NUM on a node (modifier1 110, the number in
modifier2, docs/protocol.md#other-packets), as ``uwsgi --signal NODE,NUM`` does.

The node's answer means only "queued": the handler runs later, in the worker uWSGI routes the
signal to, and a signal with no handler is queued all the same (the node only logs it).

Exit codes, as for ``call``: 0 queued; 1 the node did not queue it (its answer ``ff 00 00 00``:
no ``--master``, or a full signal queue) or closed without a byte (no signal plugin); 2 a NUM
outside 0..255, nothing sent; 3, 4, 5 as for every call; with ``-s all`` 6 when some nodes
failed (when all failed alike, their code).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from protocol import NodeGroup, Outcome, SignalResult
from protocol.errors import RPCError
from rpccli import exitcodes
from rpccli.errors import describe
from rpccli.numbers import SIGNAL, BadNumber
from rpccli.options import (
    Settings,
    command_settings,
    complete_node_lazily,
    group_options,
    timeout_options,
    tls_options,
)
from rpccli.output import Printer, error_record, json_line

if TYPE_CHECKING:
    from rpccli.shell.session import Shell

__all__ = ["in_shell", "outcome_line", "parse_signal", "send", "signal"]


def parse_signal(text: str, name: str = "NUM") -> int:
    """A signal number from a word: 0..255, else a usage error (nothing is sent)."""
    from rpccli.errors import InputError

    try:
        number: int = SIGNAL.check(text, name)
    except BadNumber as exc:
        raise InputError(f"{exc} (uWSGI signals are 0..255)") from None
    return number


def _attempt(settings: Settings, num: int) -> Callable[[Any], SignalResult]:
    def attempt(address: Any) -> SignalResult:
        client = settings.client(address)  # over TLS for a tls: node
        return client.signal(num)

    return attempt


def send(
    settings: Settings, num: int, *, retry_unsafe: bool = False
) -> list[Outcome[SignalResult]]:
    """Signal ``num`` to the node, one node of a group (failing over while nothing was sent), or
    every node with strategy ``all``: one outcome per node signalled."""
    attempt = _attempt(settings, num)
    addresses = settings.spec.addresses
    if settings.strategy == "all" and len(addresses) > 1:
        return NodeGroup(addresses, strategy="all").fan_out(attempt)
    order = addresses
    if settings.strategy in ("round-robin", "best"):
        from rpccli.rotation import starting_order  # a one-shot process: see rpccli.call

        order = starting_order(settings.strategy, addresses)
    group = NodeGroup(order, strategy="first", retry_unsafe=retry_unsafe)
    start = time.monotonic()
    try:
        result = group.call(attempt)
    except RPCError as exc:
        node = getattr(exc, "node", settings.spec.label)
        return [Outcome(node, None, exc, time.monotonic() - start)]
    return [Outcome(result.node, result, None, result.timings.total)]


def outcome_line(outcome: Outcome[SignalResult], num: int) -> str:
    """One node's answer as a line for people (an error as the error's own line)."""
    if outcome.value is None:
        assert outcome.error is not None
        return f"rpccli: {describe(outcome.error)}"
    ms = outcome.value.timings.total * 1000
    return f"{outcome.node}: signal {num} queued ({ms:.2f} ms)"


def in_shell(shell: Shell, args: list[str]) -> int:
    """The shell's ``.signal NUM``: the same request and lines as the command, on the shell's
    node and settings (``-s all`` there fans out here too)."""
    from rpccli.call.fanout import fan_out_exit_code
    from rpccli.errors import InputError

    if not args:
        raise InputError("usage: .signal NUM (a uWSGI signal number, 0..255)")
    num = parse_signal(args[0], ".signal NUM")
    outcomes = shell.run_cancellable(
        lambda: send(shell.settings, num), f"signal {num} to {shell.node}"
    )
    for outcome in outcomes:
        if outcome.error is None:
            shell.say(outcome_line(outcome, num))
        else:
            shell.error(outcome.error)
    return fan_out_exit_code(outcomes)


def _record(outcome: Outcome[SignalResult], num: int) -> dict[str, Any]:
    return {
        "node": outcome.node,
        "signal": num,
        "ok": outcome.error is None,
        "elapsed_ms": round(outcome.elapsed * 1000, 3),
        "error": None if outcome.error is None else error_record(outcome.error),
    }


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="The node's answer means only that it QUEUED the signal: a handler runs later in a "
    "worker, and a signal nobody registered is queued too (the node only logs it). Exit codes: "
    "0 queued, 1 not queued or no answer (a server without --plugins signal, or without "
    "--master), 2 NUM not 0..255 (nothing sent), 3 cannot connect, 4 timeout, 5 protocol "
    "error, 6 some nodes of -s all failed.",
)
@click.argument("node", metavar="[NODE]", required=False, shell_complete=complete_node_lazily)
@click.argument("num", metavar="NUM", required=False)
@timeout_options
@tls_options
@group_options(fan_out=True)
@click.option("--json", "json_flag", is_flag=True, help="One JSON object per node.")
def signal(
    node: str | None,
    num: str | None,
    timeout: float | None,
    connect_timeout: float | None,
    strategy: str | None,
    retry_unsafe: bool,
    json_flag: bool,
) -> int:
    """Raise uWSGI signal NUM (0..255) on NODE (every node with -s all).

    \b
      rpccli signal 127.0.0.1:3031 17
      rpccli signal -s all prod 30
    """
    if num is None:  # `rpccli signal 17`: the default node
        node, num = None, node
    if num is None:
        raise click.UsageError("missing NUM (a uWSGI signal number, 0..255)")
    number = parse_signal(num)
    settings = command_settings(node)
    printer = Printer("json" if json_flag else "bytes")
    outcomes = send(settings, number, retry_unsafe=retry_unsafe)
    fan_out = settings.strategy == "all" and not settings.spec.single
    for outcome in outcomes:
        if json_flag:
            printer.write(json_line(_record(outcome, number)))
        if outcome.error is None:
            if not json_flag:
                printer.text(outcome_line(outcome, number))
        elif fan_out:
            printer.info(outcome_line(outcome, number))
        else:
            raise outcome.error  # one line from main, with the code of its kind
    from rpccli.call.fanout import fan_out_exit_code

    return fan_out_exit_code(outcomes) if fan_out else exitcodes.OK
