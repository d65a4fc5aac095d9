"""The bundled uWSGI-compatible RPC server: an asyncio event loop outside, uWSGI's rules inside.

Modules: :mod:`.core` holds the :class:`Server` (listening sockets watched by the loop, the
worker threads), :mod:`.listen` binds the sockets, :mod:`.connection` reads one request per
connection exactly as ``proto/uwsgi.c`` does and :mod:`.answer` writes the answer (both seeing
their server only through :mod:`.host`; :mod:`.accept` answers at once what needs no more),
:mod:`.requests` decides the answer bytes, :mod:`.write` sends them and bounds what waits for
slow clients, :mod:`.log` describes each connection for the log,
:mod:`.processes` forks several workers (``--processes``), and :mod:`.background` runs a server
in a thread (:func:`serve_in_thread`, for tests and the shell). This module only gathers the
public names.

Function calls run in a pool of daemon threads (``threads``, 8 by default): a ``sleep 30`` does
not stall other clients, as with a uWSGI that has several workers. A function that has shown
itself quick runs in the event loop instead (:mod:`.pace`: the hand-off to a thread costs more than
such a call), and should one of those calls hold the loop up, a rescue loop serves new clients
meanwhile (:mod:`.rescue`). ``threads=0`` runs every call in the event loop, like a single uWSGI
worker: one slow call stalls all.

Answers are written by the event loop, never by a blocking write: a client that reads slowly or
not at all holds only its own connection (and is dropped once it takes nothing for
``socket_timeout``). What the loop holds for such clients is bounded (``max_held``): a big answer
that does not fit waits for room in its worker, at most ``socket_timeout`` and never in more
than half of the workers, and is otherwise not sent (the 0-byte close, logged).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .background import BackgroundServer, serve_in_thread
    from .core import DEFAULT_THREADS, Server, ServerOptions, new_event_loop
    from .log import Event, format_event
    from .write import DEFAULT_MAX_HELD

# Each public name is imported from its module on first use (PEP 562): the function table
# (``protocol.server.functions``, what ``rpccli call --local`` needs) is a submodule of this
# package, and importing this package must not import asyncio and the whole server for it.
_HOME = {
    "DEFAULT_MAX_HELD": "write",
    "DEFAULT_THREADS": "core",
    "BackgroundServer": "background",
    "Event": "log",
    "Server": "core",
    "ServerOptions": "core",
    "format_event": "log",
    "new_event_loop": "core",
    "serve_in_thread": "background",
}

__all__ = [
    "DEFAULT_MAX_HELD",
    "DEFAULT_THREADS",
    "BackgroundServer",
    "Event",
    "Server",
    "ServerOptions",
    "format_event",
    "new_event_loop",
    "serve_in_thread",
]


__getattr__, __dir__ = lazy_names(__name__, _HOME, globals())
