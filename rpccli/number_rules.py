"""The rules of every number the program reads, without click: :mod:`rpccli.numbers` makes
click types of them for the options, and the config file and RPCCLI_TIMEOUT, which every
``rpccli call`` reads before anything is sent, check their values here without importing click
(docs/design.md#start-up).

Why so strict: ``float()`` takes ``nan``, ``inf``, ``1e309`` (an infinity), ``1_0`` and
non-ASCII digits, and ``int()`` takes digits of any script and thousands of them. A NaN
deadline never expires and an infinite one overflows the kernel's timeval, so either would fail
mid-call, after the request went out. Only plain ASCII decimals are numbers here.
"""

from __future__ import annotations

import re
from typing import Any

from protocol import MAX_RESPONSE

__all__ = ["BUFFER_SIZE", "MAX_SECONDS", "SECONDS", "SIZE", "BadNumber", "Rule"]

#: the longest deadline or wait any option takes: one day
MAX_SECONDS = 86400

# compiled on first use (re's cache), not on every start: most calls read no number at all
_INT = r"[+-]?[0-9]{1,30}"
_FLOAT = r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,4})?"
_SIZE = r"([0-9]{1,30})\s*([kKmMgG]?)i?[bB]?"


class BadNumber(ValueError):
    """A value a :class:`Rule` refuses; the message names it and the rule it breaks."""


class Rule:
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
            return float(text) if re.fullmatch(_FLOAT, text) else None
        if self.kind == "bytes":
            found = re.fullmatch(_SIZE, text)
            if not found:
                return None
            power = " kmg".index(found.group(2).lower() or " ")
            return int(found.group(1)) << (10 * power)  # binary units: k is 1024
        return int(text) if re.fullmatch(_INT, text) else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind!r}, {_num(self.low)}, {_num(self.high)})"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


#: --timeout, --connect-timeout, RPCCLI_TIMEOUT, the config's timeouts, serve --socket-timeout:
#: 0 would time out before the call starts
SECONDS = Rule("seconds", 0, MAX_SECONDS, low_open=True)
#: --max-response: a cap of 0 would refuse every answer
SIZE = Rule("bytes", 1, MAX_RESPONSE)
#: serve --buffer-size: a u16, as every length of the protocol
BUFFER_SIZE = Rule("count", 1, 65535)
