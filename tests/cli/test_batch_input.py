"""What ``rpccli batch`` reads: the shell's word syntax (ANSI-C quoting included), JSON objects
and arrays, and one error line per bad line that names the line once."""

from __future__ import annotations

import json
import os

import pytest

from rpccli.batch.input import LineReader, parse_line
from rpccli.errors import InputError
from rpccli.words import split_line
from tests.cli.conftest import run_cli


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


def test_batch_error_lines_name_their_line_once(bundled_node: str) -> None:
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


def test_ready_counts_the_lines_that_can_be_had_without_blocking() -> None:
    """rpccli.batch.ordered asks ready() again only once the lines it counted are taken."""
    r, w = os.pipe()
    os.write(w, b"a\nb\nc\npart")
    with os.fdopen(r, "rb", buffering=0) as stream:
        reader = LineReader(stream, raw=True)
        assert reader.ready() is True  # a newline has come: at least one line
        lines = iter(reader)
        assert next(lines) == (1, b"a")
        assert reader.ready() == 2  # b and c are split off already
        assert [next(lines), next(lines)] == [(2, b"b"), (3, b"c")]
        assert not reader.ready()  # "part" waits for its newline
        os.write(w, b"\n")
        os.close(w)
        assert reader.ready() is True
        assert list(lines) == [(4, b"part")]
