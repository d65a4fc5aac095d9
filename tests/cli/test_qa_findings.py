"""The QA pass's findings on call, batch, ping and config: exact bytes and exit codes."""

from __future__ import annotations

from tests.cli.conftest import run_cli


# ---- F10: names echoed in errors are escaped ----


def test_control_characters_in_a_function_name_are_escaped(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "hel\x01lo\x1b[2J")
    assert result.code == 1 and result.out == b""
    assert result.err.startswith(
        f"rpccli: no result from {bundled_node}: 'hel\\x01lo\\x1b[2J' is not registered there"
    )
    assert "\x1b" not in result.err and "\x01" not in result.err
