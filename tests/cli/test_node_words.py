"""What a NODE word is not: a URL, a HOST:PORT with a path, a bare word naming a file, a file
that is no socket. Each is one line on stderr with its exit code, and nothing is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import run_cli


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
def test_a_url_or_a_path_after_the_port_is_a_usage_error(node: str, message: str) -> None:
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
