"""A command that starts warm: each run of it is a fork of one interpreter that imported rpccli
once, for tests where a shell or a terminal starts rpccli many times (TAB in bash, zsh and fish;
``rpccli shell`` on a pseudo-terminal).

The command is a small launcher (tests/launcher.c, compiled on first use: under 1 ms of CPU a
run, where a ``python -I -S`` launcher took 15) that hands its argv, environment, directory and
descriptors 0-2 to a server over a unix socket, and exits with the run's exit code (or its
signal). The server, started once with ``preload`` imported, forks a
child per run, which takes all of those, rebuilds ``sys.stdin``, ``stdout`` and ``stderr`` as an
interpreter starting on those descriptors would (line-buffered on a terminal, unbuffered with
PYTHONUNBUFFERED), and runs the console script pip wrote (``.venv/bin/rpccli``) as ``__main__``;
it exits as the interpreter does (threads, atexit, the last flush), without the teardown of
every module, which wrote to every page it still shared with the server.
A launcher started in a session of its own runs its command in one too; one that leads a
session on a terminal (pexpect, tmux) hands that terminal over, so that the run is the one that
Ctrl-C and a hang-up reach. The launcher passes SIGHUP, SIGINT, SIGQUIT and SIGTERM on to the
run, and exits only after it, holding its descriptors meanwhile: whoever waits for the end of
its output or for its exit sees them in the same order as with a cold process. With
``FORKCOMMAND_STATUS=FILE`` in its environment (not the run's) it writes the exit status there,
as sh's ``$?`` gives it: for a command that is a terminal's own process, with no shell around it
to ask.

A cold TAB costs about 65 ms of CPU and a cold ``rpccli call`` on a terminal 120 (rich); through
the launcher, 30 and 36. The 15 ``rpccli shell`` of test_shell_terminal.py (prompt_toolkit) went
from about 5.5 CPU-s to 1.5. As with
tests/forkrun.py, what a fork cannot show is what a cold process imports on its own: name in
``preload`` only modules every run imports anyway, or test only what commands do.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from tests.forkrun import COMMON, rpccli_preload
from tests.peers import short_tmpdir, stop_process

#: the console script pip wrote for rpccli: this checkout's, in the venv running the tests
RPCCLI = Path(sys.executable).parent / "rpccli"

# The server. A child breaks out of the loop with its descriptors, session, terminal,
# environment, directory, argv and standard streams set, and runs the script below it, ending as
# tests/forkrun.py's children do (COMMON).
_LOOP = (
    COMMON
    + """
import os as _os, socket as _socket, sys as _sys
_listener, _runs = __serve(int(_sys.argv[1]), _sys.argv[3:])
_script = _sys.argv[2]


def _stdio(fd, write):
    # as the interpreter's own start does (Python/pylifecycle.c, create_stdio), on the new fds
    import io
    unbuffered = write and bool(_os.environ.get("PYTHONUNBUFFERED"))
    old = (_sys.stdin, _sys.stdout, _sys.stderr)[fd]
    buffer = io.open(fd, "wb" if write else "rb", 0 if unbuffered else -1, closefd=False)
    raw = buffer if unbuffered else buffer.raw
    raw.name = ("<stdin>", "<stdout>", "<stderr>")[fd]
    stream = io.TextIOWrapper(
        buffer, old.encoding, old.errors, "\\n", (raw.isatty() or fd == 2) and not unbuffered,
        unbuffered,
    )
    stream.mode = "w" if write else "r"
    return stream


while True:
    _runs.next()
    _conn = _listener.accept()[0]
    _message, _fds, _flags, _address = _socket.recv_fds(_conn, 1 << 20, 3)
    if len(_fds) != 3:
        for _fd in _fds:
            _os.close(_fd)
        _conn.close()
        continue
    # tests/launcher.c's request: session, terminal, directory, the number of arguments, the
    # arguments, the environment; each field ends with a NUL
    _fields = _message.split(b"\\0")[:-1]
    _session, _terminal, _cwd = _fields[0] == b"1", _fields[1] == b"1", _fields[2]
    _argv = [_os.fsdecode(_arg) for _arg in _fields[4 : 4 + int(_fields[3])]]
    _env = [_entry.partition(b"=")[::2] for _entry in _fields[4 + int(_fields[3]) :]]
    _pid = _os.fork()
    if _pid == 0:
        _runs.child(_fds)
        _conn.close()
        _listener.close()
        if _session:
            _os.setsid()
        if _terminal:
            __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0)
        _os.chdir(_cwd)
        _os.environb.clear()
        _os.environb.update((_name, _value) for _name, _value in _env if _name)
        _sys.argv = [_script, *_argv]
        _sys.stdin, _sys.stdout, _sys.stderr = _stdio(0, False), _stdio(1, True), _stdio(2, True)
        break
    _runs.add(_pid, _conn, _fds)


# the console script, in a namespace of its own (what the loop leaves here is not the script's)
__run("__import__('runpy').run_path(script, run_name='__main__')", {"script": _script})
"""
)

#: the launcher's source (its comment says what it does), compiled once for each version of it
LAUNCHER_C = Path(__file__).with_name("launcher.c")


def launcher() -> Path:
    """tests/launcher.c compiled (by ``$CC``, or cc), kept in tests/__pycache__ under a name
    that holds a hash of the source: a new version is compiled again, once."""
    source = LAUNCHER_C.read_bytes()
    cache = LAUNCHER_C.parent / "__pycache__"
    built = cache / f"launcher-{hashlib.sha256(source).hexdigest()[:16]}"
    if not built.exists():
        cache.mkdir(exist_ok=True)
        partial = cache / f"{built.name}.{os.getpid()}"  # test processes may build it at once
        compiler = os.environ.get("CC", "cc")
        done = subprocess.run(
            [compiler, "-O2", "-Wall", "-o", str(partial), str(LAUNCHER_C)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"{compiler} could not build {LAUNCHER_C}:\n{done.stderr}")
        os.replace(partial, built)
    return built


@contextlib.contextmanager
def forked_command(
    script: Path,
    preload: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    directory: Path | None = None,
    wrap: Callable[[list[str]], list[str]] = list,
) -> Iterator[Path]:
    """A command named as ``script`` (a Python script, such as a console script pip wrote)
    whose every run is a fork of one interpreter with ``preload`` imported (started with
    ``env``, or this process's environment); its path. The launcher and the server's socket
    are in ``directory`` (an empty one of short path; by default a fresh one in this process's
    /tmp); the server's argv goes through ``wrap``, such as an ``nsenter`` that starts it in a
    namespace (which must see ``directory`` and the listening descriptor it inherits). The
    server stops (by its pid) when this ends: stop every run first."""
    directory = short_tmpdir() if directory is None else directory
    path = str(directory / "server.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    try:
        proc = subprocess.Popen(
            wrap([sys.executable, "-c", _LOOP, str(listener.fileno()), str(script), *preload]),
            pass_fds=[listener.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        )
    finally:
        listener.close()
    command = directory / "bin" / script.name
    command.parent.mkdir()
    shutil.copy(launcher(), command)  # it finds the server's socket from its own path
    try:
        yield command
    finally:
        stop_process(proc, signal.SIGTERM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


_SHARED: list[Path] = []


#: what a command on a terminal imports besides :func:`~tests.forkrun.rpccli_preload`: rich
#: (its output), prompt_toolkit (``rpccli shell``) and uvloop (``serve``, the demo server)
TERMINAL_PRELOAD = (
    "runpy",
    "rpccli.call.plain",
    "rpccli.output.pretty",
    "rpccli.shell.interactive",
    "prompt_toolkit.input.vt100",
    "prompt_toolkit.key_binding.bindings.search",
    "prompt_toolkit.patch_stdout",
    "ctypes",  # prompt_toolkit's Application.run
    *(["uvloop"] if importlib.util.find_spec("uvloop") else []),
)


def rpccli_command() -> Path:
    """This test process's warm `rpccli`, for tests of what commands do on a terminal, not of
    what they import: :func:`~tests.forkrun.rpccli_preload` and ``TERMINAL_PRELOAD``
    imported once. Started on first use, stopped (by its pid) when the process exits."""
    if not _SHARED:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RPCCLI_", "XDG_"))}
        stack = contextlib.ExitStack()
        preload = (*rpccli_preload(), *TERMINAL_PRELOAD)
        _SHARED.append(stack.enter_context(forked_command(RPCCLI, preload, env)))
        atexit.register(stack.close)
    return _SHARED[0]
