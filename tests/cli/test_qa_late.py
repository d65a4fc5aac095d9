"""Late QA findings: batch's word syntax (F15), --explain with bytes nginx cannot carry (F23),
round-robin and best across one-shot calls (F20), help polish (F19)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpccli.batch.input import parse_line
from rpccli.errors import InputError
from rpccli.words import split_line
from tests.cli.conftest import run_cli

# ---- F15: one word syntax for shell and batch; JSON arrays ----


@pytest.mark.parametrize(
    "line",
    [
        "echo $'\\x41' 'a b' \"c\\$d\" e\\ f",
        "echo $'\\x00\\xff' $'\\u00e9'",
        "echo \"say \\\"hi\\\"\" 'it''s'",
        "echo\ta  b",
    ],
)
def test_batch_words_are_the_shells(line: str) -> None:
    words = split_line(line)
    job = parse_line(line, 1)
    assert job is not None
    assert (job.function.encode(), job.args) == (words[0].value, [w.value for w in words[1:]])


def test_batch_ansi_c_quoting_and_json_array(bundled_node: str) -> None:
    data = b'echo $\'\\x41\'\n["echo", "x", {"base64": "AAE="}]\n'
    result = run_cli("batch", "-q", bundled_node, input=data)
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert result.code == 0, result.err
    assert [(r["function"], r["response_base64"]) for r in rows] == [
        ("echo", "QQ=="),
        ("echo", "eCAAAQ=="),  # echo joins its args with a space
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[]", "an empty JSON array"),
        ("[1, 2]", "starts with the function name"),
        ('["echo", 2]', "each arg must be a string"),
        ("[echo,x]", "bad JSON"),
        ('[["echo"]]', "starts with the function name"),
        ("echo $'open", "unterminated $' quote"),
    ],
)
def test_batch_bad_lines_are_clear_errors(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("$", "\\$")):
        parse_line(line, 1)


def test_batch_bracket_line_is_never_a_function_name(bundled_node: str) -> None:
    result = run_cli("batch", "-q", bundled_node, input=b"[echo,x]\n")
    row = json.loads(result.out)
    assert result.code == 6
    assert row["error"]["type"] == "usage" and row["error"]["message"].startswith("bad JSON")


def test_batch_help_documents_the_syntax() -> None:
    text = run_cli("batch", "--help").text
    assert "$'\\x41'" in text and '["FUNCTION", "ARG", ...]' in text


# ---- F23: --explain never prints raw NUL, control or non-UTF-8 bytes ----


def _printable_text(out: bytes) -> str:
    text = out.decode("utf-8")  # strict: no raw invalid UTF-8
    assert all(c == "\n" or (ord(c) >= 32 and not 0x7F <= ord(c) <= 0x9F) for c in text)
    return text


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"x\0y\xff", ["argument 1 contains a NUL byte (at offset 1)"]),
        (b"\xffz", ["argument 1 is not UTF-8 text (byte 0xff at offset 0)"]),
        (b"a\x1b[2J", ["argument 1 contains the control character '\\x1b' (at offset 1)"]),
        (b"\xc2\x9b", ["argument 1 contains the control character '\\x9b' (at offset 0)"]),
    ],
)
def test_explain_prints_a_comment_instead_of_raw_bytes(
    tmp_path: Path, data: bytes, words: list[str]
) -> None:
    (tmp_path / "arg.bin").write_bytes(data)
    result = run_cli("call", "--explain", ":3031", "echo", f"@{tmp_path / 'arg.bin'}", "z")
    text = _printable_text(result.out)
    assert result.code == 0
    assert "location" not in text and "uwsgi_param" not in text
    assert "# no nginx block printed for this call:" in text
    for word in words:
        assert f"# {word}: nginx config has no escape for it" in text
    assert f"uwsgi.rpc('127.0.0.1:3031', b'echo', {data!r}, b'z')" in text


def test_explain_names_the_function_and_every_bad_argument() -> None:
    result = run_cli("call", "--explain", ":3031", "he\x01llo", "ok", "a\x02", "b\tc")
    text = _printable_text(result.out)
    assert [line.split(" contains")[0] for line in text.splitlines() if "contains" in line] == [
        "# the function name",
        "# argument 2",
    ]


def test_explain_keeps_text_tabs_and_newlines_in_the_block() -> None:
    text = _printable_text(run_cli("call", "--explain", ":3031", "echo", "é\tx", "a\nb").out)
    assert 'uwsgi_param echo "";' in text
    assert 'uwsgi_param "é\\tx" "a\\nb";' in text


# ---- F20: round-robin and best across one-shot calls ----


@pytest.fixture(scope="module")
def second_node() -> Iterator[str]:
    from protocol.server import serve_in_thread
    from protocol.server.functions import FunctionTable
    from tests.conftest import EXAMPLE_FUNCTIONS

    table = FunctionTable()
    table.load_file(EXAMPLE_FUNCTIONS)
    with serve_in_thread(table, ("127.0.0.1:0",)) as server:
        yield server.node


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


# ---- F19: --help polish ----


def test_top_help_lists_whole_summaries_exit_codes_and_environment() -> None:
    text = run_cli("--help").text
    commands = text.split("Commands:\n")[1].split("\n\n")[0].splitlines()
    assert len(commands) == 6 and not any(line.endswith("...") for line in commands)
    for word in ("Exit codes", "130 interrupted", "RPCCLI_NODE", "RPCCLI_TIMEOUT", "NO_COLOR"):
        assert word in text
    assert "RPCCLI_CONFIG" in text and "config.toml" in text
    assert "6 some nodes of -s all failed" in run_cli("call", "--help").text.replace("\n  ", " ")


def test_traceback_after_the_command_name(refused_node: str) -> None:
    with pytest.raises(Exception, match="refused"):
        run_cli("call", "--traceback", refused_node, "hello")
    assert run_cli("call", refused_node, "hello").code == 3


def test_unknown_command_suggests_the_close_one() -> None:
    result = run_cli("cal", ":1", "hello")
    assert result.code == 2 and "No such command 'cal'. Did you mean 'call'?" in result.err
    assert "Did you mean" not in run_cli("zzz").err


def test_empty_file_argument_names_its_source(tmp_path: Path) -> None:
    (tmp_path / "e.bin").write_bytes(b"")
    result = run_cli("call", ":1", "echo", "a", f"@{tmp_path / 'e.bin'}")
    assert (result.code, result.out) == (2, b"")
    assert f"argument 2 (@{tmp_path / 'e.bin'}, 0 bytes) is empty" in result.err
    result = run_cli("call", ":1", "echo", "@-", input=b"")
    assert "argument 1 (@-, standard input) is empty" in result.err


# ---- F22: fan-out and group calls teach each answering node its names ----


def test_fan_out_and_group_calls_teach_every_answering_node(
    bundled_node: str, second_node: str, refused_node: str
) -> None:
    from rpccli.names import known_names

    group = f"{bundled_node},{second_node},{refused_node}"
    assert run_cli("call", "-s", "all", "--json", group, "hello").code == 6
    assert run_cli("call", "--json", f"{refused_node},{second_node}", "echo", "x").code == 0
    assert "hello" in known_names(bundled_node) and "hello" in known_names(second_node)
    assert "hello" in known_names(group) and "echo" in known_names(second_node)
    assert "hello" not in known_names(refused_node)


# ---- F18: TAB after --local offers the file's functions; @ARG offers files ----


def _tab(line: str, cwd: Path) -> list[str]:
    import os
    import subprocess
    import sys

    env = {**os.environ, "_RPCCLI_COMPLETE": "bash_complete", "COMP_LINE": line}
    env["COMP_WORDBREAKS"] = "\"'><=;|&(:"
    command = [sys.executable, "-m", "rpccli"]
    return subprocess.run(command, env=env, capture_output=True, text=True, cwd=cwd).stdout.split()


def test_tab_after_local_offers_the_files_functions_without_running_it(tmp_path: Path) -> None:
    from tests.conftest import EXAMPLE_FUNCTIONS

    py = tmp_path / "f.py"
    py.write_text(
        "import uwsgi\nopen('ran', 'w')\n"
        "def a(): return b'a'\n"
        "for fn in (a,):\n    uwsgi.register_rpc(fn.__name__, fn)\n"
        "uwsgi.register_rpc('second', a)\nuwsgi.register_rpc(b'third', a)\n"
    )
    assert _tab(f"rpccli call --local {py} ", tmp_path) == [
        "plain,a",
        "plain,second",
        "plain,third",
    ]
    assert not (tmp_path / "ran").exists()
    assert _tab(f"rpccli call --local {EXAMPLE_FUNCTIONS} he", tmp_path) == ["plain,hello"]
    lua = EXAMPLE_FUNCTIONS.with_suffix(".lua")
    assert _tab(f"rpccli call --local {lua} ", tmp_path) == [
        "plain,answer",
        "plain,hellolua",
        "plain,luafail",
    ]


def test_tab_completes_file_arguments_after_at(tmp_path: Path) -> None:
    (tmp_path / "rnd.bin").write_bytes(b"x")
    (tmp_path / "rdir").mkdir()
    (tmp_path / "rdir" / "in.txt").write_text("x")
    (tmp_path / ".rhidden").write_text("x")
    assert _tab("rpccli call :1 echo a @r", tmp_path) == ["plain,@rdir/", "plain,@rnd.bin"]
    assert _tab("rpccli call :1 echo @rdir/", tmp_path) == ["plain,@rdir/in.txt"]
    assert _tab("rpccli call --local f.py echo @rn", tmp_path) == ["plain,@rnd.bin"]
    assert _tab("rpccli call :1 echo @@r", tmp_path) == []
