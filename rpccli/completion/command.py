"""``rpccli completion bash|zsh|fish``: print the shell completion script; click's answers to TAB.

The scripts are click's own (generated from the click app, checked into completions/ and proven
current by a test), changed so that no value is ever split, globbed or evaluated: a node names
its functions, and a name is data however it is spelled. On TAB they run ``rpccli`` with
``_RPCCLI_COMPLETE`` set; the dynamic values come from rpccli.names -- profile names for NODE,
and for FUNCTION the names from the profile, learned from successful calls, and the stored
listing -- never from the network, and without importing rich or prompt_toolkit.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    FishComplete,
    ZshComplete,
    add_completion_class,
)

from rpccli.completion import COMPLETE_VAR, PROG_NAME, SHELLS
from rpccli.completion.quick import bash_format, sendable, zsh_format

__all__ = [
    "QuotingBash",
    "RawFish",
    "RawZsh",
    "completion",
    "script",
]


_SOURCE_BASH = """\
%(complete_func)s() {
    local response line type value

    # The line up to the cursor, not COMP_WORDS: bash splits words at ':' (COMP_WORDBREAKS),
    # which would cut every HOST:PORT node in two.
    response=$(env COMP_LINE="${COMP_LINE:0:$COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \\
%(complete_var)s=bash_complete "$1")

    # One answer a line, TYPE,VALUE. VALUE is already quoted for the place it goes, so it is
    # added as one word, as it is: never split, globbed or evaluated here.
    while IFS= read -r line; do
        type=${line%%%%,*}
        value=${line#*,}

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=("$value")
        fi
    done <<< "$response"

    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""


# click's zsh script, with the answers looped over as they are (quoted: one element each)
_SOURCE_ZSH = """\
#compdef %(prog_name)s

%(complete_func)s() {
    local -a completions
    local -a completions_with_descriptions
    local -a response
    (( ! $+commands[%(prog_name)s] )) && return 1

    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \
%(complete_var)s=zsh_complete %(prog_name)s)}")

    # Raw values: compadd and _describe quote them for the command line (no -Q).
    for type key descr in "${response[@]}"; do
        if [[ "$type" == "plain" ]]; then
            if [[ "$descr" == "_" ]]; then
                completions+=("$key")
            else
                completions_with_descriptions+=("$key":"$descr")
            fi
        elif [[ "$type" == "dir" ]]; then
            _path_files -/
        elif [[ "$type" == "file" ]]; then
            _path_files -f
        fi
    done

    if (( ${#completions_with_descriptions} )); then
        _describe -V unsorted completions_with_descriptions -U
    fi

    if (( ${#completions} )); then
        compadd -U -V unsorted -a completions
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    # autoload from fpath, call function directly
    %(complete_func)s "$@"
else
    # eval/source/. command, register function for later
    compdef %(complete_func)s %(prog_name)s
fi
"""

# click's fish script, splitting each answer at its FIRST comma only (a description or a node
# group has more) and printing the value with printf, which reads no option or escape in it
_SOURCE_FISH = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        set -l metadata (string split -m1 "," -- $completion);

        if test "$metadata[1]" = "dir";
            __fish_complete_directories $metadata[2];
        else if test "$metadata[1]" = "file";
            __fish_complete_path $metadata[2];
        else if test "$metadata[1]" = "plain";
            printf '%%s\\n' $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments \
"(%(complete_func)s)";
"""


class QuotingBash(BashComplete):
    """click's bash completion, with every value quoted by rpccli for the place it goes.

    bash inserts a completion exactly as given, so a value is written here the way bash reads it
    back as itself (rpccli.completion.bash_words): ``he$(id)`` arrives as ``he\\$\\(id\\)``, or
    written inside the quote the user opened. The whole line is read, not COMP_WORDS, so that
    ``127.0.0.1:3031`` stays one word; a value then holds only what replaces readline's text,
    e.g. the part after the last ':' typed (a word break for bash), as bash-completion's
    __ltrim_colon_completions does.
    """

    source_template = _SOURCE_BASH

    def get_completion_args(self) -> tuple[list[str], str]:
        from rpccli.completion.bash_words import DEFAULT_BREAKS, read_line

        breaks = os.environ.get("COMP_WORDBREAKS", DEFAULT_BREAKS)
        self._line = read_line(os.environ.get("COMP_LINE", ""), breaks)
        return self._line.words[1:], self._line.incomplete

    def complete(self) -> str:
        args, incomplete = self.get_completion_args()
        completions = self.get_completions(args, incomplete)
        return "\n".join(filter(None, map(self.format_completion, completions)))

    def format_completion(self, item: CompletionItem) -> str:
        return bash_format(getattr(self, "_line", None), item.type, str(item.value))


class RawZsh(ZshComplete):
    """click's zsh completion; zsh quotes each value itself (compadd without -Q), for the quote
    the user opened if any, so values go out raw -- only those a line can carry."""

    source_template = _SOURCE_ZSH

    def format_completion(self, item: CompletionItem) -> str:
        return zsh_format(item.type, str(item.value), item.help)

    def complete(self) -> str:
        args, incomplete = self.get_completion_args()
        items = [i for i in self.get_completions(args, incomplete) if _sendable(i)]
        return "\n".join(self.format_completion(item) for item in items)


class RawFish(FishComplete):
    """click's fish completion; fish escapes what it inserts, so values go out raw."""

    source_template = _SOURCE_FISH

    def complete(self) -> str:
        args, incomplete = self.get_completion_args()
        items = [i for i in self.get_completions(args, incomplete) if _sendable(i)]
        return "\n".join(self.format_completion(item) for item in items)


def _sendable(item: CompletionItem) -> bool:
    return sendable(str(item.value), item.help)


add_completion_class(QuotingBash, "bash")
add_completion_class(RawZsh, "zsh")
add_completion_class(RawFish, "fish")


def script(shell: str) -> str:
    """The completion script for ``shell``, as click generates it for the rpccli app."""
    from click.shell_completion import get_completion_class

    from rpccli.app import app

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
