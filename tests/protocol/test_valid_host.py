"""A node's host name is checked in its IDNA form; an ASCII name is checked without importing
the IDNA codec (a cold ``rpccli call`` would pay for it: docs/design.md#start-up), with the
codec's own answer."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import example, given
from hypothesis import strategies as st

from protocol.address import _valid_host


def _with_the_codec(host: str) -> bool:
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    if len(ascii_host) > 253 or ascii_host.startswith(("-", ".")) or ".." in ascii_host:
        return False
    return all(c.isascii() and (c.isalnum() or c in "-._") for c in ascii_host)


LABEL = st.text(st.sampled_from("ab1-_.X\t é"), max_size=70)


@given(st.lists(LABEL, max_size=6).map(".".join))
@example("")
@example(".")
@example("a.")
@example("a..b")
@example("x" * 63 + ".com")
@example("x" * 64 + ".com")
@example("com." + "x" * 63)
@example("com." + "x" * 64)
@example("a." * 126 + "b")
@example("bücher.example")
def test_the_ascii_check_is_the_codecs(host: str) -> None:
    assert _valid_host(host) == _with_the_codec(host)


def test_an_ascii_node_imports_no_idna() -> None:
    code = (
        "import sys\n"
        "from protocol import parse_address\n"
        "parse_address('localhost:3031'); parse_address('127.0.0.1:1')\n"
        "print('encodings.idna' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout == "False\n"
