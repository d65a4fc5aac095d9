"""`rpccli serve` as a real subprocess: starts, prints, serves, logs, and stops on signals.

One run is a cold ``python -m rpccli serve`` (the real program's start); the others fork from
tests/forkrun.py's warm server: a process of its own, with its own pid, signals, workers and
stderr, that has not paid a cold start (what they check is what serve does).
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner

from protocol import Client
from protocol.errors import NoResult
from rpccli.cli import main
from rpccli.serve import _Log, _warn_exposed, build_table, serve
from tests.forkrun import ForkedPopen, rpccli_forks
from tests.peers import EXAMPLES, ROOT, short_tmpdir


class Served:
    def __init__(
        self, proc: subprocess.Popen[str] | ForkedPopen, log: IO[str], banner: list[str]
    ) -> None:
        self.proc = proc
        self.log = log  # its stderr, as text
        self.banner = banner
        self.nodes = [
            m.group(1)
            for line in banner
            if (m := re.match(r"rpccli serve: listening on (.+)$", line))
        ]

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        return self.wait()

    def wait(self) -> tuple[int, str]:
        """The exit status and the rest of the log (after what read_until() consumed)."""
        rest = self.log.read()  # to its end: serve and its workers have closed it
        return self.proc.wait(timeout=15), rest

    def read_until(self, text: str) -> str:
        """Log lines up to and including the first one that contains ``text``."""
        seen = []
        for line in self.log:
            seen.append(line)
            if text in line:
                return "".join(seen)
        raise AssertionError(f"{text!r} never logged:\n" + "".join(seen))


@contextmanager
def serving(*args: str, new_session: bool = False, cold: bool = False) -> Iterator[Served]:
    """``new_session``: its own process group, so a test can signal it as a terminal does.
    ``cold``: a ``python -m rpccli serve`` of its own, not a fork of the warm server."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc: subprocess.Popen[str] | ForkedPopen
    if cold:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rpccli", "serve", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=new_session,
        )
        assert proc.stderr is not None
        log: IO[str] = proc.stderr
    else:
        proc = rpccli_forks().popen(["serve", *args], env, ROOT, session=new_session)
        proc.stdin.close()  # end of input at once, as /dev/null gives it
        log = io.TextIOWrapper(proc.stderr)
    banner: list[str] = []
    try:
        for line in log:  # the banner ends with the "try:" line
            banner.append(line.rstrip("\n"))
            if line.lstrip().startswith("try:"):
                break
        else:
            raise AssertionError("rpccli serve exited early:\n" + "\n".join(banner))
        yield Served(proc, log, banner)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=15)
        log.close()  # unread: a killed serve's workers may hold their end open for a while
        if isinstance(proc, ForkedPopen):
            proc.stdout.close()  # open till now: serve writes nothing there, and no EPIPE


def test_serves_logs_and_stops_on_sigterm() -> None:
    sock = str(short_tmpdir() / "serve.sock")
    one = (str(EXAMPLES / "functions.py"), "--bind", "127.0.0.1:0", "--bind", sock)
    with serving(*one, cold=True) as srv:  # one cold run: the real program's
        tcp, unix = srv.nodes
        assert unix == sock and Path(sock).exists()
        assert any("serving 15 functions" in line for line in srv.banner)
        assert any(line.strip().startswith("demo: binary") for line in srv.banner)
        assert Client(tcp).call("hello", "cli") == b"Hello, cli"
        assert Client(unix).call("json", "x") == b'{"args": ["x"], "count": 1}'
        assert len(Client(tcp, mode="raw").call("hello", "raw")) == 10
        assert len(Client(tcp).call("big", "100000")) == 100000
        with pytest.raises(NoResult):
            Client(tcp).call("fail")
        code, log = srv.stop(signal.SIGTERM)
    assert code == 0
    assert not Path(sock).exists()
    # the result's size, as the client reports it, in both modes (not the 4-byte header too)
    assert re.search(r"\d\d:\d\d:\d\d 127\.0\.0\.1:\d+ hello\('cli'\) -> 10 bytes \(", log)
    assert "hello('raw') raw -> 10 bytes (" in log
    assert "json('x') -> 27 bytes (" in log
    assert "big('100000') -> 100000 bytes (large form, " in log
    assert "fail() -> 0-byte close: raised RuntimeError: fail was called" in log
    assert 'raise RuntimeError("fail was called")' in log  # the traceback, indented
    assert log.rstrip().endswith("rpccli serve: stopped")


def test_sigint_stops_with_exit_0_and_quiet_logs_nothing() -> None:
    with serving("--bind", ":0", "-q", "--warning", "maintenance soon") as srv:
        (node,) = srv.nodes
        assert node.startswith("127.0.0.1:")
        assert any("ping warning: 'maintenance soon'" in line for line in srv.banner)
        assert Client(node).ping().warning == "maintenance soon"
        code, log = srv.stop(signal.SIGINT)
    assert code == 0
    assert "ping" not in log


def test_no_demo_serves_only_the_files() -> None:
    with serving("--no-demo", str(EXAMPLES / "functions.py"), "--bind", "127.0.0.1:0") as srv:
        (node,) = srv.nodes
        assert Client(node).call("rpc_list").split(b"\n")[:2] == [b"hello", b"echo"]
        with pytest.raises(NoResult):
            Client(node).call("binary")
        assert srv.stop()[0] == 0


def run_main(args: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_bad_function_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import uwsgi\nuwsgi.register_rpc('x', lambda: b'x')\n1/0\n")
    code, err = run_main(["serve", str(bad), "--bind", "127.0.0.1:0"], capsys)
    assert code == 2
    reason = "ZeroDivisionError: division by zero (line 3)"
    assert err == f"rpccli: cannot load function file {bad}: {reason}\n"
    code, err = run_main(["serve", str(tmp_path / "missing.py")], capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "cannot read function file" in err


def test_bind_in_use_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with serving("--bind", "127.0.0.1:0", "-q") as srv:
        (node,) = srv.nodes
        code, err = run_main(["serve", "--bind", node, "-q"], capsys)
        assert code == 2
        assert err.splitlines()[-1] == f"rpccli: cannot listen on {node}: address already in use"
        assert srv.stop()[0] == 0


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["serve", "--no-demo"], capsys)[0] == 2
    assert run_main(["serve", "--buffer-size", "70000"], capsys)[0] == 2
    assert run_main(["serve", "--bind", "nonsense"], capsys)[0] == 2


def test_help_mentions_the_function_file_format() -> None:
    result = CliRunner().invoke(serve, ["--help"])
    assert result.exit_code == 0
    assert "register_rpc" in result.output and "--socket-timeout" in result.output


def test_non_loopback_binds_get_a_loud_warning(capsys: pytest.CaptureFixture[str]) -> None:
    # only the check: tests never listen on a non-loopback address
    log = _Log(quiet=False, verbose=0, color=False)
    _warn_exposed(log, ["0.0.0.0:3031", "127.0.0.1:3031", "[::1]:0", "/tmp/x.sock", "@name"])
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1
    assert "listening on 0.0.0.0:3031, which is NOT a loopback address" in err


def test_build_table_for_other_commands(tmp_path: Path) -> None:
    table = build_table(warning="w")
    assert "hello" in table and table.warning == "w"
    extra = tmp_path / "more.py"
    extra.write_text("import uwsgi\nuwsgi.register_rpc('hello', lambda *a: b'mine')\n")
    table = build_table([extra], demo=False)
    assert table.names() == ["hello"]


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def test_processes_share_the_sockets_and_respawn(tmp_path: Path) -> None:
    dying = tmp_path / "dying.py"
    dying.write_text("import os\nimport uwsgi\nuwsgi.register_rpc('die', lambda: os._exit(3))\n")
    sock = str(short_tmpdir() / "procs.sock")
    with serving(str(dying), "--processes", "2", "--bind", "127.0.0.1:0", "--bind", sock) as srv:
        assert any("2 processes x 8 threads" in line for line in srv.banner)
        tcp, unix = srv.nodes
        for _ in range(10):
            assert Client(tcp).call("hello") == b"Hello, world"
            assert Client(unix).call("upper", "u") == b"U"
        workers = children_of(srv.proc.pid)
        assert len(workers) == 2
        with pytest.raises(NoResult):
            Client(tcp).call("die")  # the worker exits mid-call: a 0-byte close, then a respawn
        # the parent notices the death when it notices it: wait for its log line
        assert "died (exit code 3); starting another" in srv.read_until("died (exit code")
        for _ in range(10):
            assert Client(tcp).call("hello", "again") == b"Hello, again"
        code, _ = srv.stop(signal.SIGTERM)
    assert code == 0
    assert not Path(sock).exists()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers if pid != srv.proc.pid)


def test_log_levels(capsys: pytest.CaptureFixture[str]) -> None:
    from protocol.server.log import Event

    idle = Event("127.0.0.1:1", "idle", reason="client closed after 0 bytes")
    call = Event("127.0.0.1:2", "rpc", 173, 0, b"fail", (), reason="raised X", traceback="TB\n")
    _Log(quiet=False, verbose=0, color=False).event(idle)
    _Log(quiet=False, verbose=0, color=False).event(call)
    first = capsys.readouterr().err
    assert "client closed" not in first
    assert "127.0.0.1:2 fail() -> 0-byte close: raised X" in first and "\n    TB\n" in first
    _Log(quiet=False, verbose=1, color=False).event(idle)
    _Log(quiet=True, verbose=1, color=False).event(call)
    second = capsys.readouterr().err
    assert "127.0.0.1:1 0-byte close: client closed after 0 bytes" in second
    assert "fail" not in second
