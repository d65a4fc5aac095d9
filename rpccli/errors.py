"""Errors of the command-line program: leaves of the one tree rooted at protocol.errors.RPCError."""

from __future__ import annotations

import re

from protocol.errors import CallError, RPCError, UsageError

__all__ = ["ConfigError", "InputError", "Interrupted", "describe"]


class ConfigError(UsageError):
    """The config file cannot be used; the message names the file (and line when known)."""


class InputError(UsageError):
    """A command-line or stdin input that cannot become a request (a bad file, escape, ...)."""


class Interrupted(RPCError):
    """A batch line cut short by Ctrl-C: ``sent`` True when its request had reached the node
    (which may have run it), False when it was never sent."""

    kind = "interrupted"

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


#: the library's parameters, as the options of this program that set them
OPTIONS = {
    "max_response": "--max-response",
    "connect_timeout": "--connect-timeout",
    "timeout": "--timeout",
    "retry_unsafe": "--retry-unsafe",
    "cafile": "--cacert",
    "certfile": "--cert",
    "keyfile": "--key",
    "server_name": "--server-name",
}
#: compiled on first use (re's cache): only a failed call's line needs it
_PARAMETER = (
    r"\b(max_response|connect_timeout|timeout|retry_unsafe|cafile|certfile|keyfile|server_name)="
)


def describe(error: BaseException) -> str:
    """An error as a line for the user. The library's hints name its own parameters ("raise it
    with max_response="); here they name the option that sets it ("--max-response")."""
    if isinstance(error, CallError) and error.hint:
        hint = re.sub(_PARAMETER, lambda found: OPTIONS[found.group(1)], error.hint)
        return f"{error.detail} ({hint})"
    return str(error)
