"""Thin click wiring. Commands load lazily, so `rpccli call` imports only what the call needs.

Every error that ends a command passes through :func:`main`, the one place that turns it into a
single stderr line and an exit code (see :mod:`rpccli.exitcodes`).
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import sys
from collections.abc import Sequence

import click

from protocol.errors import RPCError
from rpccli import __version__, exitcodes
from rpccli.errors import describe

__all__ = ["app", "main"]

#: command name -> "module:attribute"; a module is imported only when its command runs
COMMANDS: dict[str, str] = {
    "call": "rpccli.call:call",
    "ping": "rpccli.ping:ping",
    "batch": "rpccli.batch:batch",
    "bench": "rpccli.bench.command:bench",
    "serve": "rpccli.serve:serve",
    "shell": "rpccli.shell:shell",
    "completion": "rpccli.completion:completion",
    "signal": "rpccli.signals:signal",
    "functions": "rpccli.functions:functions",
    "ls": "rpccli.functions:functions",
}


#: one line per command for `rpccli --help` (click would cut the docstrings' first lines short,
#: and reading them would import every command)
SUMMARIES: dict[str, str] = {
    "batch": "Many calls from stdin, one per line; JSON Lines out.",
    "bench": "Load a function and measure its latency (closed or open loop).",
    "call": "Call FUNCTION on NODE with ARGs; print the result.",
    "completion": "Print the TAB-completion script (bash, zsh, fish).",
    "ping": "Ping every node of NODE (uWSGI's ping packet).",
    "serve": "Run the bundled uWSGI-compatible RPC server.",
    "shell": "Call functions interactively, with completion.",
    "signal": "Raise a uWSGI signal on NODE (modifier1 110).",
    "functions": "List the function names known for NODE, with their source.",
    "ls": "Alias of functions.",
}

_TRACEBACK_HELP = "Show tracebacks of errors (also RPCCLI_TRACEBACK=1)."


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
        if not any(param.name == "traceback" for param in command.params):
            # `rpccli call --traceback ...` too, not only before the command (main() reads it)
            command.params.append(
                click.Option(["--traceback"], is_flag=True, hidden=True, expose_value=False)
            )
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name == "help" and "help" not in self.commands:
            # `rpccli help [COMMAND]` shows the help, as git and most CLIs do
            topic = args[1:2]
            if topic and self.get_command(ctx, topic[0]) is not None:
                return super().resolve_command(ctx, [topic[0], "--help"])
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(0)
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            if close:
                ctx.fail(f"No such command '{name}'. Did you mean '{close[0]}'?")
        return super().resolve_command(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from rpccli.paths import config_path

        # the file actually in use, not only the rule that finds it
        path = config_path()
        state = "" if path.is_file() else " (not there: no profiles)"
        formatter.write(f"\nConfig file in use: {path}{state}\n")  # one line: a path is not cut

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


EPILOG = """\b
Exit codes (every command):
  0 success          1 no result (the 0-byte close), or a ping warning
  2 usage or input error, nothing sent      3 cannot connect
  4 timed out        5 protocol error       6 some calls of a fan-out or batch failed
  74 cannot write the output                130 interrupted

\b
Environment:
  RPCCLI_NODE       the default node ('.' or a left-out NODE)
  RPCCLI_TIMEOUT    the default timeout in seconds
  RPCCLI_CONFIG     the config file (else $XDG_CONFIG_HOME/rpccli/config.toml,
                    ~/.config/rpccli/config.toml when XDG_CONFIG_HOME is unset)
  RPCCLI_TRACEBACK  1: show tracebacks
  NO_COLOR          no colours
State (history, learned names, round-robin cursors): $XDG_STATE_HOME/rpccli/.
Run 'rpccli COMMAND --help' for a command's options."""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="rpccli")
@click.option("--traceback", is_flag=True, envvar="RPCCLI_TRACEBACK", help=_TRACEBACK_HELP)
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
    # `rpccli call ... | head -c1`: the reader left; exit quietly, as cat does. Also after any
    # failed write: stdout then points at /dev/null so the interpreter's last flush cannot fail.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class _ClosedStdout(io.TextIOBase):
    """Stands in for a stdout that was closed (``rpccli ... >&-``): Python gives None, and
    every write must fail as a write to a closed descriptor would, not with AttributeError."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("standard output is closed")


def _stand_in_for_closed_streams() -> None:
    """A closed stdout or stderr: occupy descriptors 1 and 2 with /dev/null, so that no socket
    the command opens lands on them, and give Python stream objects that behave. Lines for a
    closed stderr are lost, but the exit code stays the command's."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
        if name == "stdout":
            sys.stdout = _ClosedStdout()
        else:
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115 -- lives as long as the process


#: a write to stdout that failed for one of these is an output failure, not a bug
_OUTPUT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EINVAL}
)


def _output_failed(exc: OSError) -> int:
    _quiet_broken_pipe()
    _say(f"cannot write the output: {exc.strerror or exc}")
    return exitcodes.OUTPUT


def _flush_stdout() -> None:
    stdout = sys.stdout
    if stdout is not None:
        stdout.flush()


def main(argv: Sequence[str] | None = None, *, prog_name: str = "rpccli") -> int:
    """Run the program; return the exit code instead of raising SystemExit."""
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args or os.environ.get("RPCCLI_TRACEBACK") == "1"
    if os.environ.get("_RPCCLI_COMPLETE"):
        # TAB: register rpccli's completion classes (each value quoted for its shell) first
        importlib.import_module("rpccli.completion")
    _stand_in_for_closed_streams()
    try:
        try:
            result = app.main(args, prog_name=prog_name, standalone_mode=False)
        finally:
            _flush_stdout()  # text buffered by click or rich fails HERE, not at interpreter exit
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.BadParameter as exc:
        # a bad value: one line naming the option, as every other error (not click's usage block)
        message = exc.format_message()
        _say(message[:1].lower() + message[1:])
        return exitcodes.USAGE
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
        _say(describe(exc))
        return exitcodes.exit_code(exc)
    except OSError as exc:  # after RPCError: CallTimeout is a TimeoutError
        # nothing else reaches here as OSError: sockets, files and config wrap theirs in RPCError
        if show_traceback or exc.errno not in _OUTPUT_ERRNOS:
            raise
        return _output_failed(exc)
    return result if isinstance(result, int) else exitcodes.OK
