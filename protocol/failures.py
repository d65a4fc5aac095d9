"""Turn socket-level failures into the library's errors, with messages that name the node.

Shared by the blocking and the asyncio client so that both say exactly the same thing.
"""

from __future__ import annotations

import errno

from .errors import CallError, CallTimeout, ConnectError, NoResult, ProtocolError
from .wire import DEFAULT_BUFFER_SIZE, HEADER_SIZE

__all__ = [
    "BUFFER_HINT",
    "NO_RESULT_CAUSES",
    "connect_failed",
    "connect_timed_out",
    "no_result",
    "reset",
    "response_timed_out",
]

NO_RESULT_CAUSES = "uWSGI sends no error detail; see the server log"
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


def connect_failed(node: str, exc: OSError) -> ConnectError:
    reason = _REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
    return ConnectError(node, f"cannot connect to {node}: {reason}")


def resolve_failed(node: str, exc: OSError) -> ConnectError:
    return ConnectError(
        node, f"cannot connect to {node}: cannot resolve the host ({exc.strerror or exc})"
    )


def connect_timed_out(node: str, timeout: float) -> CallTimeout:
    return CallTimeout(node, f"cannot connect to {node}: timed out after {timeout:g}s", sent=False)


def response_timed_out(node: str, timeout: float, received: int) -> CallTimeout:
    got = f" ({received} bytes received)" if received else ""
    return CallTimeout(node, f"no complete answer from {node} within {timeout:g}s{got}")


def _hint(request_size: int) -> str:
    return BUFFER_HINT if request_size - HEADER_SIZE > DEFAULT_BUFFER_SIZE else ""


def no_result(node: str, function: str | None, request_size: int) -> NoResult:
    """The 0-byte close, explained (facts 4); names --buffer-size after a big request."""
    if function is None:
        what = f"no result from {node}"
    else:
        what = (
            f"no result from {node}: {function} is not registered there, raised, "
            f"or returned nothing ({NO_RESULT_CAUSES})"
        )
    return NoResult(node, what, hint=_hint(request_size))


def reset(node: str, function: str | None, request_size: int, received: int) -> CallError:
    """A connection reset: like the 0-byte close when nothing came back, else truncation."""
    if not received:
        err = no_result(node, function, request_size)
        return NoResult(node, f"connection reset by {node}; " + err.detail, hint=err.hint)
    return ProtocolError(
        node,
        f"bad response from {node}: connection reset after {received} bytes",
        hint=_hint(request_size),
    )
