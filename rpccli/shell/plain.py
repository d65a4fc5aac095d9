"""The shell on a dumb terminal (``TERM=dumb``: Emacs's shell mode, some CI consoles).

Such a terminal cannot move the cursor or redraw a line, so prompt_toolkit's editing showed one
thing (``helo x``) while it sent another (``hello x``), and backspaces went astray. Here the
terminal's own line editing does the work: a plain prompt, the line read as the terminal
delivers it, so what the screen shows is exactly what is sent. No completion menu, no toolbar.
"""

from __future__ import annotations

import io
import sys
from typing import IO

from protocol.visible import visible
from rpccli.shell.session import Shell, ShellExit

__all__ = ["run_plain"]


def run_plain(shell: Shell, *, banner: str = "", screen: IO[str] | None = None) -> int:
    """Prompt and run lines until end of input or ``.quit`` (exit code 0), as the prompt does."""
    out = screen if screen is not None else sys.stdout
    # bytes that are not UTF-8 survive as surrogates and are sent as the same bytes
    lines = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
    if banner:
        shell.say(banner)
    while True:
        out.write(f"{visible(shell.node)}> ")
        out.flush()
        try:
            line = lines.readline()
        except KeyboardInterrupt:
            out.write("\n")
            continue  # Ctrl-C at the prompt drops the line, as in bash
        if not line:
            out.write("\n")
            out.flush()
            return 0
        try:
            shell.run_lines(line.rstrip("\n"))
        except ShellExit:
            return 0
        except KeyboardInterrupt:
            continue
