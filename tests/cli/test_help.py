"""``--help`` and the words around commands: whole summaries, exit codes and environment in the
top help, a close command suggested for a typo, ``--traceback`` after the command name."""

from __future__ import annotations

import pytest

from rpccli.cli import COMMANDS
from tests.cli.conftest import run_cli


def test_top_help_lists_whole_summaries_exit_codes_and_environment() -> None:
    text = run_cli("--help").text
    commands = text.split("Commands:\n")[1].split("\n\n")[0].splitlines()
    assert len(commands) == len(COMMANDS) and not any(line.endswith("...") for line in commands)
    for word in ("Exit codes", "130 interrupted", "RPCCLI_NODE", "RPCCLI_TIMEOUT", "NO_COLOR"):
        assert word in text
    assert "RPCCLI_CONFIG" in text and "config.toml" in text
    assert "6 some nodes of -s all failed" in run_cli("call", "--help").text.replace("\n  ", " ")


def test_batch_strategy_option_has_help() -> None:
    assert "How to use several nodes" in run_cli("batch", "--help").text


def test_unknown_command_suggests_the_close_one() -> None:
    result = run_cli("cal", ":1", "hello")
    assert result.code == 2 and "No such command 'cal'. Did you mean 'call'?" in result.err
    assert "Did you mean" not in run_cli("zzz").err


def test_traceback_option_after_the_command_name_raises(refused_node: str) -> None:
    with pytest.raises(Exception, match="refused"):
        run_cli("call", "--traceback", refused_node, "hello")
    assert run_cli("call", refused_node, "hello").code == 3
