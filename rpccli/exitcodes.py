"""Exit codes, the same for every command (docs/design.md#exit-codes), decided here and nowhere
else."""

from __future__ import annotations

from typing import Final

from protocol.errors import (
    CallTimeout,
    ConnectError,
    NoResult,
    ProtocolError,
    RPCError,
    UsageError,
)

__all__ = [
    "CONNECT",
    "INTERRUPTED",
    "NO_RESULT",
    "OK",
    "OUTPUT",
    "PARTIAL",
    "PROTOCOL",
    "THRESHOLD",
    "TIMEOUT",
    "USAGE",
    "exit_code",
]

OK: Final = 0
NO_RESULT: Final = 1  # the 0-byte close; also a ping that answered with a warning
USAGE: Final = 2  # bad option, node or input; nothing was sent
CONNECT: Final = 3
TIMEOUT: Final = 4
PROTOCOL: Final = 5
PARTIAL: Final = 6  # some calls of a fan-out or batch failed
THRESHOLD: Final = 1  # bench: a --fail-if check was crossed
INTERRUPTED: Final = 130
#: stdout could not be written (disk full, closed): a local I/O failure, not the node's; the
#: value is sysexits.h's EX_IOERR, outside the design table so that no table code changes meaning
OUTPUT: Final = 74

_BY_ERROR: Final[tuple[tuple[type[RPCError], int], ...]] = (
    (UsageError, USAGE),
    (NoResult, NO_RESULT),
    (ConnectError, CONNECT),
    (CallTimeout, TIMEOUT),
    (ProtocolError, PROTOCOL),
)


def exit_code(error: BaseException) -> int:
    """The exit code for an error that ended a command."""
    for kind, code in _BY_ERROR:
        if isinstance(error, kind):
            return code
    return PROTOCOL if isinstance(error, RPCError) else 1
