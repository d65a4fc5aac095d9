"""The click wiring: commands load lazily, so ``rpccli call`` imports only what the call needs.

:func:`rpccli.cli.main` runs a plain ``rpccli call`` line without click (rpccli.call.plain) and
every other command line here (docs/design.md#start-up).
"""

from __future__ import annotations

import importlib

import click

from rpccli import __version__

__all__ = ["COMMANDS", "SUMMARIES", "app"]

#: command name -> "module:attribute"; a module is imported only when its command runs
COMMANDS: dict[str, str] = {
    "call": "rpccli.call.command:call",
    "ping": "rpccli.ping:ping",
    "batch": "rpccli.batch:batch",
    "bench": "rpccli.bench.command:bench",
    "serve": "rpccli.serve:serve",
    "shell": "rpccli.shell:shell",
    "completion": "rpccli.completion.command:completion",
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
