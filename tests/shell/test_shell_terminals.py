"""The shell at terminals that are not the usual one (issue 15, items 6 and 9): stdout a pipe
(``rpccli shell NODE | tee log``) and ``TERM=dumb`` (Emacs's shell mode, some CI consoles)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pexpect
import pytest

from tests.peers import wait_until

RPCCLI = [sys.executable, "-m", "rpccli"]


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """No developer history or config reaches these shells."""


def _spawn(command: str, term: str) -> tuple[pexpect.spawn, io.BytesIO]:
    env = {**os.environ, "TERM": term, "NO_COLOR": "1"}
    child = pexpect.spawn("/bin/sh", ["-c", command], env=env, timeout=15, dimensions=(24, 100))
    screen = io.BytesIO()
    child.logfile_read = screen
    return child, screen


def test_a_pipe_on_stdout_gets_only_results(bundled_node: str, tmp_path: Path) -> None:
    log = tmp_path / "log"
    shell = " ".join(RPCCLI)
    child, screen = _spawn(f"{shell} shell {bundled_node} | cat > {log}", "xterm")
    child.expect("Ctrl-D")  # the banner: on the terminal
    child.expect(">")
    child.send("hello x\r")
    wait_until(lambda: log.read_bytes() == b"Hello, x", what="the first result in the log")
    child.send("upper abc\r")
    wait_until(lambda: log.read_bytes() == b"Hello, xABC", what="the second result")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # the results as `rpccli call` writes them piped: exact bytes, no prompt, CR or toolbar
    assert log.read_bytes() == b"Hello, xABC"
    assert b"Hello, x" not in screen.getvalue()


def test_a_dumb_terminal_shows_what_is_sent(bundled_node: str) -> None:
    shell = " ".join(RPCCLI)
    child, screen = _spawn(f"{shell} shell {bundled_node}", "dumb")
    child.expect(f"{bundled_node}> ")
    child.send("hellp\x7fo x\r")  # a typo, a backspace, the fix: the terminal edits the line
    child.expect("Hello, x")
    child.expect(f"{bundled_node}> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = screen.getvalue()
    assert b"\x1b" not in shown  # no cursor movement, colour or redraw a dumb terminal mangles
    assert shown.count(f"{bundled_node}> ".encode()) == 2
