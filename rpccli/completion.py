"""``rpccli completion bash|zsh|fish``: print the shell completion script.

The scripts are click's own (generated from the click app, checked into completions/ and proven
current by a test). On TAB they run ``rpccli`` with ``_RPCCLI_COMPLETE`` set; the dynamic values
come from rpccli.names -- profile names for NODE, and for FUNCTION the names from the profile,
learned from successful calls, and the stored listing -- never from the network, and without
importing rich or prompt_toolkit.
"""

from __future__ import annotations

import click

__all__ = ["COMPLETE_VAR", "PROG_NAME", "SHELLS", "completion", "script"]

PROG_NAME = "rpccli"
COMPLETE_VAR = "_RPCCLI_COMPLETE"
#: shell -> the file name of its script in completions/
SHELLS = {"bash": "rpccli.bash", "zsh": "_rpccli", "fish": "rpccli.fish"}


def script(shell: str) -> str:
    """The completion script for ``shell``, as click generates it for the rpccli app."""
    from click.shell_completion import get_completion_class

    from rpccli.cli import app

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click.Choice below allows only known shells
        raise click.UsageError(f"no completion for {shell}")
    source = cls(app, {}, PROG_NAME, COMPLETE_VAR).source()
    return source if source.endswith("\n") else source + "\n"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("shell", type=click.Choice(sorted(SHELLS)))
def completion(shell: str) -> None:
    """Print the TAB-completion script for SHELL.

    \b
    bash:  eval "$(rpccli completion bash)"                    # in ~/.bashrc
    zsh:   eval "$(rpccli completion zsh)"                     # in ~/.zshrc
           (or save it as _rpccli in a directory of $fpath)
    fish:  rpccli completion fish > ~/.config/fish/completions/rpccli.fish

    TAB completes commands and options, profile names for NODE, and for FUNCTION the names
    known locally for that node (profile, learned from successful calls, and the last listing
    fetched by `rpccli shell`). TAB never contacts a node.
    """
    click.echo(script(shell), nl=False)
