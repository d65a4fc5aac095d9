"""``rpccli call --explain`` never prints a raw NUL, control or non-UTF-8 byte: what nginx config
cannot carry becomes a comment instead of a block, and text keeps its tabs and newlines escaped.
(tests/hostile/test_explain_hostile.py loads what it prints into real nginx.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import run_cli


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
