"""Errors of the command-line program: leaves of the one tree rooted at protocol.errors.RPCError."""

from __future__ import annotations

from protocol.errors import RPCError, UsageError

__all__ = ["ConfigError", "InputError", "Interrupted"]


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
