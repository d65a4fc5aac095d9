"""TAB completion for bash, zsh and fish: ``rpccli completion SHELL`` prints the script
(rpccli.completion.command, with click); on TAB the script runs ``rpccli`` with
``_RPCCLI_COMPLETE`` set, and the common answers come from rpccli.completion.quick without
importing click (docs/completion.md#how-fast).

This package imports nothing: ``from rpccli.completion import script`` loads the click part.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COMPLETE_VAR", "PROG_NAME", "SHELLS", "completion", "script"]

PROG_NAME = "rpccli"
COMPLETE_VAR = "_RPCCLI_COMPLETE"
#: shell -> the file name of its script in completions/
SHELLS = {"bash": "rpccli.bash", "zsh": "_rpccli", "fish": "rpccli.fish"}


def __getattr__(name: str) -> Any:
    if name in ("completion", "script", "QuotingBash", "RawZsh", "RawFish"):
        from rpccli.completion import command

        return getattr(command, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
