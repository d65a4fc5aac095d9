"""The interactive shell driven through prompt_toolkit's pipe input and a dummy output, against
the bundled server: calls, errors that never end the shell, keys, history, meta-commands."""

from __future__ import annotations

import fcntl
import io
import stat
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.posix_pipe import PosixPipeInput
from prompt_toolkit.output import DummyOutput

from rpccli import names
from rpccli.config import load_config
from rpccli.shell.completer import ShellCompleter
from rpccli.shell.interactive import history_path, run_interactive
from rpccli.shell.session import Shell


class Run:
    def __init__(self, code: int, stdout: bytes, stderr: str, shell: Shell) -> None:
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        self.shell = shell


class Progress:
    """What a test typing in chunks can wait for between them: the shell's output so far, the
    texts the completer has given its answers for, and whether the shell has read every key."""

    def __init__(self, out: io.BytesIO, pipe: PosixPipeInput, answered: list[str]) -> None:
        self._out, self._pipe, self.answered = out, pipe, answered

    @property
    def stdout(self) -> bytes:
        return self._out.getvalue()

    def read_all(self) -> bool:
        """No key left in the pipe: the shell has read (and handled) what was typed."""
        left = fcntl.ioctl(self._pipe.pipe.read_fd, termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(left, sys.byteorder) == 0


Typed = str | Callable[[Progress], bool]


@pytest.fixture
def run(bundled_node: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    answered: list[str] = []
    completions = ShellCompleter.get_completions

    def get_completions(
        self: ShellCompleter, document: Document, event: CompleteEvent
    ) -> Iterator[Completion]:
        yield from completions(self, document, event)
        answered.append(document.text_before_cursor)

    monkeypatch.setattr(ShellCompleter, "get_completions", get_completions)

    def run(keys: str | list[Typed], node: str = bundled_node) -> Run:
        out = io.BytesIO()
        stdout = io.TextIOWrapper(out, write_through=True)
        stderr = io.StringIO()
        shell = Shell(load_config(), node, interactive=True, stdout=stdout, stderr=stderr)
        answered.clear()
        lost: list[str] = []
        with create_pipe_input() as pipe:
            if isinstance(keys, str):
                pipe.send_text(keys)
            else:
                # chunks arrive one by one, like typing: each once the shell has read the one
                # before, and once what the test waits for (a callable) has happened
                progress = Progress(out, pipe, answered)

                def wait(sign: Callable[[Progress], bool]) -> bool:
                    end = time.monotonic() + 30
                    while not sign(progress):
                        if time.monotonic() > end:
                            lost.append(f"{sign} never happened; the output: {progress.stdout!r}")
                            pipe.send_text("\x04\x04")  # leave, for the test to fail
                            return False
                        time.sleep(0.005)
                    return True

                def typist() -> None:
                    for item in keys:
                        if not wait(Progress.read_all):
                            return
                        if callable(item):
                            if not wait(item):
                                return
                        else:
                            pipe.send_text(item)

                threading.Thread(target=typist, daemon=True).start()
            code = run_interactive(shell, input=pipe, output=DummyOutput())
        assert not lost, lost
        return Run(code, out.getvalue(), stderr.getvalue(), shell)

    return run


def test_a_call_prints_the_result_and_ctrl_d_exits_0(run) -> None:
    result = run("hello world\r\x04")
    assert result.code == 0
    assert result.stdout == b"Hello, world"
    assert result.shell.last is not None and result.shell.last.ok


def test_errors_never_end_the_shell(run) -> None:
    result = run("nope\rfail\recho 'open\r.bogus\rupper ok\r\x04")
    assert result.code == 0
    assert result.stdout == b"OK"
    lines = result.stderr.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("rpccli: no result from") and "nope" in lines[0]
    assert "unterminated ' quote" in lines[2]
    assert "unknown meta-command .bogus" in lines[3]


def test_usage_errors_match_call(run) -> None:
    result = run("echo a ''\recho @/no/such/file\r\x04")
    assert result.stdout == b""
    assert "argument 2 is empty" in result.stderr
    assert "cannot read @/no/such/file: no such file" in result.stderr


def test_escapes_send_any_byte(run) -> None:
    result = run("echo $'\\x00\\xff\\n' 'a b'\r\x04")
    assert result.stdout == b"\x00\xff\n a b"


def test_at_file_argument(run, tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(b"\x01\x02file")
    result = run(f"echo @{tmp_path}/data.bin @@literal\r\x04")
    assert result.stdout == b"\x01\x02file @literal"


def test_ctrl_c_clears_the_line(run) -> None:
    result = run("hello half-typed\x03hello again\r\x04")
    assert result.code == 0
    assert result.stdout == b"Hello, again"


def test_quit_meta_command_and_bare_exit(run) -> None:
    assert run(".quit\rhello\r").code == 0
    result = run("exit\rhello\r")
    assert (result.code, result.stdout) == (0, b"")


def test_tab_completes_a_function_name(run, bundled_node: str) -> None:
    names.store_listing(bundled_node, ["upper", "hello"])
    # TAB once the completer has answered for what was typed (complete-while-typing)
    result = run(["upp", lambda seen: "upp" in seen.answered, "\t", " x\r", "\x04"])
    assert result.stdout == b"X"


def test_tab_completes_when_the_keys_arrive_together(run, bundled_node: str) -> None:
    # one write: the word, TAB and the rest (a paste, tmux send-keys, pexpect); TAB must not
    # lose the race with the complete-while-typing task of the keys before it
    names.store_listing(bundled_node, ["upper", "echo", "echo_all"])
    result = run("upp\t x\rec\t y\r\x04")  # a unique name; a common part (echo, echo_all)
    assert (result.code, result.stdout, result.stderr) == (0, b"Xy", "")


def test_successful_calls_are_learned(run, bundled_node: str) -> None:
    run("argc 1 2\r\x04")
    assert names.known_names(bundled_node)["argc"] in ("learned", "profile")
    assert "learned" in names.name_sources(bundled_node)["argc"]


def test_history_is_private_and_skips_space_led_lines(run) -> None:
    run("hello one\r echo secret\rhello one\rhello two\r\x04")
    path = history_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "+hello one" in text and "+hello two" in text
    assert "secret" not in text
    assert text.count("+hello one") == 1  # an immediate repeat is not stored twice
    # a new shell sees the old history: Up recalls the last line
    result = run("\x1b[A\r\x04")
    assert result.stdout == b"Hello, two"


def test_meta_commands(run) -> None:
    result = run(
        ".timeout 7\r.timeout\r.mode raw\rhello\r.mode packet\r.json on\rhello x\r"
        ".json off\r.timing on\rhello\r.help\r.help node\r.nodes\r\x04"
    )
    out = result.stdout.decode()
    assert result.shell.settings.timeout == 7
    assert "timeout is now 7 s\n7\n" in out
    assert "Hello, world" in out  # raw mode answers the same bytes
    assert '"function": "hello", "args": ["x"], "ok": true, "response": "Hello, x"' in out
    assert "* timing: connect" in result.stderr
    assert ".node [NODE]" in out and "switch to another" in out
    assert "also: .connect, .use" in out


def test_node_switch_and_bad_node(run, bundled_node: str) -> None:
    result = run(f".node nope:x\r.node 127.0.0.1:1\rhello\r.node {bundled_node}\rhello\r\x04")
    assert result.code == 0
    assert result.stdout.endswith(b"Hello, world")
    assert "cannot connect to 127.0.0.1:1" in result.stderr
    assert result.stderr.count("rpccli:") == 2  # the bad node word, then refused


def test_functions_lists_sources_after_background_listing(run, bundled_node: str) -> None:
    shell = run("\x04").shell
    thread = shell.names.refresh()
    thread.join(10)
    listed = shell.names.sources()
    assert "hello" in listed and "listing" in listed["hello"]
    # a later shell completes from the stored listing without waiting for the node
    assert "listing" in names.name_sources(bundled_node)["sleep"]


def test_listing_of_a_dead_node_keeps_the_shell_usable(run) -> None:
    result = run(".functions\r\x04", node="127.0.0.1:1")
    assert result.code == 0
    thread = result.shell.names.refresh()
    thread.join(10)
    assert "failed" in result.shell.names.status


def test_profile_list_function_and_declared_names(run, bundled_node: str, xdg_dirs) -> None:
    config_dir = xdg_dirs["config"] / "rpccli"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text(
        f'[nodes.demo]\naddress = "{bundled_node}"\nlist_function = "upper"\n'
        'functions = ["declared_only"]\n'
    )
    shell = run(".node demo\r\x04").shell
    assert shell.names.list_function == "upper"
    shell.names.refresh().join(10)
    sources = shell.names.sources()
    assert sources["declared_only"] == ["profile"]
    # `upper` with no arguments answers nothing: the listing failed, the shell carries on
    assert "upper gave no result" in shell.names.status


def test_unwritable_state_dir_keeps_the_shell_working(run, xdg_dirs) -> None:
    state = xdg_dirs["state"] / "rpccli"
    state.mkdir(mode=0o700)
    (state / "history").mkdir()  # cannot be opened as a file, even by root
    result = run("hello\r\x04")
    assert (result.code, result.stdout) == (0, b"Hello, world")
    assert "history is not saved" in result.stderr


def test_state_home_that_is_a_file_keeps_history_in_memory(
    run, xdg_dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # XDG_STATE_HOME naming a regular file: the state directory cannot be created at all
    blocker = xdg_dirs["state"] / "statefile"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    # Up once both lines have run: the second is in the (in-memory) history
    result = run(["hello one\rupper two\r", lambda seen: b"TWO" in seen.stdout, "\x1b[A", "\r\x04"])
    assert (result.code, result.stdout) == (0, b"Hello, oneTWOTWO")  # Up recalls
    errors = result.stderr.splitlines()
    assert errors == [
        f"rpccli: cannot keep history in {blocker}/rpccli (Not a directory); history is not saved"
    ]


def test_demo_node_names_live_in_memory_only(bundled_node: str, xdg_dirs) -> None:
    shell = Shell(load_config(), bundled_node, interactive=True, demo_node=bundled_node)
    shell.names.refresh().join(10)
    shell.names.learn("hello")
    assert shell.names.sources()["hello"] == ["learned", "listing"]
    assert names.known_names(bundled_node) == {}


def test_history_file_is_trimmed(xdg_dirs) -> None:
    from rpccli.shell.interactive import MAX_HISTORY, ShellHistory

    path = history_path()
    entry = "\n# 2026-01-01 00:00:00.000000\n+" + "x" * 100 + "\n"
    path.write_text(entry * (MAX_HISTORY + 500))
    history = ShellHistory(path)
    assert len(list(history.load_history_strings())) == MAX_HISTORY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
