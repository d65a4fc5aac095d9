"""The shell at terminals that are not the usual one (issue 15, items 6 and 9): stdout a pipe
(``rpccli shell NODE | tee log``) and ``TERM=dumb`` (Emacs's shell mode, some CI consoles).
The `rpccli` the terminal's shell starts is tests/forkcommand.py's warm one: what the shell does
there is tested, not its start."""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from tests.forkcommand import rpccli_command

CPR_REQUEST = b"\x1b[6n"


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """No developer history or config reaches these shells."""


def _spawn(command: str, term: str) -> tuple[pexpect.spawn, io.BytesIO]:
    env = {**os.environ, "TERM": term, "NO_COLOR": "1"}
    child = pexpect.spawn("/bin/sh", ["-c", command], env=env, timeout=15, dimensions=(24, 100))
    screen = io.BytesIO()
    child.logfile_read = screen
    return child, screen


def _answering(child: pexpect.spawn, done: Callable[[], bool], what: str) -> None:
    """Wait until ``done()``, answering cursor position requests as a terminal does:
    prompt_toolkit asks for the cursor before each prompt, and when a line is accepted it
    waits up to a second for an answer still due."""
    deadline = time.monotonic() + 15
    while not done():
        assert time.monotonic() < deadline, f"{what} never came: {child.before!r}"
        if child.expect([re.escape(CPR_REQUEST), pexpect.TIMEOUT], timeout=0.05) == 0:
            child.send(b"\x1b[1;1R")


def _see(child: pexpect.spawn, pattern: object) -> None:
    """Wait for ``pattern`` (EOF too), answering cursor position requests on the way."""
    while child.expect([re.escape(CPR_REQUEST), pattern]) == 0:
        child.send(b"\x1b[1;1R")


def test_a_pipe_on_stdout_gets_only_results(bundled_node: str, tmp_path: Path) -> None:
    log = tmp_path / "log"
    shell = str(rpccli_command())
    child, screen = _spawn(f"{shell} shell {bundled_node} | cat > {log}", "xterm")
    _see(child, "Ctrl-D")  # the banner: on the terminal
    _see(child, ">")
    child.send("hello x\r")
    _answering(child, lambda: log.read_bytes() == b"Hello, x", "the first result in the log")
    child.send("upper abc\r")
    _answering(child, lambda: log.read_bytes() == b"Hello, xABC", "the second result")
    child.sendeof()
    _see(child, pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # the results as `rpccli call` writes them piped: exact bytes, no prompt, CR or toolbar
    assert log.read_bytes() == b"Hello, xABC"
    assert b"Hello, x" not in screen.getvalue()


def test_a_dumb_terminal_shows_what_is_sent(bundled_node: str) -> None:
    shell = str(rpccli_command())
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
