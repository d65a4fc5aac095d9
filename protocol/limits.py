"""The numbers a caller hands the library (deadlines, the response cap), checked before any use.

A deadline of NaN never expires (every comparison with it is false), and an infinite one, or one
over ``MAX_TIMEOUT``, overflows the millisecond ``int`` that ``poll()`` takes: each would
surface mid-call as an exception from deep inside the socket code, after the request may have
gone out. So they are refused up front, as a :class:`RequestError` that names the parameter
(``timeout=``), never a command-line option.
"""

from __future__ import annotations

import sys
from typing import Final

from .errors import RequestError

__all__ = ["MAX_RESPONSE", "MAX_TIMEOUT", "check_seconds", "check_size"]

#: the longest deadline, in seconds: poll() takes a C int of milliseconds
MAX_TIMEOUT: Final = (2**31 - 1) // 1000
#: the largest response cap: the largest bytes object (and 19-digit CONTENT_LENGTH) there can be
MAX_RESPONSE: Final = sys.maxsize


def check_seconds(value: object, parameter: str, *, zero: bool = False) -> float:
    """``value`` as seconds when it is a number above 0 (or 0 itself, with ``zero``) and at most
    ``MAX_TIMEOUT``: never NaN, an infinity or a negative number."""
    # an int is compared as it is: a huge one has no float (and NaN fails every comparison)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (0 <= value <= MAX_TIMEOUT if zero else 0 < value <= MAX_TIMEOUT)
    ):
        floor = "0 or more" if zero else "above 0"
        raise RequestError(
            f"{parameter}= must be a number of seconds {floor} and at most {MAX_TIMEOUT}, "
            f"not {_shown(value)}",
            limit=parameter,
        )
    return float(value)


def check_size(value: object, parameter: str) -> int:
    """``value`` as a byte count when it is an int from 1 to ``MAX_RESPONSE``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_RESPONSE:
        raise RequestError(
            f"{parameter}= must be a whole number of bytes from 1 to {MAX_RESPONSE}, "
            f"not {_shown(value)}",
            limit=parameter,
        )
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
