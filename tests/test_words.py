"""The shell's word splitting: shell quoting, and $'...' escapes that can write any byte."""

from __future__ import annotations

import pytest

from rpccli.errors import InputError
from rpccli.words import split_line, split_partial


def values(line: str) -> list[bytes]:
    return [w.value for w in split_line(line)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hello world", [b"hello", b"world"]),
        ("  hello   world  ", [b"hello", b"world"]),
        ("echo 'a b' \"c d\"", [b"echo", b"a b", b"c d"]),
        ("echo a\\ b", [b"echo", b"a b"]),
        ("echo 'it''s'", [b"echo", b"its"]),
        ('echo "say \\"hi\\" \\\\ \\$ \\n"', [b"echo", b'say "hi" \\ $ \\n']),
        ("echo 'no \\n escapes'", [b"echo", b"no \\n escapes"]),
        ("echo x'y'\"z\"", [b"echo", b"xyz"]),
        ("echo héllo", [b"echo", "héllo".encode()]),
        ("echo ''", [b"echo", b""]),
        ("# a comment", []),
        ("echo #not-a-comment", [b"echo", b"#not-a-comment"]),
        ("", []),
    ],
)
def test_shell_quoting(line: str, expected: list[bytes]) -> None:
    assert values(line) == expected


@pytest.mark.parametrize(
    ("escape", "expected"),
    [
        (r"\x00\xff", b"\x00\xff"),
        (r"\x4", b"\x04"),
        (r"\n\t\r\0\e\a\b\f\v", b"\n\t\r\x00\x1b\x07\x08\x0c\x0b"),
        (r"\101\0101", b"A\x081"),
        (r"\377", b"\xff"),
        (r"\\\'\"", b"\\'\""),
        (r"\u00e9\U0001F600", "é😀".encode()),
        (r"\q", b"\\q"),
        ("plain text", b"plain text"),
    ],
)
def test_ansi_c_escapes(escape: str, expected: bytes) -> None:
    assert values(f"echo $'{escape}'") == [b"echo", expected]


def test_quoted_flag() -> None:
    words = split_line("a 'b' c\\d $'e'")
    assert [w.quoted for w in words] == [False, True, True, True]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("echo 'open", "unterminated ' quote"),
        ('echo "open', 'unterminated " quote'),
        ("echo $'open", "unterminated $' quote"),
        ("echo $'\\xZZ'", "\\x needs one or two hex digits"),
        ("echo $'\\uD800'", "not a Unicode character"),
        ("echo trailing\\", "cannot end with a backslash"),
    ],
)
def test_broken_input_is_one_clear_error(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("\\", "\\\\").replace("$", "\\$")):
        split_line(line)


def test_partial_words_for_completion() -> None:
    p = split_partial("echo 'a b' \"c")
    assert (p.words, p.current, p.open_quote, p.raw_current) == (["echo", "a b"], "c", '"', '"c')
    p = split_partial("echo ")
    assert (p.words, p.current, p.raw_current) == (["echo"], "", "")
    p = split_partial("ec")
    assert (p.words, p.current) == ([], "ec")
    assert split_partial("echo $'\\x").current == "\\x"  # never raises while typing
