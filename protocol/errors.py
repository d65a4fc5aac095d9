"""The one exception tree of the uwsgi protocol library.

::

    RPCError                      everything this library raises
    ├── UsageError                the caller's input is wrong; NOTHING was sent
    │   ├── AddressError          a node string that is not a node
    │   └── RequestError          a request that breaks a protocol limit (docs/protocol.md#limits)
    └── CallError                 something went wrong talking to a node; names it
        ├── ConnectError          could not connect (refused, unreachable, DNS, no socket)
        ├── CallTimeout           the connect timeout or the whole-call deadline ran out
        ├── NoResult              the node closed after sending zero bytes, or
        │                         sent an empty answer (a packet with a 0-byte body)
        └── ProtocolError         the answer is malformed, truncated or too large
            └── ResponseTooLarge  the answer exceeds the caller's cap

Every ``CallError`` carries ``node`` (its printable form) and puts it in its message, so that an
error printed on its own line still says where it happened.  ``hint`` is an optional second
sentence with the likely cause (for example the server's ``--buffer-size``).
"""

from __future__ import annotations

__all__ = [
    "AddressError",
    "CallError",
    "CallTimeout",
    "ConnectError",
    "NoResult",
    "ProtocolError",
    "RPCError",
    "RequestError",
    "ResponseTooLarge",
    "UsageError",
]


class RPCError(Exception):
    """Root of every error raised by :mod:`protocol`.

    Every error pickles and copies with all its attributes (``node``, ``hint``, ``sent``, ...),
    so it can cross a process pool: rebuilt without calling ``__init__``, whose signature
    differs from class to class.
    """

    #: short machine-readable name, used for JSON output (``error.type``)
    kind = "error"

    def __reduce__(self) -> tuple[object, ...]:
        return _restore, (type(self), self.args, dict(self.__dict__))


def _restore(cls: type[RPCError], args: tuple[object, ...], state: dict[str, object]) -> RPCError:
    """An unpickled or copied error: the same class, ``args`` and attributes."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class UsageError(RPCError):
    """The caller's input is wrong. Raised before anything is sent."""

    kind = "usage"


class AddressError(UsageError, ValueError):
    """A node string that cannot be parsed."""


class RequestError(UsageError, ValueError):
    """A request that breaks a limit of the uwsgi protocol; ``limit`` names which."""

    def __init__(self, message: str, *, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit


class CallError(RPCError):
    """A failure while talking to ``node``."""

    def __init__(self, node: str, message: str, *, hint: str = "") -> None:
        self.node = node
        self.detail = message
        self.hint = hint
        text = message if not hint else f"{message} ({hint})"
        super().__init__(text)


class ConnectError(CallError):
    """The connection could not be made; the request was never sent."""

    kind = "connect"


class CallTimeout(CallError, TimeoutError):
    """The connect timeout or the whole-call deadline expired.

    ``sent`` tells whether the request may have reached the server.
    """

    kind = "timeout"

    def __init__(self, node: str, message: str, *, hint: str = "", sent: bool = True) -> None:
        super().__init__(node, message, hint=hint)
        self.sent = sent


class NoResult(CallError):
    """The node closed the connection without sending a byte, or answered with an empty packet.

    uWSGI answers this way to an unknown function, a function that raised or returned nothing
    usable, a server without the rpc plugin, and a rejected request: the wire cannot tell them
    apart (docs/protocol.md#failures). uWSGI never sends an empty packet; a peer that does has sent
    no result either ("empty answer"), never an empty success.
    """

    kind = "no_result"


class ProtocolError(CallError):
    """The node's answer is not a valid uwsgi response."""

    kind = "protocol"


class ResponseTooLarge(ProtocolError):
    """The answer is larger than the caller allowed."""
