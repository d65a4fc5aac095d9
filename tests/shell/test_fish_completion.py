"""fish offers whole node groups and whole profile descriptions (issue 15, item 1): its script
once split every answer at each comma, so ``:3031,:4031`` became ``:3031`` and a profile's
``127.0.0.1:3031, 127.0.0.1:4031`` was cut. Real fish, asked what TAB would offer; the
`rpccli` it runs is tests/forkcommand.py's warm one (what TAB offers is tested, not its start)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rpccli import names
from tests.forkcommand import rpccli_command
from tests.peers import ROOT, require

SCRIPT = ROOT / "completions" / "rpccli.fish"


def _fish_offers(line: str) -> list[str]:
    fish = require("fish")
    env = {**os.environ, "PATH": f"{rpccli_command().parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [fish, "--no-config", "-c", f"source {SCRIPT}; complete -C {line!r}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Names and config of this test only."""


def test_fish_offers_a_node_group_whole() -> None:
    names.remember(":3031,:4031", "hello")  # as `rpccli call` does after a success
    assert _fish_offers("rpccli call :3031,") == [":3031,:4031\tused before"]


def test_fish_shows_a_profile_description_whole(xdg_dirs: dict[str, Path]) -> None:
    config = xdg_dirs["config"] / "rpccli" / "config.toml"
    config.parent.mkdir()
    config.write_text("[nodes.grp]\naddress = [':3031', ':4031']\n")
    assert _fish_offers("rpccli call gr") == ["grp\t127.0.0.1:3031, 127.0.0.1:4031"]
