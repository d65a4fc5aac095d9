"""Turn socket-level failures into the library's errors, with messages that name the node.

Shared by the blocking and the asyncio client so that both say exactly the same thing.
"""

from __future__ import annotations

import errno
import os
import stat

from .errors import CallError, CallTimeout, ConnectError, NoResult, ProtocolError
from .visible import counted
from .wire import DEFAULT_BUFFER_SIZE, HEADER_SIZE

__all__ = [
    "BUFFER_HINT",
    "NO_RESULT_CAUSES",
    "connect_failed",
    "connect_timed_out",
    "no_result",
    "over_buffer",
    "reset",
    "response_timed_out",
    "shown",
]

#: the 0-byte close's causes a message cannot tell apart, with how to tell the two commonest on a
#: first day (docs/protocol.md#failures): a uWSGI without the rpc plugin logs that line for every
#: call; a Python 3 function that returns str leaves no log line at all
NO_RESULT_CAUSES = (
    "uWSGI sends no error detail; see the server log: 'unavailable modifier requested: 173' "
    "there means uWSGI lacks the rpc plugin, start it with --plugins rpc,python3; a Python 3 "
    "function must return bytes: a str is no result and logs nothing"
)
BUFFER_HINT = (
    f"the request body is over {DEFAULT_BUFFER_SIZE} bytes: the server's --buffer-size "
    f"(default {DEFAULT_BUFFER_SIZE}) is the likely cause"
)

_REASONS = {
    errno.ECONNREFUSED: "refused",
    errno.ENOENT: "no such socket",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.EACCES: "permission denied",
    errno.ENOTSOCK: "not a socket",
    errno.EADDRNOTAVAIL: "address not available",
    errno.EAGAIN: "its listen queue is full",  # a unix socket whose server is not accepting
}


def _not_a_socket(node: str) -> bool:
    # connect() to a file that is no socket gives ECONNREFUSED on Linux, which would blame a
    # server that is not there; only unix nodes have a '/' or the unix: prefix
    if "/" not in node and not node.startswith("unix:"):
        return False
    try:
        mode = os.stat(node[5:] if node.startswith("unix:") else node).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISSOCK(mode)


def connect_failed(node: str, exc: OSError) -> ConnectError:
    reason = _REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
    if exc.errno == errno.ECONNREFUSED and _not_a_socket(node):
        reason = "not a socket"
    return ConnectError(node, f"cannot connect to {node}: {reason}")


def resolve_failed(node: str, exc: OSError) -> ConnectError:
    return ConnectError(
        node, f"cannot connect to {node}: cannot resolve the host ({exc.strerror or exc})"
    )


def connect_timed_out(node: str, timeout: float) -> CallTimeout:
    return CallTimeout(node, f"cannot connect to {node}: timed out after {timeout:g}s", sent=False)


def response_timed_out(node: str, timeout: float, received: int) -> CallTimeout:
    got = f" ({counted(received, 'byte')} received)" if received else ""
    return CallTimeout(node, f"no complete answer from {node} within {timeout:g}s{got}")


def shown(name: str) -> str:
    """A name from the caller as it may appear in a message: as is when every character is
    printable, else quoted with escapes (``'hel\\x01lo'``), so that a control character can
    neither hide in nor rewrite the error line (an ESC sequence would reach the terminal)."""
    return name if name.isprintable() else repr(name)


def _hint(request_size: int) -> str:
    return BUFFER_HINT if request_size - HEADER_SIZE > DEFAULT_BUFFER_SIZE else ""


def over_buffer(request_size: int) -> str:
    """Why a big request got nothing back (docs/protocol.md#buffer-size), or "" when the request
    was small."""
    body = request_size - HEADER_SIZE
    if body <= DEFAULT_BUFFER_SIZE:
        return ""
    return (
        f"the {body}-byte request is over the server's --buffer-size, {DEFAULT_BUFFER_SIZE} by "
        "default: start uWSGI with --buffer-size 65535"
    )


def no_result(node: str, function: str | None, request_size: int) -> NoResult:
    """The 0-byte close, explained (docs/protocol.md#failures). After a request over the default
    --buffer-size that is by far the likeliest cause, so it leads (docs/protocol.md#buffer-size)."""
    cause = over_buffer(request_size)
    if cause:
        return NoResult(node, f"no result from {node}", hint=cause)
    if function is None:
        what = f"no result from {node}"
    else:
        what = (
            f"no result from {node}: {shown(function)} is not registered there, raised, "
            "or returned nothing"
        )
        return NoResult(node, what, hint=NO_RESULT_CAUSES)
    return NoResult(node, what)


def reset(node: str, function: str | None, request_size: int, received: int) -> CallError:
    """A connection reset: like the 0-byte close when nothing came back, else truncation.

    uWSGI resets (rather than closes) when it refuses a body over its --buffer-size without
    reading it (docs/protocol.md#buffer-size), so after a big request the reset names that cause and
    nothing else.
    """
    if not received:
        cause = over_buffer(request_size)
        if cause:
            return NoResult(node, f"{node} reset the connection", hint=cause)
        err = no_result(node, function, request_size)
        return NoResult(node, f"connection reset by {node}; " + err.detail, hint=err.hint)
    return ProtocolError(
        node,
        f"bad response from {node}: connection reset after {counted(received, 'byte')}",
        hint=_hint(request_size),
    )
