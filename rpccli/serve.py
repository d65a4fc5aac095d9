"""``rpccli serve [FILE.py|FILE.lua ...]``: the bundled uWSGI-compatible RPC server.

Everything it prints goes to stderr (the banner, one line per call, warnings), so stdout stays
empty and a wrapper can still capture or discard the log as a whole. The server core lives in
:mod:`protocol.server`; this module is the command: options, the banner, the log, signals.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from protocol import parse_address
from protocol.errors import AddressError
from protocol.server import (
    DEFAULT_THREADS,
    Event,
    Server,
    ServerOptions,
    format_event,
    new_event_loop,
)
from protocol.server.functions import FunctionTable
from protocol.visible import counted, visible
from protocol.wire import DEFAULT_BUFFER_SIZE
from rpccli.numbers import BUFFER_SIZE, GRACE, PROCESSES, SECONDS, THREADS
from rpccli.output import color_allowed, write_line

__all__ = ["DEFAULT_BIND", "DEMO_FUNCTIONS", "build_table", "serve"]

DEFAULT_BIND = "127.0.0.1:3031"
#: the demo function file, a uWSGI function file shipped inside the package
DEMO_FUNCTIONS = Path(__file__).resolve().parent / "demo_functions.py"

#: connections that never sent a byte (port probes, readiness checks) are logged only with -v
_QUIET_KINDS = frozenset({"idle"})


def build_table(
    files: Sequence[str | Path] = (),
    *,
    demo: bool = True,
    warning: str | None = None,
    log: object = None,
    processes: int = 1,
) -> FunctionTable:
    """A FunctionTable with the demo functions (unless ``demo=False``) and then ``files``
    (a later file replaces a function of the same name, as uWSGI's re-registration does)."""
    table = FunctionTable(log=log)  # type: ignore[arg-type]
    table.numproc = processes  # uwsgi.numproc while the files load, as in uWSGI
    if demo:
        table.load_file(DEMO_FUNCTIONS)
    for path in files:
        table.load_file(path)
    if warning is not None:
        table.warning = warning
    return table


class _Log:
    """Writes the server's lines to stderr, each with a time stamp."""

    def __init__(self, quiet: bool, verbose: int, color: bool) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.color = color

    def line(self, text: str, *, fg: str | None = None, bold: bool = False) -> None:
        # clients choose function names and arguments, function files log what they like:
        # escaped before the log's own colour is added
        text = visible(text, keep="\n\t", reversible=False)
        if self.color and (fg or bold):
            text = click.style(text, fg=fg, bold=bold)
        write_line(sys.stderr, text, styled=True)

    def message(self, text: str) -> None:
        """From function files: ``uwsgi.log()`` and real uWSGI-style notices."""
        if not self.quiet:
            self.line(f"{time.strftime('%H:%M:%S')} {text}")

    def event(self, event: Event) -> None:
        """Called from the event loop AND from worker threads: one write per record."""
        if self.quiet or (event.kind in _QUIET_KINDS and not self.verbose):
            return
        failed = event.sent == 0 and event.kind not in ("ping", "stopping")
        text = f"{time.strftime('%H:%M:%S')} {format_event(event)}"
        if event.kind == "stopping":
            text += " (Ctrl-C again stops at once)"
        text = visible(text, keep="\t", reversible=False)
        if self.color and failed:
            text = click.style(text, fg="red")
        if event.traceback:
            rows = event.traceback.rstrip("\n").split("\n")
            text += "".join("\n    " + visible(row, keep="\t", reversible=False) for row in rows)
        write_line(sys.stderr, text, styled=True)


def _warn_exposed(log: _Log, binds: Sequence[str]) -> None:
    for text in binds:
        try:
            address = parse_address(text if not text.endswith(":0") else text[:-1] + "1")
        except AddressError:
            continue  # bind() reports it properly
        if not address.is_loopback:
            log.line(
                f"WARNING: listening on {text}, which is NOT a loopback address: anyone who can "
                "reach it can call every function served here (sleep, big, your own code). "
                "rpccli serve is a test server; keep it on 127.0.0.1, ::1 or a unix socket.",
                fg="red",
                bold=True,
            )


def _banner(
    log: _Log, nodes: Sequence[str], table: FunctionTable, settings: dict[str, object]
) -> None:
    _warn_exposed(log, nodes)  # once bound: a bind that fails says only why
    for node in nodes:
        log.line(f"rpccli serve: listening on {node}")
    threads = int(settings["threads"])  # type: ignore[call-overload]
    processes = int(settings["processes"])  # type: ignore[call-overload]
    workers = f"{threads} threads" if threads else "calls in the event loop"
    if processes > 1:
        workers = f"{processes} processes x {workers}"
    log.line(
        f"  buffer-size {settings['buffer_size']}, socket-timeout {settings['socket_timeout']:g}s, "
        f"{workers}, {settings['loop']}"
    )
    by_source: dict[str, list[str]] = {}
    for name in table.names():
        source = table.source(name) or "?"
        label = "demo" if Path(source) == DEMO_FUNCTIONS else source
        by_source.setdefault(label, []).append(name)
    log.line(f"  serving {counted(len(table), 'function')}:")
    for label, names in by_source.items():
        log.line(f"    {label}: {' '.join(names)}")
    if table.warning:
        log.line(f"  ping warning: {table.warning!r}")
    example = "hello world" if "hello" in table else (table.names() or ["FUNCTION"])[0]
    log.line(f"  try: rpccli call {nodes[0]} {example}   (Ctrl-C stops)")


async def _run(
    server: Server, log: _Log, table: FunctionTable, settings: dict[str, object]
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        # the first SIGINT/SIGTERM stops gracefully (--grace); another one stops at once
        if stop.is_set():
            server.hurry()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await server.start()
        _banner(log, server.nodes, table, settings)
        await stop.wait()
        await server.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        server.hurry()
        await server.close()  # after a failed start; a no-op once closed


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument(
    "files",
    nargs=-1,
    metavar="[FILE.py|FILE.lua]...",
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "-b",
    "--bind",
    "binds",
    multiple=True,
    metavar="ADDR",
    help=f"Where to listen (repeatable): HOST:PORT, [V6]:PORT, :PORT, a unix socket path or "
    f"@NAME (abstract). Port 0 picks a free port. Default {DEFAULT_BIND}.",
)
@click.option(
    "--buffer-size",
    type=BUFFER_SIZE,
    default=DEFAULT_BUFFER_SIZE,
    show_default=True,
    help="Largest request body accepted, as uWSGI's --buffer-size (bigger ones are reset).",
)
@click.option(
    "--socket-timeout",
    type=SECONDS,
    default=4.0,
    show_default=True,
    help="Seconds a connection may stay silent before it is closed, as uWSGI's option.",
)
@click.option(
    "--threads",
    type=THREADS,
    default=DEFAULT_THREADS,
    show_default=True,
    help="Function calls that may run at once (like uWSGI workers); 0 runs them in the event "
    "loop, one at a time.",
)
@click.option(
    "--processes",
    type=PROCESSES,
    default=1,
    show_default=True,
    help="Worker processes sharing the sockets, like uWSGI's --processes (POSIX only).",
)
@click.option(
    "--grace",
    type=GRACE,
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="On Ctrl-C or SIGTERM, calls already running get this long to finish (a second "
    "signal stops at once); calls still running then are dropped and logged.",
)
@click.option("--tls-cert", metavar="FILE", help="TLS certificate for tls: binds (docs/tls.md).")
@click.option("--tls-key", metavar="FILE", help="Its key (when not in the --tls-cert file).")
@click.option(
    "--tls-client-ca", metavar="FILE", help="Require client certificates signed by this CA."
)
@click.option("--no-demo", is_flag=True, help="Serve only the functions of FILE.py.")
@click.option("--warning", metavar="TEXT", help="Warning text that ping answers with.")
@click.option("-q", "--quiet", is_flag=True, help="No line per call; only the banner and warnings.")
@click.option("-v", "--verbose", count=True, help="Also log connections that sent nothing.")
@click.option("--no-uvloop", is_flag=True, help="Use asyncio's own event loop.")
def serve(
    files: tuple[Path, ...],
    binds: tuple[str, ...],
    buffer_size: int,
    socket_timeout: float,
    threads: int,
    processes: int,
    grace: float,
    tls_cert: str | None,
    tls_key: str | None,
    tls_client_ca: str | None,
    no_demo: bool,
    warning: str | None,
    quiet: bool,
    verbose: int,
    no_uvloop: bool,
) -> None:
    """Run a uWSGI-compatible RPC server for trying and testing RPC functions.

    FILE.py are uWSGI function files (`import uwsgi; uwsgi.register_rpc("name", fn)`), the same
    files real uWSGI loads with --import; FILE.lua are Lua function files, as uWSGI's
    --lua-load runs them (they need `pip install 'rpccli[lua]'`). Unless --no-demo, demo
    functions are served too: hello, echo, upper, argc, sleep SECONDS, big N, binary, json,
    fail, empty, text, none, http, and rpc_list (the served names, one per line).

    \b
      rpccli serve                           # demo functions on 127.0.0.1:3031
      rpccli serve myfuncs.py --bind :4000   # yours too, on another port
      rpccli serve --bind /tmp/rpc.sock --bind @rpc --no-demo myfuncs.py

    On the wire it answers exactly as uWSGI 2.0 does (including the silent 0-byte close for every
    failure); unlike uWSGI, its log says WHY a call got no result. The log goes to stderr.
    """
    if no_demo and not files:
        raise click.UsageError("--no-demo without FILE.py would serve nothing")
    log = _Log(quiet, verbose, color=sys.stderr.isatty() and color_allowed())
    table = build_table(
        files, demo=not no_demo, warning=warning, log=log.message, processes=processes
    )
    binds = binds or (DEFAULT_BIND,)
    settings: dict[str, object] = {
        "buffer_size": buffer_size,
        "socket_timeout": socket_timeout,
        "threads": threads,
        "processes": processes,
    }
    options = ServerOptions(
        buffer_size=buffer_size,
        socket_timeout=socket_timeout,
        threads=threads,
        grace=grace,
        on_event=None if quiet else log.event,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
    )
    if tls_cert or tls_key or tls_client_ca:
        from protocol.tls import server_context

        if not tls_cert:
            raise click.UsageError("--tls-key and --tls-client-ca need --tls-cert")
        if not any(b.strip().lower().startswith(("tls:", "suwsgi://")) for b in binds):
            raise click.UsageError(
                "--tls-cert serves TLS on a tls: --bind (e.g. tls:127.0.0.1:3031)"
            )
        server_context(tls_cert, tls_key, tls_client_ca)  # a bad file: one line, before binding
    if files:
        table.opt["import"] = b",".join(str(f).encode() for f in files)
    if processes > 1:
        from protocol.server.processes import serve_processes

        settings["loop"] = "uvloop" if _has_uvloop() and not no_uvloop else "asyncio"
        serve_processes(
            table,
            binds,
            processes=processes,
            use_uvloop=not no_uvloop,
            on_ready=lambda nodes: _banner(log, nodes, table, settings),
            on_respawn=lambda pid, status: log.line(
                f"rpccli serve: worker {pid} died ({_status(status)}); starting another", fg="red"
            ),
            options=options,
        )
    else:
        loop = new_event_loop(not no_uvloop)
        settings["loop"] = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
        server = options.server(table, binds)
        try:
            loop.run_until_complete(_run(server, log, table, settings))
        finally:
            loop.close()
    log.line("rpccli serve: stopped")


def _has_uvloop() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
