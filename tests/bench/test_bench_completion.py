"""TAB for `rpccli bench`: the command, and the function names known for its NODE."""

from __future__ import annotations

from pathlib import Path

from rpccli import names
from tests.shell.test_completion_scripts import _tab


def test_tab_offers_bench_and_the_function_names_of_its_node(xdg_dirs: dict[str, Path]) -> None:
    assert "plain,bench" in _tab("rpccli be").stdout.split()
    names.remember("127.0.0.1:1", "hello")  # nothing listens there: TAB stays local
    result = _tab("rpccli bench -c 4 127.0.0.1:1 hel")
    assert result.stdout.split() == ["plain,hello"]
    assert result.stderr.strip() == "IMPORTED"  # neither rich nor asyncio for a TAB
