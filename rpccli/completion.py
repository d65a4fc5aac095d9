"""``rpccli completion bash|zsh|fish``: print the shell completion script.

The scripts are click's own (generated from the click app, checked into completions/ and proven
current by a test). On TAB they run ``rpccli`` with ``_RPCCLI_COMPLETE`` set; the dynamic values
come from rpccli.names -- profile names for NODE, and for FUNCTION the names from the profile,
learned from successful calls, and the stored listing -- never from the network, and without
importing rich or prompt_toolkit.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    add_completion_class,
    split_arg_string,
)

__all__ = ["COMPLETE_VAR", "PROG_NAME", "SHELLS", "ColonSafeBash", "completion", "script"]

PROG_NAME = "rpccli"
COMPLETE_VAR = "_RPCCLI_COMPLETE"
#: shell -> the file name of its script in completions/
SHELLS = {"bash": "rpccli.bash", "zsh": "_rpccli", "fish": "rpccli.fish"}


_SOURCE_BASH = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response

    # The line up to the cursor, not COMP_WORDS: bash splits words at ':' (COMP_WORDBREAKS),
    # which would cut every HOST:PORT node in two.
    response=$(env COMP_LINE="${COMP_LINE:0:$COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \\
%(complete_var)s=bash_complete $1)

    for completion in $response; do
        IFS=',' read type value <<< "$completion"

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=($value)
        fi
    done

    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""


class ColonSafeBash(BashComplete):
    """click's bash completion, reading the whole line so that ``127.0.0.1:3031`` stays a word.

    bash replaces only the part of the word after its last ':' (a word break), so each value is
    sent without the text up to that colon -- what bash-completion's __ltrim_colon_completions
    does.
    """

    source_template = _SOURCE_BASH

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get("COMP_LINE", "")
        words = split_arg_string(line)
        incomplete = "" if not line or line[-1].isspace() or not words else words.pop()
        self._incomplete = incomplete
        return words[1:], incomplete

    def format_completion(self, item: CompletionItem) -> str:
        value = str(item.value)
        incomplete = getattr(self, "_incomplete", "")
        if ":" in os.environ.get("COMP_WORDBREAKS", ":") and ":" in incomplete:
            cut = incomplete.rindex(":") + 1
            if value.startswith(incomplete[:cut]):
                value = value[cut:]
        return f"{item.type},{value}"


add_completion_class(ColonSafeBash, "bash")


def script(shell: str) -> str:
    """The completion script for ``shell``, as click generates it for the rpccli app."""
    from click.shell_completion import get_completion_class

    from rpccli.cli import app

    cls: Any = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click.Choice below allows only known shells
        raise click.UsageError(f"no completion for {shell}")
    source = str(cls(app, {}, PROG_NAME, COMPLETE_VAR).source())
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
