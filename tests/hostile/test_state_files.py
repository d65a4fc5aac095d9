"""State files are never written through: a link planted in their place is not followed.

For every file rpccli keeps under ``$XDG_STATE_HOME/rpccli`` -- the shell history,
``strategy.json`` and ``.strategy.lock``, the names caches and their ``.lock`` -- a symlink (to
an existing file outside the state directory, or to a path that does not exist) is planted where
the file goes, and the real code path runs: a shell session, ``rpccli call -s round-robin`` on a
group, a call that learns a name. The target must stay as it was (or stay absent) and the state
file must end up a regular 0600 file. A state directory that another user could change is not
written to at all, and a missing ``$XDG_STATE_HOME`` is created 0700.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from protocol.server import serve_in_thread
from protocol.server.functions import FunctionTable
from rpccli import names
from rpccli.cli import main
from rpccli.config import load_config
from rpccli.shell.interactive import run_interactive
from rpccli.shell.session import Shell
from tests.conftest import EXAMPLE_FUNCTIONS, ROOT

SECRET = b"the user's own file: never appended to, truncated or replaced\n"


@pytest.fixture(scope="module")
def other_node() -> Iterator[str]:
    """A second node, for node groups."""
    table = FunctionTable()
    table.load_file(EXAMPLE_FUNCTIONS)
    with serve_in_thread(table, ("127.0.0.1:0",)) as server:
        yield str(server.node)


@pytest.fixture
def state(xdg_dirs: dict[str, Path]) -> Path:
    path = xdg_dirs["state"] / "rpccli"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the state directory, holding the links' targets."""
    path = tmp_path / "outside"
    path.mkdir()
    return path


def plant(link: Path, target: Path, *, existing: bool) -> None:
    """``link`` -> ``target``; the target holds SECRET, or does not exist."""
    if existing:
        target.write_bytes(SECRET)
        target.chmod(0o644)
    link.symlink_to(target)


def untouched(target: Path, *, existing: bool) -> bool:
    if not existing:
        return not os.path.lexists(target)
    return target.read_bytes() == SECRET and stat.S_IMODE(target.stat().st_mode) == 0o644


def private_file(path: Path) -> bool:
    info = path.lstat()
    return stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600


def call(*args: str) -> tuple[int, bytes, str]:
    """``rpccli ARGS`` in this process (so a temp name made from the pid is predictable)."""
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
    return code, out.getvalue(), err.getvalue().decode("utf-8", "replace")


def shell_session(node: str, keys: str) -> tuple[int, str]:
    """An interactive shell (pipe input, dummy output): its exit code and stderr."""
    stderr = io.StringIO()
    stdout = io.TextIOWrapper(io.BytesIO(), write_through=True)
    shell = Shell(load_config(), node, interactive=True, stdout=stdout, stderr=stderr)
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        code = run_interactive(shell, input=pipe, output=DummyOutput())
    return code, stderr.getvalue()


# ---- the shell history ----


@pytest.mark.parametrize("existing", [True, False], ids=["existing-target", "missing-target"])
def test_history_symlink_is_replaced_not_appended_to(
    bundled_node: str, state: Path, outside: Path, existing: bool
) -> None:
    target = outside / "bashrc"
    plant(state / "history", target, existing=existing)
    code, err = shell_session(bundled_node, "hello planted\r\x04")
    assert (code, err) == (0, "")
    assert untouched(target, existing=existing)
    assert private_file(state / "history")
    assert "+hello planted" in (state / "history").read_text()


def test_history_hard_link_is_replaced_not_appended_to(
    bundled_node: str, state: Path, outside: Path
) -> None:
    target = outside / "notes"
    target.write_bytes(SECRET)
    target.chmod(0o644)
    os.link(target, state / "history")
    shell_session(bundled_node, "hello linked\r\x04")
    assert untouched(target, existing=True)
    assert private_file(state / "history")
    assert "+hello linked" in (state / "history").read_text()


def test_a_symlink_planted_during_the_session_is_not_followed(state: Path, outside: Path) -> None:
    from rpccli.shell.interactive import ShellHistory

    history = ShellHistory(state / "history")
    (state / "history").unlink()
    target = outside / "profile"
    plant(state / "history", target, existing=True)
    history.append_string("hello later")
    assert untouched(target, existing=True)
    assert private_file(state / "history")


@pytest.mark.parametrize("existing", [True, False], ids=["existing-target", "missing-target"])
def test_history_trim_never_writes_through_a_link(
    bundled_node: str, state: Path, outside: Path, existing: bool
) -> None:
    from rpccli.shell.interactive import MAX_HISTORY

    entry = "\n# 2026-01-01 00:00:00.000000\n+" + "x" * 100 + "\n"
    (state / "history").write_text(entry * (MAX_HISTORY + 500))
    target = outside / "victim"
    plant(state / "history.tmp", target, existing=existing)  # the old fixed temporary name
    code, _ = shell_session(bundled_node, "\x04")
    assert code == 0
    assert untouched(target, existing=existing)
    assert private_file(state / "history")
    assert (state / "history").read_text().count("+x") == MAX_HISTORY


# ---- strategy.json and .strategy.lock: `rpccli call -s round-robin` on a group ----


@pytest.mark.parametrize("existing", [True, False], ids=["existing-target", "missing-target"])
def test_strategy_lock_symlink_is_replaced_not_created(
    bundled_node: str, other_node: str, state: Path, outside: Path, existing: bool
) -> None:
    target = outside / "created-by-the-lock"
    plant(state / ".strategy.lock", target, existing=existing)
    code, out, err = call("call", "-s", "round-robin", f"{bundled_node},{other_node}", "hello")
    assert (code, out, err) == (0, b"Hello, world", "")
    assert untouched(target, existing=existing)
    assert private_file(state / ".strategy.lock")
    assert private_file(state / "strategy.json")


@pytest.mark.parametrize("existing", [True, False], ids=["existing-target", "missing-target"])
def test_strategy_json_symlinks_are_neither_read_nor_written_through(
    bundled_node: str, other_node: str, state: Path, outside: Path, existing: bool
) -> None:
    group = f"{bundled_node},{other_node}"
    # a state that, if read through the link, would start the group at its second node
    read_me = outside / "strategy-elsewhere.json"
    read_me.write_text(json.dumps({"round-robin": {group: {"next": 1}}}))
    (state / "strategy.json").symlink_to(read_me)
    # the temporary name an older rpccli derived from the pid, planted beforehand
    target = outside / "truncated-by-the-temp-file"
    plant(state / f".strategy.json.{os.getpid()}.tmp", target, existing=existing)
    code, out, _ = call("call", "--json", "-s", "round-robin", group, "hello")
    assert code == 0
    assert json.loads(out)["node"] == bundled_node  # the linked state was not read
    assert untouched(target, existing=existing)
    assert json.loads(read_me.read_text()) == {"round-robin": {group: {"next": 1}}}
    assert private_file(state / "strategy.json")
    assert json.loads((state / "strategy.json").read_text())["round-robin"][group] == {"next": 1}


# ---- the names cache: a call that learns a name ----


def names_file(node: str) -> Path:
    return names._path(node)


@pytest.mark.parametrize("existing", [True, False], ids=["existing-target", "missing-target"])
def test_names_file_and_lock_symlinks_are_replaced(
    bundled_node: str, state: Path, outside: Path, existing: bool
) -> None:
    (state / "names").mkdir(mode=0o700)
    cache = names_file(bundled_node)
    # names a node never listed, in a file the link would make us read
    planted = outside / "names-elsewhere.json"
    planted.write_text(json.dumps({"learned": {"hello": 1}, "listing": ["planted_name"]}))
    cache.symlink_to(planted)
    target = outside / "created-by-the-names-lock"
    plant(state / "names" / ".lock", target, existing=existing)
    code, out, _ = call("call", bundled_node, "hello")
    assert (code, out) == (0, b"Hello, world")
    assert untouched(target, existing=existing)
    assert private_file(state / "names" / ".lock")
    assert private_file(cache)
    assert json.loads(planted.read_text())["listing"] == ["planted_name"]
    assert names.known_names(bundled_node) == {"hello": "learned"}


# ---- a FIFO in a file's place must not hang a call ----


@pytest.mark.parametrize("which", ["strategy.json", "names"])
def test_a_fifo_in_a_state_files_place_does_not_hang_a_call(
    bundled_node: str, other_node: str, xdg_dirs: dict[str, Path], state: Path, which: str
) -> None:
    if which == "names":
        (state / "names").mkdir(mode=0o700)
        fifo = names_file(bundled_node)
        args = [bundled_node, "hello"]
    else:
        fifo = state / "strategy.json"
        args = ["-s", "round-robin", f"{bundled_node},{other_node}", "hello"]
    os.mkfifo(fifo, 0o600)
    env = {**os.environ, "XDG_STATE_HOME": str(xdg_dirs["state"])}
    env["XDG_CONFIG_HOME"] = str(xdg_dirs["config"])
    try:
        result = subprocess.run(
            [sys.executable, "-m", "rpccli", "call", *args],
            capture_output=True,
            env=env,
            cwd=ROOT,
            timeout=15,  # an open that blocks on the FIFO never returns
        )
    except subprocess.TimeoutExpired:
        pytest.fail("rpccli call blocked opening a FIFO in a state file's place")
    assert (result.returncode, result.stdout) == (0, b"Hello, world")
    assert private_file(fifo)


# ---- the state directory itself ----


def test_missing_state_home_is_created_0700(
    bundled_node: str, other_node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "new" / "deeper" / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    code, _, _ = call("call", "-s", "round-robin", f"{bundled_node},{other_node}", "hello")
    assert code == 0
    for directory in (tmp_path / "new", tmp_path / "new" / "deeper", home, home / "rpccli"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert (home / "rpccli" / "names").stat().st_mode & 0o777 == 0o700
    assert private_file(home / "rpccli" / "strategy.json")


def make_symlinked(state: Path, outside: Path) -> Path:
    os.rmdir(state)
    state.symlink_to(outside, target_is_directory=True)
    return outside


def make_open_to_all(state: Path, outside: Path) -> Path:
    state.chmod(0o777)
    return state


def make_in_shared_parent(state: Path, outside: Path) -> Path:
    state.parent.chmod(0o777)  # no sticky bit: anyone may rename our directory away
    return state


@pytest.mark.parametrize(
    "make", [make_symlinked, make_open_to_all, make_in_shared_parent], ids=lambda f: f.__name__
)
def test_a_state_dir_others_could_change_is_not_written_to(
    bundled_node: str,
    other_node: str,
    state: Path,
    outside: Path,
    make: Callable[[Path, Path], Path],
) -> None:
    where = make(state, outside)
    before = sorted(os.listdir(where))
    code, out, err = call("call", "-s", "round-robin", f"{bundled_node},{other_node}", "hello")
    assert (code, out, err) == (0, b"Hello, world", "")  # state is skipped quietly
    code, err = shell_session(bundled_node, "hello\r\x04")
    assert code == 0
    assert err.startswith(f"rpccli: cannot keep history in {state} (not a private directory")
    assert err.endswith("history is not saved\n")
    assert sorted(os.listdir(where)) == before


def test_a_symlinked_names_dir_is_not_written_to(
    bundled_node: str, state: Path, outside: Path
) -> None:
    (state / "names").symlink_to(outside, target_is_directory=True)
    code, out, _ = call("call", bundled_node, "hello")
    assert (code, out) == (0, b"Hello, world")
    assert os.listdir(outside) == []
