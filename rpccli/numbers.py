"""Every number the program reads -- options, RPCCLI_TIMEOUT, config keys, shell settings --
goes through one :class:`Number`: NaN, infinities, negatives, zero where it means nothing,
garbage and values past a sane limit are refused before anything is sent, in one line that
names the option, variable or key.

Why so strict: ``float()`` takes ``nan``, ``inf``, ``1e309`` (an infinity), ``1_0`` and
non-ASCII digits, and ``int()`` takes digits of any script and thousands of them. A NaN
deadline never expires and an infinite one overflows the kernel's timeval, so either would fail
mid-call, after the request went out. Only plain ASCII decimals are numbers here.
"""

from __future__ import annotations

import re
from typing import Any

import click

from protocol import MAX_RESPONSE

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

#: the longest deadline or wait any option takes: one day
MAX_SECONDS = 86400

_INT = re.compile(r"[+-]?[0-9]{1,30}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,4})?")
_SIZE = re.compile(r"([0-9]{1,30})\s*([kKmMgG]?)i?[bB]?")


class BadNumber(ValueError):
    """A value a :class:`Number` refuses; the message names it and the rule it breaks."""


class _BadOption(click.BadParameter):
    """click's error for a refused option value, whose message already names the option."""

    def format_message(self) -> str:
        return self.message


class Number(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """A number from ``low`` to ``high`` (``low`` itself only when not ``low_open``).

    ``kind`` is ``"seconds"`` (any decimal), ``"count"`` (a whole number) or ``"bytes"`` (a
    whole number, or a size such as ``64k`` / ``64M`` / ``1G`` in binary units).
    """

    def __init__(
        self,
        kind: str,
        low: float,
        high: float,
        *,
        low_open: bool = False,
        metavar: str | None = None,
    ) -> None:
        self.kind = kind
        self.low = low
        self.high = high
        self.low_open = low_open
        self.name = metavar or {"seconds": "SECONDS", "bytes": "BYTES"}.get(kind, "N")

    @property
    def rule(self) -> str:
        """What the value must be, to finish "X must be ..." in a message."""
        noun = {"seconds": "a number of seconds", "bytes": "a size in bytes"}.get(
            self.kind, "a whole number"
        )
        if self.low_open:
            rule = f"{noun} above {_num(self.low)} and at most {_num(self.high)}"
        else:
            rule = f"{noun} from {_num(self.low)} to {_num(self.high)}"
        return rule + (" (e.g. 65536, 64k, 64M)" if self.kind == "bytes" else "")

    def check(self, value: object, name: str) -> Any:
        """``value`` (text from the command line or the environment, or a number from the
        config file) as a number of this kind, else :class:`BadNumber` naming ``name``."""
        number = self._parse(value)
        if number is None or not (
            (self.low < number if self.low_open else self.low <= number) and number <= self.high
        ):
            raise BadNumber(f"{name} must be {self.rule}, not {_shown(value)}")
        return float(number) if self.kind == "seconds" else number

    def _parse(self, value: object) -> int | float | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            # NaN and the infinities fail every range check below; a float count does not count
            return value if self.kind == "seconds" else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        if self.kind == "seconds":
            return float(text) if _FLOAT.fullmatch(text) else None
        if self.kind == "bytes":
            found = _SIZE.fullmatch(text)
            if not found:
                return None
            power = " kmg".index(found.group(2).lower() or " ")
            return int(found.group(1)) << (10 * power)  # binary units: k is 1024
        return int(text) if _INT.fullmatch(text) else None

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        name = _option_name(param)
        try:
            return self.check(value, name)
        except BadNumber as exc:
            raise _BadOption(str(exc), ctx=ctx, param=param) from None

    def __repr__(self) -> str:
        return f"Number({self.kind!r}, {_num(self.low)}, {_num(self.high)})"


def _option_name(param: click.Parameter | None) -> str:
    if param is None:
        return "the value"
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    return opts[0] if opts else (param.name or "the value").upper()


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


#: --timeout, --connect-timeout, RPCCLI_TIMEOUT, the config's timeouts, serve --socket-timeout:
#: 0 would time out before the call starts
SECONDS = Number("seconds", 0, MAX_SECONDS, low_open=True)
#: ping --interval, serve --grace: 0 is meaningful (no wait; stop at once)
INTERVAL = Number("seconds", 0, MAX_SECONDS)
GRACE = INTERVAL
#: --max-response: a cap of 0 would refuse every answer
SIZE = Number("bytes", 1, MAX_RESPONSE)
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
BUFFER_SIZE = Number("count", 1, 65535)
#: call --modifier2: a u8
MODIFIER = Number("count", 0, 255, metavar="N")
#: rpccli signal NUM: a uWSGI signal, a u8 in modifier2 (docs/protocol.md#other-packets)
SIGNAL = Number("count", 0, 255, metavar="NUM")
