"""Errors of the command-line program: leaves of the one tree rooted at protocol.errors.RPCError."""

from __future__ import annotations

from protocol.errors import UsageError

__all__ = ["ConfigError", "InputError"]


class ConfigError(UsageError):
    """The config file cannot be used; the message names the file (and line when known)."""


class InputError(UsageError):
    """A command-line or stdin input that cannot become a request (a bad file, escape, ...)."""
