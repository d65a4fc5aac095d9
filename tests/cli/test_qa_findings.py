"""The QA pass's findings on call, batch, ping and config: exact bytes and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import run_cli

# ---- F10: names echoed in errors are escaped ----


def test_control_characters_in_a_function_name_are_escaped(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "hel\x01lo\x1b[2J")
    assert result.code == 1 and result.out == b""
    assert result.err.startswith(
        f"rpccli: no result from {bundled_node}: 'hel\\x01lo\\x1b[2J' is not registered there"
    )
    assert "\x1b" not in result.err and "\x01" not in result.err


# ---- F4: fan-out piped is JSON Lines ----


def test_fan_out_piped_defaults_to_json_lines(bundled_node: str, refused_node: str) -> None:
    import json

    result = run_cli("call", "-s", "all", f"{bundled_node},{refused_node}", "echo", "a\nb")
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert result.code == 6
    assert [(r["node"], r["response"]) for r in rows] == [
        (bundled_node, "a\nb"),
        (refused_node, None),
    ]


def test_fan_out_explicit_bytes_keeps_bytes_and_newlines(bundled_node: str) -> None:
    port = bundled_node.rsplit(":", 1)[1]
    result = run_cli(
        "call", "-s", "all", "-o", "bytes", f"{bundled_node},localhost:{port}", "hello"
    )
    assert (result.code, result.out) == (0, b"Hello, world\nHello, world\n")


# ---- F9: the default node ----


def test_default_node_lets_node_be_left_out(bundled_node: str) -> None:
    env = {"RPCCLI_NODE": bundled_node}
    assert run_cli("call", "hello", env=env).out == b"Hello, world"
    assert run_cli("call", "echo", "a", "b", env=env).out == b"a b"
    assert run_cli("call", ".", "echo", "x", env=env).out == b"x"
    assert run_cli("call", bundled_node, "echo", "y", env={"RPCCLI_NODE": ":1"}).out == b"y"


def test_default_node_from_config(bundled_node: str, write_config) -> None:  # type: ignore[no-untyped-def]
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


# ---- F14: words after FUNCTION are arguments ----


def test_dash_words_after_function_are_arguments(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "echo", "-1", "-x", "--json", "-t", "1")
    assert (result.code, result.out) == (0, b"-1 -x --json -t 1")
    result = run_cli("call", "-t", "2", "--json", bundled_node, "echo", "-5")
    assert result.code == 0 and b'"response": "-5"' in result.out
    assert run_cli("call", bundled_node, "echo", "--", "-1").out == b"-1"  # the old form
    assert run_cli("call", "-vt", "2", bundled_node, "echo", "-q").out == b"-q"
    env = {"RPCCLI_NODE": bundled_node}
    assert run_cli("call", "echo", "-1", env=env).out == b"-1"


def test_local_with_dash_arguments() -> None:
    from tests.conftest import EXAMPLE_FUNCTIONS

    result = run_cli("call", "--local", str(EXAMPLE_FUNCTIONS), "echo", "-1")
    assert (result.code, result.out) == (0, b"-1")


# ---- F12: call wording and options ----


def test_singular_counts(bundled_node: str) -> None:
    result = run_cli("call", "--dry-run", bundled_node, "hello")
    assert result.text.startswith("# 11 bytes: 4-byte header + 7-byte body, 1 item\n")
    result = run_cli("call", "-v", bundled_node, "hello", "a")
    assert '> items: function "hello", 1 arg (at most 254)\n' in result.err


def test_dry_run_with_json_is_a_usage_error(bundled_node: str) -> None:
    result = run_cli("call", "--dry-run", "--json", bundled_node, "hello")
    assert (result.code, result.out) == (2, b"")
    assert result.err == (
        "rpccli: --dry-run and --explain print text; they have no JSON form (drop --json)\n"
    )


def test_verbose_shows_failover(bundled_node: str, refused_node: str) -> None:
    result = run_cli("call", "-v", f"{refused_node},{bundled_node}", "hello")
    assert result.code == 0 and result.out == b"Hello, world"
    assert result.err.startswith(
        f"* cannot connect to {refused_node}: refused; trying the next node\n> {bundled_node}\n"
    )


def test_local_takes_no_node(bundled_node: str) -> None:
    from tests.conftest import EXAMPLE_FUNCTIONS

    result = run_cli("call", "--local", str(EXAMPLE_FUNCTIONS), bundled_node, "hello")
    assert (result.code, result.out) == (2, b"")
    assert result.err == (
        f"rpccli: --local calls in this process and takes no NODE ('{bundled_node}'): "
        "rpccli call --local FILE.py FUNCTION [ARG ...]\n"
    )


def test_fan_out_table_shows_binary_as_hex() -> None:
    import io

    from rich.console import Console

    from rpccli.output.pretty import print_table

    out = io.StringIO()
    row = {"node": "n", "ok": True, "response": "\x00\x01!\"'", "response_base64": "AAEhIic="}
    print_table(Console(file=out, width=100), [{**row, "bytes": 5, "elapsed_ms": 1.0}])
    assert "(5 binary bytes: 00 01 21 22 27)" in out.getvalue()


# ---- F7: URLs and paths that are no sockets ----


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "http://127.0.0.1:3031",
            "bad node 'http://127.0.0.1:3031': rpccli speaks the uwsgi protocol, not HTTP; "
            "use HOST:PORT (or unix:PATH for a socket path)",
        ),
        (
            "tcp://127.0.0.1:3031",
            "bad node 'tcp://127.0.0.1:3031': rpccli speaks the uwsgi protocol, not URLs; "
            "use HOST:PORT (or unix:PATH for a socket path)",
        ),
        (
            "127.0.0.1:3031/x",
            "bad node '127.0.0.1:3031/x': a node has no path; use HOST:PORT "
            "(or unix:PATH for a socket path)",
        ),
    ],
)
def test_urls_are_usage_errors(node: str, message: str) -> None:
    result = run_cli("call", node, "hello")
    assert (result.code, result.out, result.err) == (2, b"", f"rpccli: {message}\n")


def test_bare_word_naming_a_file_suggests_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.sock").touch()
    result = run_cli("call", "s.sock", "hello")
    assert result.code == 2
    assert result.err.endswith("; did you mean ./s.sock?\n")


def test_a_file_that_is_no_socket(tmp_path: Path) -> None:
    (tmp_path / "plain").touch()
    result = run_cli("call", f"{tmp_path}/plain", "hello")
    assert (result.code, result.err) == (
        3,
        f"rpccli: cannot connect to {tmp_path}/plain: not a socket\n",
    )


# ---- F12: config profiles ----


def test_profile_typo_is_reported_as_an_unknown_key(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[nodes.a]\nadress = ":1"\n')
    result = run_cli("call", "a", "hello")
    assert (result.code, result.err) == (
        2,
        f"rpccli: bad config file {path}, line 2: unknown key 'adress' in [nodes.a]\n",
    )


def test_unknown_profile_lists_the_known_ones(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[nodes.prod]\naddress = ":1"\n[nodes.dev]\naddress = ":2"\n')
    result = run_cli("call", "prd", "hello")
    assert (result.code, result.err) == (
        2,
        "rpccli: unknown node 'prd': not HOST:PORT, :PORT, a socket path or @NAME, and no "
        f"profile of that name in {path} (profiles: dev, prod)\n",
    )


# ---- F5: batch error lines ----


def test_batch_errors_say_line_once(bundled_node: str) -> None:
    data = b'echo "unterminated\n{"bad json\n{"args":["x"]}\necho it\'s\n'
    result = run_cli("batch", "--raw-output", bundled_node, input=data)
    assert (result.code, result.out) == (6, b"\n\n\n\n")
    assert result.err.splitlines()[:4] == [
        'rpccli: line 1: unterminated " quote',
        "rpccli: line 2: bad JSON: Unterminated string starting at: line 1 column 2 (char 1)",
        'rpccli: line 3: missing "function"',
        "rpccli: line 4: unterminated ' quote",
    ]


def test_batch_json_error_messages_have_no_line_prefix(bundled_node: str) -> None:
    import json

    result = run_cli("batch", "-q", bundled_node, input=b'{"args": []}\n')
    rec = json.loads(result.out)
    assert (rec["line"], rec["error"]["message"]) == (1, 'missing "function"')


def test_batch_strategy_has_help() -> None:
    assert "How to use several nodes" in run_cli("batch", "--help").text


def test_control_characters_in_a_file_name_are_escaped() -> None:
    result = run_cli("call", ":1", "echo", "@no\x1bsuch")
    assert (result.code, result.err) == (2, "rpccli: cannot read '@no\\x1bsuch': no such file\n")
