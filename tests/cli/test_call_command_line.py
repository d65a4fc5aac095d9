"""How ``rpccli call`` reads its command line: options, then NODE (or a default node), then
FUNCTION, then arguments, which may start with a dash; ``--local FILE.py`` in place of NODE."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import run_cli
from tests.conftest import EXAMPLE_FUNCTIONS


def test_dash_words_after_function_are_arguments(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "echo", "-1", "-x", "--json", "-t", "1")
    assert (result.code, result.out) == (0, b"-1 -x --json -t 1")
    result = run_cli("call", "-t", "2", "--json", bundled_node, "echo", "-5")
    assert result.code == 0 and b'"response": "-5"' in result.out
    assert run_cli("call", bundled_node, "echo", "--", "-1").out == b"-1"  # the old form
    assert run_cli("call", "-vt", "2", bundled_node, "echo", "-q").out == b"-q"
    env = {"RPCCLI_NODE": bundled_node}
    assert run_cli("call", "echo", "-1", env=env).out == b"-1"


def test_local_call_takes_dash_arguments() -> None:

    result = run_cli("call", "--local", str(EXAMPLE_FUNCTIONS), "echo", "-1")
    assert (result.code, result.out) == (0, b"-1")


def test_local_takes_no_node(bundled_node: str) -> None:

    result = run_cli("call", "--local", str(EXAMPLE_FUNCTIONS), bundled_node, "hello")
    assert (result.code, result.out) == (2, b"")
    assert result.err == (
        f"rpccli: --local calls in this process and takes no NODE ('{bundled_node}'): "
        "rpccli call --local FILE.py FUNCTION [ARG ...]\n"
    )


def test_default_node_lets_node_be_left_out(bundled_node: str) -> None:
    env = {"RPCCLI_NODE": bundled_node}
    assert run_cli("call", "hello", env=env).out == b"Hello, world"
    assert run_cli("call", "echo", "a", "b", env=env).out == b"a b"
    assert run_cli("call", ".", "echo", "x", env=env).out == b"x"
    assert run_cli("call", bundled_node, "echo", "y", env={"RPCCLI_NODE": ":1"}).out == b"y"


def test_default_node_from_config(bundled_node: str, write_config: Callable[[str], Path]) -> None:
    write_config(f'[defaults]\nnode = "here"\n[nodes.here]\naddress = "{bundled_node}"\n')
    assert run_cli("call", "echo", "z").out == b"z"
    assert run_cli("call", "here", "echo", "w").out == b"w"  # a profile is the NODE


def test_missing_function_without_a_default_node_hints_at_it() -> None:
    result = run_cli("call", "hello")
    assert result.code == 2
    assert result.err.endswith(
        "Error: missing FUNCTION after NODE 'hello'; to leave NODE out, set a default node "
        "(RPCCLI_NODE=HOST:PORT, or node under [defaults] in the config): then "
        "'rpccli call hello' or 'rpccli call . hello'\n"
    )
