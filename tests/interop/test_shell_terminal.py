"""`rpccli shell` in a real terminal (pexpect), against the bundled server and real uWSGI:
a call and its result, TAB completing a name only the node's rpc_list knew, history across a
restart, Ctrl-C cancelling a long call, Ctrl-D exiting 0."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from tests.forkcommand import rpccli_command
from tests.peers import ROOT, Uwsgi

pytestmark = pytest.mark.interop

CPR_REQUEST = "\x1b[6n"
#: generous: a busy CI machine may be slow; nothing here measures time
TIMEOUT = 30


@pytest.fixture
def term_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RPCCLI_", "XDG_", "_RPCCLI"))
    }
    env.update(
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        TERM="xterm-256color",
        NO_COLOR="1",
    )
    return env


Spawn = Callable[..., pexpect.spawn]


@pytest.fixture
def spawn(term_env: dict[str, str]) -> Iterator[Spawn]:
    children: list[pexpect.spawn] = []

    def start(*args: str) -> pexpect.spawn:
        child = pexpect.spawn(
            str(rpccli_command()),  # forked from a warm interpreter: tests/forkcommand.py
            ["shell", *args],
            env=term_env,
            cwd=str(ROOT),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
            dimensions=(30, 120),
        )
        # no 50 ms pause before each send: every test waits for what the shell shows (the
        # prompt's toolbar, an answer) before it types, and the keys of one send, or of two
        # sends in a row, reach the prompt in order whatever reads they arrive in
        child.delaybeforesend = None
        children.append(child)
        return child

    yield start
    for child in children:
        child.close(force=True)


def prompt(child: pexpect.spawn) -> None:
    """Wait until the prompt is drawn (its toolbar): keys typed earlier could reach the terminal
    while it is not in raw mode, where Ctrl-D and Ctrl-C mean something else."""
    see(child, "Ctrl-D quits")


def see(child: pexpect.spawn, text: str, *, regex: bool = False) -> None:
    """Wait for ``text``, answering cursor position requests as a terminal does (prompt_toolkit
    draws the bottom toolbar only once it knows where the cursor is)."""
    pattern = text if regex else re.escape(text)
    while child.expect([re.escape(CPR_REQUEST), pattern]) == 0:
        child.send("\x1b[1;1R")


def listing_arrived(child: pexpect.spawn) -> None:
    """Wait until the toolbar counts the node's names and no longer says "(fetching…)". The
    count is matched with what follows it: prompt_toolkit rewrites only what changed, so when
    the prompt was drawn before the listing came, "names" is not written again."""
    see(child, r"[1-9][0-9]*(\x1b\[[0-9;]*m)*   \.help  Ctrl-D quits", regex=True)


def quit_with_ctrl_d(child: pexpect.spawn) -> None:
    prompt(child)
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.fixture(params=["bundled", "uwsgi"])
def node(request: pytest.FixtureRequest) -> str:
    if request.param == "bundled":
        return str(request.getfixturevalue("bundled_node"))
    server: Uwsgi = request.getfixturevalue("uwsgi_tcp")
    return server.node


def test_call_prints_the_result_and_ctrl_d_exits_0(spawn: Spawn, node: str) -> None:
    child = spawn(node)
    prompt(child)
    child.send("hello terminal\r")
    see(child, "Hello, terminal")
    prompt(child)
    child.send("echo '{\"a\": [1, 2]}'\r")
    see(child, r'"a":\s+\[', regex=True)  # JSON, pretty-printed
    prompt(child)
    child.send("nope\r")
    see(child, "no result from")
    prompt(child)
    child.send("hello again\r")  # the error did not end the shell
    see(child, "Hello, again")
    quit_with_ctrl_d(child)


def test_tab_completes_a_name_only_rpc_list_knew(spawn: Spawn, node: str) -> None:
    # a fresh state directory: the only source of names is the node's rpc_list
    wanted, typed, answer = ("hellolua", "hellol", "args are x")
    child = spawn(node)
    listing_arrived(child)
    if b"hellolua" not in _listing(node).split():
        wanted, typed, answer = ("binary", "binar", "binary response")
    child.send(typed)
    see(child, "listing")  # the menu shows the name and its source: completion is ready
    child.send("\t")
    see(child, wanted)
    child.send(" x\r")
    see(child, answer)
    quit_with_ctrl_d(child)


def test_tab_sent_in_one_write_with_the_word_completes_it(spawn: Spawn, node: str) -> None:
    child = spawn(node)
    listing_arrived(child)
    child.send("upp\t wxyz\r")  # as tmux send-keys 'upp' Tab does: one read for all of it
    see(child, "WXYZ")
    quit_with_ctrl_d(child)


def _listing(node: str) -> bytes:
    from protocol import Client

    return Client(node).call("rpc_list")


def test_history_survives_a_restart(spawn: Spawn, node: str) -> None:
    child = spawn(node)
    prompt(child)
    child.send("hello history\r")
    see(child, "Hello, history")
    prompt(child)
    child.send(" hello secret\r")  # a leading space keeps it out of history
    see(child, "Hello, secret")
    quit_with_ctrl_d(child)

    child = spawn(node)
    prompt(child)
    child.send("\x1b[A")  # Up: the last line kept, not the space-led one
    child.send("\r")
    see(child, "Hello, history")
    prompt(child)
    child.send("\x12hist")  # Ctrl-R searches the history
    see(child, "reverse-i-search")
    child.send("\r")  # accept the match into the line
    child.send("\r")  # and run it
    see(child, "Hello, history")
    quit_with_ctrl_d(child)


@pytest.fixture(params=["bundled", "uwsgi"])
def sleepy_node(request: pytest.FixtureRequest) -> str:
    if request.param == "bundled":
        return str(request.getfixturevalue("bundled_node"))
    # its own uWSGI: a worker stays busy in sleep(30) after the client left
    factory = request.getfixturevalue("uwsgi_factory")
    return str(factory(processes=2).node)


def test_ctrl_c_cancels_a_long_call(spawn: Spawn, sleepy_node: str) -> None:
    # --timeout 120: only Ctrl-C can bring the prompt back before pexpect's own timeout
    child = spawn("--timeout", "120", sleepy_node)
    prompt(child)
    child.send("sleep 30\r")
    see(child, "Ctrl-C cancels")  # the shell says it waits: the call is running
    child.sendintr()
    see(child, "cancelled (Ctrl-C)")
    prompt(child)
    child.send("hello after\r")
    see(child, "Hello, after")
    quit_with_ctrl_d(child)


def test_ctrl_c_cancels_a_ping_and_says_so(spawn: Spawn) -> None:
    import socket

    # a node that never answers: the kernel completes the handshake, nobody accepts
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        child = spawn("--timeout", "120", f"127.0.0.1:{mute.getsockname()[1]}")
        prompt(child)
        child.send(".ping\r")
        see(child, "Ctrl-C cancels")  # the shell says it waits: the ping is running
        child.sendintr()
        see(child, "ping cancelled (Ctrl-C)")
        quit_with_ctrl_d(child)


def test_ctrl_c_at_the_prompt_clears_the_line(spawn: Spawn, bundled_node: str) -> None:
    child = spawn(bundled_node)
    prompt(child)
    child.send("hello never")
    see(child, "never")
    child.sendintr()
    prompt(child)
    child.send("hello ok\r")
    see(child, "Hello, ok")
    quit_with_ctrl_d(child)


def test_no_node_starts_the_demo_server(spawn: Spawn) -> None:
    child = spawn()
    see(child, "bundled demo server")
    prompt(child)
    child.send("upper demo\r")
    see(child, "DEMO")
    quit_with_ctrl_d(child)
