"""Thin click wiring. Commands load lazily, so `rpccli call` imports only what the call needs.

Every error that ends a command passes through :func:`main`, the one place that turns it into a
single stderr line and an exit code (see :mod:`rpccli.exitcodes`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import click

from protocol.errors import RPCError
from rpccli import __version__, exitcodes

__all__ = ["app", "main"]

#: command name -> "module:attribute"; a module is imported only when its command runs
COMMANDS: dict[str, str] = {
    "call": "rpccli.call:call",
    "ping": "rpccli.ping:ping",
    "batch": "rpccli.batch:batch",
    "serve": "rpccli.serve:serve",
    "shell": "rpccli.shell:shell",
    "completion": "rpccli.completion:completion",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rpccli")
@click.option(
    "--traceback", is_flag=True, envvar="RPCCLI_TRACEBACK", help="Show tracebacks of errors."
)
@click.pass_context
def app(ctx: click.Context, traceback: bool) -> None:
    """Call uWSGI RPC functions on any node.

    \b
      rpccli call 127.0.0.1:3031 hello world
      rpccli serve            # a bundled uWSGI-compatible server with demo functions
      rpccli shell :3031      # interactive, with function-name completion
    """
    ctx.ensure_object(dict)
    ctx.obj["traceback"] = traceback


def _say(message: str) -> None:
    from rpccli.output import write_line  # only when a command ends badly

    write_line(sys.stderr, f"rpccli: {message}")


def _quiet_broken_pipe() -> None:
    # `rpccli call ... | head -c1`: the reader left; exit quietly, as cat does.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None, *, prog_name: str = "rpccli") -> int:
    """Run the program; return the exit code instead of raising SystemExit."""
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args or os.environ.get("RPCCLI_TRACEBACK") == "1"
    if os.environ.get("_RPCCLI_COMPLETE"):
        # TAB: register the colon-safe bash completion (HOST:PORT words) before click answers
        importlib.import_module("rpccli.completion")
    try:
        result = app.main(args, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exitcodes.USAGE
    except click.exceptions.Abort:
        _say("interrupted")
        return exitcodes.INTERRUPTED
    except KeyboardInterrupt:
        _say("interrupted")
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        _quiet_broken_pipe()
        return exitcodes.OK
    except RPCError as exc:
        if show_traceback:
            raise
        _say(str(exc))
        return exitcodes.exit_code(exc)
    return result if isinstance(result, int) else exitcodes.OK
