"""Real peers for tests: uWSGI and nginx on loopback, each stopped by the pid we started.

Nothing here kills by name: every process is a ``subprocess.Popen`` of ours, stopped through it.
With ``CI=true`` a missing uwsgi or nginx binary fails the test instead of skipping it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol import Client

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PY_FUNCTIONS = EXAMPLES / "functions.py"
LUA_FUNCTIONS = EXAMPLES / "functions.lua"
IN_CI = os.environ.get("CI") == "true"


def require(binary: str) -> str:
    """The path of ``binary``; a missing one fails the test in CI and skips it elsewhere."""
    path = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None
    )
    if path is None:
        # imported here: the benchmarks import this module too, each in a process of its own
        # (bench_server.py's load generators too), and pytest costs some 0.2 CPU-s to import
        import pytest

        message = f"{binary} is not installed (run .ci/run, or apt-get install it)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def short_tmpdir() -> Path:
    """A fresh directory with a short path: unix socket paths are limited to 107 bytes.
    Removed when this process exits (a test may read a peer's log after stopping it)."""
    path, owner = tempfile.mkdtemp(prefix="rpccli-"), os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a forked child that exits normally
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return Path(path)


def stop_process(proc: subprocess.Popen[Any], sig: int) -> None:
    """Stop a process we started: ``sig``, then SIGKILL if it is still there after 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def stop_uwsgi(proc: subprocess.Popen[Any]) -> None:
    """Stop a uWSGI we started, cleanly (its workers end, then its master, with exit code 0):
    SIGINT, sent again every 20 ms until it is gone, then SIGKILL if it is still there after
    10 s. A master reaps its dead workers only when a signal wakes it: without a second one it
    sleeps out its one-second check interval first (SIGCHLD does not wake it). A dying master
    ignores the repeats."""
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        proc.send_signal(signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(0.02)
    stop_process(proc, signal.SIGKILL)


def wait_until(check, *, timeout: float = 15.0, what: str = "peer") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready within {timeout}s")


@dataclass
class Uwsgi:
    """A running real uWSGI. ``node`` is the rpccli node string for its socket."""

    proc: subprocess.Popen[bytes]
    node: str
    log: Path
    args: list[str] = field(default_factory=list)

    def client(self, **kw) -> Client:  # type: ignore[no-untyped-def]
        return Client(self.node, **kw)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        # SIGINT always stops a uWSGI master; SIGTERM would reload one without --die-on-term
        stop_uwsgi(self.proc)


def start_uwsgi(
    *,
    socket_kind: str = "tcp",
    python: Sequence[Path | str] = (PY_FUNCTIONS,),
    lua: Sequence[Path | str] = (LUA_FUNCTIONS,),
    processes: int = 2,
    buffer_size: int | None = None,
    warning: str | None = None,
    extra: Sequence[str] = (),
    workdir: Path | None = None,
) -> Uwsgi:
    """Start real uWSGI with Python and Lua functions on 127.0.0.1, a unix or an abstract socket."""
    binary = require("uwsgi")
    workdir = workdir or short_tmpdir()
    if socket_kind == "tcp":
        bind = node = f"127.0.0.1:{free_port()}"
    elif socket_kind == "unix":
        bind = node = str(workdir / "uwsgi.sock")
    elif socket_kind == "abstract":
        bind = node = f"@rpccli-test-{os.getpid()}-{free_port()}"
    else:
        raise ValueError(socket_kind)
    plugins = ["rpc", "ping"]
    args = [binary, "--socket", bind, "--master", "--processes", str(processes), "--die-on-term"]
    args += ["--pidfile", str(workdir / "uwsgi.pid"), "--chdir", str(workdir)]
    if python:
        plugins.append("python3")
        if warning is not None:
            set_warning = workdir / "set_warning.py"
            set_warning.write_text(f"import uwsgi\nuwsgi.set_warning_message({warning!r})\n")
            python = [*python, set_warning]
        for path in python:
            args += ["--import", str(path)]
    if lua:
        plugins.append("lua51")
        for path in lua:
            args += ["--lua-load", str(path)]
    if buffer_size is not None:
        args += ["--buffer-size", str(buffer_size)]
    args = [args[0], "--plugins", ",".join(plugins), *args[1:], *extra]
    log = workdir / "uwsgi.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = Uwsgi(proc, node, log, args)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"uwsgi exited with {proc.returncode}:\n{server.log_text()}")
        try:
            Client(node, timeout=1).ping()
        except Exception:
            return False
        return True

    try:
        wait_until(ready, what="uwsgi")
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def uwsgi(**kw) -> Iterator[Uwsgi]:  # type: ignore[no-untyped-def]
    server = start_uwsgi(**kw)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    port: int
    prefix: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM)


def start_nginx(locations: str, http: str = "") -> Nginx:
    """Start nginx on a free loopback port with ``locations`` inside its one ``server`` block
    (and ``http``, if given, at http level before it)."""
    binary = require("nginx")
    prefix = short_tmpdir()
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{name}_temp_path {prefix}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log {prefix}/access.log;\n  {temp}\n{http}\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n{locations}\n  }}\n}}\n"
    )
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=(prefix / "stderr.log").open("wb"),
        stdin=subprocess.DEVNULL,
    )
    server = Nginx(proc, port, prefix)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}:\n{server.error_log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    try:
        wait_until(ready, what="nginx")
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def nginx(locations: str, http: str = "") -> Iterator[Nginx]:
    server = start_nginx(locations, http)
    try:
        yield server
    finally:
        server.stop()


def start_serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start a real ``rpccli serve --bind 127.0.0.1:0 ARGS``; return it and its node once its
    banner is out. The rest of its log is drained in a thread, so it never fills the pipe.
    The caller stops the process (by its pid)."""
    import sys
    import threading

    proc = subprocess.Popen(
        [sys.executable, "-m", "rpccli", "serve", "--bind", "127.0.0.1:0", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    node = serve_banner(proc.stderr)
    if not node:
        stop_process(proc, signal.SIGKILL)
        raise AssertionError("rpccli serve did not start")
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, node


def serve_banner(stderr: Iterable[str]) -> str:
    """The node a ``rpccli serve --bind 127.0.0.1:0`` listens on, read from its banner on
    ``stderr`` up to the banner's last line ("try: ..."); "" if the banner did not say."""
    import re

    node = ""
    for line in stderr:
        if found := re.match(r"rpccli serve: listening on (.+)$", line.strip()):
            node = found.group(1)
        if line.lstrip().startswith("try:"):
            break
    return node
