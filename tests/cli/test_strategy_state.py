"""``round-robin`` and ``best`` across one-shot calls: the next call starts where the last one
left off, through a private state file that never breaks a call when it is broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli


def _answered_by(*args: str) -> str:
    result = run_cli("call", "--json", *args, "hello")
    assert result.code == 0, result.err
    return str(json.loads(result.out)["node"])


@pytest.mark.parametrize("strategy", ["round-robin", "best"])
def test_one_shot_calls_spread_over_the_group(
    strategy: str, bundled_node: str, second_node: str, xdg_dirs: dict[str, Path]
) -> None:
    group = f"{bundled_node},{second_node}"
    nodes = [_answered_by("-s", strategy, group) for _ in range(4)]
    assert nodes == [bundled_node, second_node, bundled_node, second_node]
    state = xdg_dirs["state"] / "rpccli" / "strategy.json"
    assert state.stat().st_mode & 0o777 == 0o600
    assert list(json.loads(state.read_text())[strategy]) == [group]


def test_round_robin_in_a_subprocess(bundled_node: str, second_node: str) -> None:
    # the real thing: separate processes (the in-process runs above share nothing but the file)
    import subprocess
    import sys

    command = [sys.executable, "-m", "rpccli", "call", "-s", "round-robin", "--json"]
    group = f"{second_node},{bundled_node}"
    nodes = [
        json.loads(subprocess.run([*command, group, "hello"], capture_output=True).stdout)["node"]
        for _ in range(2)
    ]
    assert nodes == [second_node, bundled_node]


def test_first_never_touches_the_state(bundled_node: str, xdg_dirs: dict[str, Path]) -> None:
    assert _answered_by(f"{bundled_node},{bundled_node.replace('127.0.0.1', 'localhost')}")
    assert not (xdg_dirs["state"] / "rpccli" / "strategy.json").exists()


def test_broken_state_never_breaks_a_call(
    bundled_node: str, second_node: str, xdg_dirs: dict[str, Path]
) -> None:
    state = xdg_dirs["state"] / "rpccli"
    state.mkdir()
    (state / "strategy.json").write_text('{"round-robin": [1], "best": {"x": 3}}')
    group = f"{bundled_node},{second_node}"
    assert _answered_by("-s", "round-robin", group) == bundled_node
    assert _answered_by("-s", "round-robin", group) == second_node
    (state / "strategy.json").unlink()
    (state / "strategy.json").mkdir()  # cannot be read or replaced: a random start, no error
    assert _answered_by("-s", "best", group) in (bundled_node, second_node)
    assert _answered_by("-s", "round-robin", group) in (bundled_node, second_node)
