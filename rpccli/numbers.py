"""Every number the program reads -- options, RPCCLI_TIMEOUT, config keys, shell settings --
goes through one :class:`Number`: NaN, infinities, negatives, zero where it means nothing,
garbage and values past a sane limit are refused before anything is sent, in one line that
names the option, variable or key. The rules themselves, and why they are strict, are in
:mod:`rpccli.number_rules` (no click there: the call path reads the config without it).
"""

from __future__ import annotations

from typing import Any

import click

from rpccli import number_rules
from rpccli.number_rules import MAX_SECONDS, BadNumber, Rule

__all__ = [
    "BUFFER_SIZE",
    "CONCURRENCY",
    "GRACE",
    "INTERVAL",
    "LANES",
    "MAX_SECONDS",
    "MODIFIER",
    "PING_COUNT",
    "PROCESSES",
    "SECONDS",
    "SIGNAL",
    "SIZE",
    "THREADS",
    "BadNumber",
    "Number",
]


class _BadOption(click.BadParameter):
    """click's error for a refused option value, whose message already names the option."""

    def format_message(self) -> str:
        return self.message


class Number(Rule, click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """A :class:`~rpccli.number_rules.Rule` as a click type: a number from ``low`` to ``high``
    (``low`` itself only when not ``low_open``).

    ``kind`` is ``"seconds"`` (any decimal), ``"count"`` (a whole number) or ``"bytes"`` (a
    whole number, or a size such as ``64k`` / ``64M`` / ``1G`` in binary units).
    """

    @classmethod
    def like(cls, rule: Rule) -> Number:
        """The click type of a rule the config file shares (one definition of each rule)."""
        return cls(rule.kind, rule.low, rule.high, low_open=rule.low_open, metavar=rule.name)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        name = _option_name(param)
        try:
            return self.check(value, name)
        except BadNumber as exc:
            raise _BadOption(str(exc), ctx=ctx, param=param) from None


def _option_name(param: click.Parameter | None) -> str:
    if param is None:
        return "the value"
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    return opts[0] if opts else (param.name or "the value").upper()


#: --timeout, --connect-timeout, RPCCLI_TIMEOUT, the config's timeouts, serve --socket-timeout:
#: 0 would time out before the call starts
SECONDS = Number.like(number_rules.SECONDS)
#: ping --interval, serve --grace: 0 is meaningful (no wait; stop at once)
INTERVAL = Number("seconds", 0, MAX_SECONDS)
GRACE = INTERVAL
#: --max-response: a cap of 0 would refuse every answer
SIZE = Number.like(number_rules.SIZE)
#: batch -c: calls in flight
CONCURRENCY = Number("count", 1, 1024)
#: batch --lanes: processes sharing the calls (left out: chosen by the machine and the input)
LANES = Number("count", 1, 64)
#: ping -c: 0 pings until Ctrl-C
PING_COUNT = Number("count", 0, 1_000_000)
#: serve --threads: 0 runs the functions in the event loop
THREADS = Number("count", 0, 1024)
PROCESSES = Number("count", 1, 64)
#: serve --buffer-size: a u16, as every length of the protocol
BUFFER_SIZE = Number.like(number_rules.BUFFER_SIZE)
#: call --modifier2: a u8
MODIFIER = Number("count", 0, 255, metavar="N")
#: rpccli signal NUM: a uWSGI signal, a u8 in modifier2 (docs/protocol.md#other-packets)
SIGNAL = Number("count", 0, 255, metavar="NUM")
