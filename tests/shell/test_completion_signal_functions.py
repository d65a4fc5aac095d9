"""TAB for the commands `signal`, `functions` and its alias `ls`: the command names, then NODE,
locally and without loading the heavy modules (the scripts in completions/ are generic: they ask
the click app, so new commands need no new script)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpccli import names
from tests.shell.test_completion_scripts import _tab


@pytest.mark.parametrize(
    ("line", "offered"),
    [("rpccli sig", "plain,signal"), ("rpccli fun", "plain,functions"), ("rpccli l", "plain,ls")],
)
def test_the_new_commands_complete(line: str, offered: str) -> None:
    assert offered in _tab(line).stdout.split()


@pytest.mark.parametrize("command", ["signal", "functions", "ls"])
def test_their_node_completes_from_nodes_used_before(
    command: str, xdg_dirs: dict[str, Path]
) -> None:
    names.remember("127.0.0.1:1", "hello")  # 127.0.0.1:1 refuses: TAB must not connect
    result = _tab(f"rpccli {command} 127.0.0")
    assert result.stdout.split() == ["plain,127.0.0.1:1"]
    assert result.stderr.strip() == "IMPORTED"
