"""What the batch engine (rpccli.batch.engine) knows of TLS: nothing until a node uses it.

ssl and protocol.tls are a good part of a batch's start-up, and most batches never need them. So
they are imported only once a node with TLS comes up (:func:`tls_on`); until then no socket can
raise ssl.SSLWantReadError or be an ssl.SSLSocket. The engine reads these names as attributes
of this module, only where a socket would block or may be a TLS one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WOULD_BLOCK", "SSLSocket", "tls_on"]


class _NoTLS:
    """Stands for ssl.SSLSocket until a node uses TLS: no socket is one."""


WOULD_BLOCK: tuple[type[Exception], ...] = (BlockingIOError,)
SSLSocket: type[Any] = _NoTLS


def tls_on() -> None:
    """A node uses TLS: from now on its sockets and their would-block errors are known."""
    global WOULD_BLOCK, SSLSocket
    import ssl

    WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
    SSLSocket = ssl.SSLSocket
