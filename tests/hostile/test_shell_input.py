"""Input the user did not mean to send, in `rpccli shell` in a real terminal (tmux).

- a pasted block of lines runs one call per line, in order, never one merged call;
- keys typed while a call finishes (Ctrl-D included) reach the next prompt, none lost;
- a 64 KiB line, pasted with or without bracketed paste, is answered and the shell still exits.

Each terminal test runs one shell in its own tmux server (a private socket) against a loopback
server whose function records every call, in order; two small tests check the block runner and
the merging of typed keys without a terminal.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from protocol.server import serve_in_thread
from protocol.server.functions import FunctionTable
from tests.forkcommand import rpccli_command
from tests.hostile.conftest import listing_table
from tests.peers import ROOT, require

#: generous: a busy machine may be slow; nothing here measures speed (bench/ does)
TIMEOUT = 30.0


class Recorder:
    """The node's ``rec`` function: every call's arguments, in the order they came."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, ...]] = []  # as each call answers
        self.arrived: list[tuple[str, ...]] = []  # as each call comes, before ``delay``
        self.delay = delay
        #: set when the test ends: a call of ``rec slow`` waits for it
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def __call__(self, *args: bytes) -> bytes:
        words = tuple(a.decode("utf-8", "replace") for a in args)
        with self._changed:
            self.arrived.append(words)
            self._changed.notify_all()
        if words and words[0] == "slow":
            self.release.wait(TIMEOUT)  # the shell abandons it on Ctrl-C
        if self.delay:
            time.sleep(self.delay)
        with self._changed:
            self.calls.append(words)
            self._changed.notify_all()
        size = sum(len(a) for a in args)
        return f"rec got {len(args)} args, {size} bytes".encode()

    def wait_until(self, what: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Return as soon as ``what()`` is true (checked at each call's arrival and answer)."""
        with self._changed:
            if not self._changed.wait_for(what, timeout):
                pytest.fail(f"the node saw {self.arrived}, answered {self.calls}")

    def wait_for(self, count: int, timeout: float = TIMEOUT) -> list[tuple[str, ...]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end and len(self.calls) < count:
            time.sleep(0.02)
        with self._lock:
            return list(self.calls)


@pytest.fixture
def recording_node() -> Iterator[tuple[str, Recorder]]:
    """A bundled server (buffer size 65535, so a 64 KiB request is taken) serving ``rec``."""
    recorder = Recorder()
    table: FunctionTable = listing_table(b"rec\n", rec=recorder)
    with serve_in_thread(table, ("127.0.0.1:0",), buffer_size=65535) as server:
        yield str(server.node), recorder
        recorder.release.set()


class Terminal:
    """One `rpccli shell` in a tmux server of its own (never the user's: a private socket)."""

    def __init__(self, tmp: Path, node: str) -> None:
        self.socket = f"rpccli-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.status = tmp / "status"
        self.tmp = tmp
        self.node = node
        env = {
            "XDG_STATE_HOME": str(tmp / "state"),
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "NO_COLOR": "1",
            "TERM": "tmux-256color",
            "PYTHONPATH": str(ROOT),
            "FORKCOMMAND_STATUS": str(self.status),  # the launcher writes the exit status
        }
        # the pane's own process, as a terminal starts one: it leads the pane's session, whose
        # terminal tests/forkcommand.py's launcher hands over to the rpccli it forks (tmux's own
        # record of a dead pane's status, with remain-on-exit, was missing once in eight)
        shell = [str(rpccli_command()), "shell", "--timeout", "60", node]
        exports = [f"-e{key}={value}" for key, value in env.items()]
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", *exports, *shell)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=ROOT,
            env={key: value for key, value in os.environ.items() if key != "RPCCLI_NODE"},
        )
        return done.stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def text(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)

    def paste(self, text: str, *, bracketed: bool = True) -> None:
        """Paste ``text`` as a terminal does: with bracketed-paste marks when the shell asked
        for them (``-p``); tmux turns each newline into a carriage return, as terminals do."""
        buffer = self.tmp / "paste"
        buffer.write_text(text)
        self.tmux("load-buffer", "-b", "t", str(buffer))
        self.tmux("paste-buffer", "-b", "t", *(["-p"] if bracketed else []))

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-")

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:
        end = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > end:
                pytest.fail(f"{text!r} never appeared; the screen:\n{screen[-3000:]}")
            time.sleep(0.05)

    def prompt(self) -> None:
        """Wait until the shell waits at an empty prompt, which it draws in the same write that
        asks the terminal for bracketed paste: a paste sent while a call still runs (or its
        answer prints) comes without the marks, as typed lines -- as in bash -- and its last
        line does not wait in the buffer. A busy machine showed that race; the sign on the
        screen is the prompt line under the cursor, with nothing typed after it."""
        end = time.monotonic() + TIMEOUT
        while True:
            row = self.tmux("display-message", "-p", "#{cursor_y}").strip()
            lines = [*self.tmux("capture-pane", "-p").split("\n"), ""]
            if row.isdigit() and lines[min(int(row), len(lines) - 1)].rstrip() == f"{self.node}>":
                return
            if time.monotonic() > end:
                pytest.fail(f"no empty prompt; the screen:\n{self.screen()[-3000:]}")
            time.sleep(0.05)

    def exit_status(self, timeout: float = TIMEOUT) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.status.exists() and self.status.read_text().strip():
                return int(self.status.read_text())
            time.sleep(0.05)
        pytest.fail(f"the shell did not exit; the screen:\n{self.screen()[-3000:]}")

    def close(self) -> None:
        # this test's own server only (its private socket); it hangs up on the shell
        self.tmux("kill-server")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[[str], Terminal]]:
    require("tmux")
    started: list[Terminal] = []

    def start(node: str) -> Terminal:
        term = Terminal(tmp_path, node)
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


def test_a_pasted_block_runs_one_call_per_line_in_order(
    terminal: Callable[[str], Terminal], recording_node: tuple[str, Recorder]
) -> None:
    node, rec = recording_node
    term = terminal(node)
    term.prompt()
    # two lines: two calls, in order (the bug: ONE call `rec p1 rec p2`)
    term.paste("rec p1\nrec p2\n")
    term.keys("Enter")  # a paste waits for Enter, as in bash 5.1+
    assert rec.wait_for(2) == [("p1",), ("p2",)]
    term.prompt()
    # blank lines are skipped; quoting is per line
    term.paste("rec p3\n\n   \nrec 'p 4'\n")
    term.keys("Enter")
    assert rec.wait_for(4)[2:] == [("p3",), ("p 4",)]
    term.prompt()
    # no newline at the end: the last line stays in the buffer, to edit before Enter
    term.paste("rec p5\nrec p")
    term.wait_for("Enter runs these 2 lines")  # the toolbar says what Enter will do
    term.text("6")
    term.keys("Enter")
    assert rec.wait_for(6)[4:] == [("p5",), ("p6",)]
    term.prompt()
    # a quote never spans lines (as in scripts and batch): nothing of the block is sent
    term.paste("rec p7\nrec 'a\nb'\n")
    term.keys("Enter")
    term.wait_for("line 2 of 3: unterminated ' quote; none of the lines was run")
    term.prompt()
    # a terminal without bracketed paste: each newline is an Enter
    term.paste("rec p8\nrec p9\n", bracketed=False)
    assert rec.wait_for(8)[6:] == [("p8",), ("p9",)]
    term.prompt()
    term.keys("C-d")
    assert term.exit_status() == 0
    assert rec.calls == [(f"p{n}",) if n != 4 else ("p 4",) for n in range(1, 10) if n != 7]


def test_keys_typed_while_a_call_finishes_reach_the_next_prompt(
    terminal: Callable[[str], Terminal], recording_node: tuple[str, Recorder]
) -> None:
    node, rec = recording_node
    term = terminal(node)
    term.prompt()
    # Ctrl-C still cancels a call
    term.text("rec slow")
    term.keys("Enter")
    term.wait_for("Ctrl-C cancels")  # the shell says it waits: the call is running
    term.keys("C-c")
    term.wait_for("cancelled (Ctrl-C)")
    term.prompt()
    rec.delay = 0.03  # a short call: keys land during the call, its output and the next prompt
    term.text("rec start")
    term.keys("Enter")
    # 50 times: Enter, then a line whose Ctrl-D matters -- the line is typed with an X before it,
    # Ctrl-A goes home and Ctrl-D deletes the X: a lost Ctrl-D calls "Xrec" -- typed at one of
    # four moments of the call before it, each told by a sign, not a clock (a sweep of sleeps
    # from 0 to 294 ms took 7 s, and a loaded machine moved its moments): at once (the line is
    # still being sent), when the node has the call (it answers 30 ms later), when the node
    # answers (the answer, its output and the next prompt are on their way), at the empty prompt
    for n in range(50):
        before = ("start",) if n == 0 else (str(n - 1),)
        if n % 4 == 1:
            rec.wait_until(lambda before=before: before in rec.arrived)
        elif n % 4 == 2:
            rec.wait_until(lambda before=before: before in rec.calls)
        elif n % 4 == 3:
            term.prompt()
        term.keys(f"Xrec {n}", "C-a", "C-d", "Enter")
    # and a Ctrl-D right after the last Enter leaves the shell: one Ctrl-D is enough
    time.sleep(0.05)
    term.keys("C-d")
    assert term.exit_status() == 0
    assert rec.wait_for(51, timeout=1) == [("start",), *[(str(n),) for n in range(50)]]


def test_a_64_kib_line_is_answered_and_the_shell_exits(
    terminal: Callable[[str], Terminal], recording_node: tuple[str, Recorder]
) -> None:
    node, rec = recording_node
    size = 65535 - 2 - len("rec") - 2  # the largest argument one request can carry
    term = terminal(node)
    term.prompt()
    for count, bracketed in enumerate([True, False], 1):
        # a plain paste (no bracketed-paste marks) arrives as typed keys: each was handled
        # alone, at a cost that grew with the line (minutes for 64 KiB)
        term.paste(f"rec {count}" + "x" * (size - 1) + "\n", bracketed=bracketed)
        if bracketed:
            term.keys("Enter")  # a bracketed paste waits for Enter
        calls = rec.wait_for(count, timeout=20)
        assert calls[-1] == (f"{count}" + "x" * (size - 1),)
        term.prompt()
    assert len(rec.calls) == 2
    term.keys("C-d")
    assert term.exit_status() == 0


def test_a_block_runs_on_after_a_failed_line_and_names_it(
    recording_node: tuple[str, Recorder], xdg_dirs: dict[str, Path]
) -> None:
    import io

    from rpccli.config import load_config
    from rpccli.shell.session import Shell

    node, rec = recording_node
    stdout, stderr = io.TextIOWrapper(io.BytesIO(), write_through=True), io.StringIO()
    shell = Shell(load_config(), node, interactive=True, stdout=stdout, stderr=stderr)
    assert shell.run_lines("rec a\n# a comment\nnope x\n\nrec b\n") == 1  # nope: no result
    assert rec.calls == [("a",), ("b",)]
    assert "rpccli: line 3: no result from" in stderr.getvalue()
    assert shell.run_lines("rec c\nrec $'\\x4\n") == 2  # a broken line: nothing is sent
    assert rec.calls == [("a",), ("b",)]
    assert "line 2 of 2: unterminated $' quote; none of the lines was run" in stderr.getvalue()


def test_typed_runs_become_one_key_press_but_key_sequences_stay() -> None:
    from prompt_toolkit.key_binding import KeyPress
    from prompt_toolkit.keys import Keys

    from rpccli.shell.keys import merge_runs

    def keys(*items: str | Keys) -> list[KeyPress]:
        return [
            KeyPress(k, k if isinstance(k, str) and not isinstance(k, Keys) else "") for k in items
        ]

    merged = merge_runs(keys("a", "b", "c", Keys.Escape, "x", "y", "z", Keys.ControlV, "q", "r"))
    assert [(str(k.key), k.data) for k in merged] == [
        ("a", "a"),
        ("b", "bc"),
        (str(Keys.Escape), ""),
        ("x", "x"),  # Meta-x stays Escape then x
        ("y", "yz"),
        (str(Keys.ControlV), ""),
        ("q", "q"),  # Ctrl-V q inserts q verbatim
        ("r", "r"),
    ]
    assert merge_runs([]) == []


def test_the_parser_fast_path_gives_the_same_keys_as_prompt_toolkit() -> None:
    import random

    from prompt_toolkit.input.vt100_parser import Vt100Parser
    from prompt_toolkit.key_binding import KeyPress

    from rpccli.shell.keys import _fast_text, merge_runs

    tokens = [
        "hello", "x", " ", "héllo wörld", "日本", "$'\\x41'", "\r", "\n", "\t", "\x01", "\x03",
        "\x04", "\x16", "\x7f", "\x85", "\x9b", "\x1b", "\x1bx", "\x1b[A", "\x1b[1;5C", "\x1bOP",
        "\x1b[12;34R", "\x1b[<0;10;20M", "\x1b[M !!", "\x1b[", "\x1b[12", "\x1b[200~pasted\rtext"
        "\x1b[201~", "\x1b[200~", "\x1b[201~", "\x1b\x1b", "[A", "0;1", "1234567890" * 3,
    ]  # fmt: skip
    rng = random.Random(10)
    for _ in range(3000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 12)))
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 4))))
        chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        results = []
        for fast in (False, True):
            got: list[KeyPress] = []
            parser = Vt100Parser(got.append)
            if fast:
                _fast_text(parser)
            reads = []
            for chunk in chunks:
                parser.feed(chunk)
                reads.append(merge_runs(got[:]))
                got.clear()
            parser.flush()
            reads.append(merge_runs(got[:]))
            results.append([[(k.key, k.data) for k in read] for read in reads])
        assert results[0] == results[1], (text, chunks)
