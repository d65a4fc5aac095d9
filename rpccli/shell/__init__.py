"""``rpccli shell [NODE]``: the interactive shell (and a line-by-line runner when piped).

Importing this package stays cheap (click only): TAB completion of ``rpccli shell <TAB>`` loads it,
and must not pay for prompt_toolkit or rich. The engine loads when the command runs.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from rpccli.config import MODES
from rpccli.options import buffer_option, complete_node_lazily, connection_options, tls_options

__all__ = ["shell"]


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Type .help in the shell for the input syntax, meta-commands and keys.",
)
@click.argument("node", metavar="[NODE]", required=False, shell_complete=complete_node_lazily)
@connection_options
@buffer_option
@tls_options
@click.option(
    "--mode", type=click.Choice(MODES), default=None, help="packet (default) or raw (modifier2 1)."
)
@click.option("--json", "json_flag", is_flag=True, help="Print each call as one JSON object.")
@click.option(
    "--raw-output",
    is_flag=True,
    help="When stdout is not a terminal: each result and a newline, an empty line for a failed "
    "call (as batch --raw-output).",
)
@click.option("--timing", is_flag=True, help="Print a timing line after each call.")
@click.option("-v", "--verbose", is_flag=True, help="Show the wire view of each call.")
@click.option(
    "--demo",
    is_flag=True,
    help="Start the bundled demo server (even when a default node is set, or stdin is not a "
    "terminal).",
)
def shell(
    node: str | None,
    timeout: float | None,
    connect_timeout: float | None,
    max_response: int | None,
    buffer_size: int | None,
    mode: str | None,
    json_flag: bool,
    raw_output: bool,
    timing: bool,
    verbose: bool,
    demo: bool,
) -> int:
    """Call functions on NODE interactively, with completion and history.

    NODE defaults to RPCCLI_NODE or the config's [defaults] node. With no node at all at a
    terminal (or with --demo) the shell starts the bundled server with the demo functions on a
    free loopback port, so everything can be tried at once. A script with no node is a usage
    error (exit 2) unless --demo is given.

    \b
      rpccli shell :3031
      rpccli shell prod                  # a profile of the config file
      rpccli shell :3031 < calls.txt     # not a terminal: one command per line

    When standard input is not a terminal, each line runs as typed; results are written as
    `rpccli call` writes them (exact bytes when piped, one after the other: add --raw-output
    for one line per call, or --json for JSON Lines). The exit code is 0 when every line
    succeeded, else the code of the LAST line that failed (1 no result, 2 usage, 3 connect,
    4 timeout, 5 protocol, 6 partial).
    """
    from protocol.errors import UsageError
    from rpccli.config import load_config
    from rpccli.node_words import default_node_text
    from rpccli.shell.session import Flags, Shell

    if demo and node is not None:
        raise click.UsageError("--demo starts its own server: give no NODE with it")
    config = load_config()
    options = {
        "timeout": timeout,
        "connect_timeout": connect_timeout,
        "max_response": max_response,
        "mode": mode,
        "buffer_size": buffer_size,
    }
    interactive = sys.stdin.isatty()
    screen = _screen() if interactive and not sys.stdout.isatty() else None
    server = None
    notice = ""
    if node is None and not demo and not interactive and not default_node_text(config):
        # the demo server is a convenience for a person at a terminal; a script (cron, CI)
        # that forgot its node must fail as `rpccli call` does, not talk to a fake server
        raise UsageError(
            "no node given and standard input is not a terminal: pass NODE or set RPCCLI_NODE "
            "(--demo runs the script against the bundled demo server)"
        )
    reasons = None
    if node is None and (demo or not default_node_text(config)):
        server, node, reasons = _start_demo()
        notice = (
            f"No node given: started the bundled demo server on {node} with "
            f"{', '.join(server_names(server))}."
        )
        if not interactive:
            _say(f"rpccli: {notice[0].lower()}{notice[1:]}")
    try:
        engine = Shell(
            config,
            node,
            interactive=interactive,
            options=options,
            demo_node=node if server is not None else None,
            demo_reasons=reasons,
            screen=screen,
        )
        engine.flags = Flags(
            json=json_flag or engine.flags.json,
            timing=timing,
            verbose=verbose,
            lines=raw_output,
        )
        if not interactive:
            return engine.run_script(_lines())
        from rpccli import __version__
        from rpccli.shell.interactive import run_interactive

        banner = [
            f"rpccli {__version__} shell on {engine.node}. Type a function and its arguments "
            "(TAB completes names),",
            ".help for help, Ctrl-D to leave.",
        ]
        if notice:
            banner = [notice, "Try: hello world   upper abc   binary   json a b   sleep 5", *banner]
        if os.environ.get("TERM") == "dumb":
            from rpccli.shell.plain import run_plain

            return run_plain(engine, banner="\n".join(banner), screen=screen or sys.stdout)
        if screen is not None:
            from prompt_toolkit.output import create_output

            return run_interactive(
                engine, banner="\n".join(banner), output=create_output(stdout=screen)
            )
        return run_interactive(engine, banner="\n".join(banner))
    finally:
        if server is not None:
            server.close()
        if screen is not None:
            screen.close()


def _screen() -> Any:
    """The terminal, for the interface, when stdout is a pipe: results go to the pipe clean."""
    try:
        return open("/dev/tty", "w", encoding="utf-8", errors="replace")
    except OSError:
        return open(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace")


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _lines() -> Any:
    # bytes that are not UTF-8 survive as surrogates, and become the same bytes again
    import io

    return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")


def _start_demo() -> tuple[Any, str, Any]:
    from contextlib import suppress
    from pathlib import Path

    import rpccli
    from protocol.errors import UsageError
    from protocol.server import serve_in_thread
    from protocol.server.functions import FunctionTable
    from rpccli.shell.calls import DemoReasons

    table = FunctionTable()
    # the demo file is a uWSGI function file, loaded through the shim (never imported)
    table.load_file(Path(rpccli.__file__).with_name("demo_functions.py"))
    with suppress(UsageError):  # uWSGI's own Lua example too, when `rpccli[lua]` is installed
        table.load_file(Path(rpccli.__file__).with_name("demo_functions.lua"))
    reasons = DemoReasons()
    server = serve_in_thread(table, binds=("127.0.0.1:0",), on_event=reasons)
    return server, server.nodes[0], reasons


def server_names(server: Any) -> list[str]:
    return list(server.server.table.names())
