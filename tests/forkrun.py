"""Real processes without a cold start each: a fork server for tests that run many command lines.

A cold ``python -c ...`` costs about 0.05 CPU-s before it reads its first argument (the
interpreter, then rpccli's imports); a test that runs a hundred command lines twice pays that two
hundred times. :class:`ForkServer` pays it once: it starts one interpreter, imports the modules
named (and nothing else of the project), and then, for each command line, forks a child that
takes the caller's stdin, stdout and stderr descriptors (passed over a unix socket), the
caller's environment, directory and ``sys.argv``, and runs ``code`` as ``python -c code``
would: the child leaves the server's loop and runs ``code`` at the top level of ``-c``, so an
uncaught ``SystemExit``, the atexit handlers and the last flush of stdout are the interpreter's
own; what it skips is the teardown of every module (:data:`COMMON`), which wrote to every page
the child still shared with the server: about 22 ms of a 52 ms ``rpccli call --help``. What the
caller gets back is what :func:`subprocess.run` gives: the exit code (negative for a signal),
stdout and stderr bytes.

What a fork cannot show is what a cold process imports on its own: the modules named in
``preload`` are in ``sys.modules`` before the line is read. Name only modules every line imports
anyway, and check what only a cold process shows (tests/cli/test_fast_path.py keeps cold runs
for that, and checks that a forked line gives a cold line's bytes).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

#: What both fork servers share (this one and tests/forkcommand.py's): how one starts (its
#: preload, its socket, a frozen heap), the runs under way, and how a forked child ends: as the
#: interpreter's own exit does (Python/pylifecycle.c, Py_FinalizeEx: non-daemon threads,
#: atexit, the last flush of stdout and stderr), then ``os._exit`` without the teardown of
#: every module, which wrote to every page the child still shared with its server (about 20 ms
#: of CPU a run with click, rich or prompt_toolkit). A flush that fails is left to the
#: interpreter's own exit, which reports it (exit code 120).
COMMON = """
def __leave(code):
    import os, sys
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    __import__("atexit")._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            raise SystemExit(code) from None
    os._exit(code)


class __Runs:
    # the runs under way: each child's pidfd, polled beside the server's own socket; when one
    # ends, its exit code goes to the connection of its run (the caller, or a launcher)

    def __init__(self, listener):
        import select
        self.poll = select.poll()
        self.poll.register(listener, select.POLLIN)
        self.runs = {}  # a child's pidfd: (its pid, the connection of its run)

    def next(self):
        # returns once the server's socket has something to read; runs that end meanwhile are
        # reported and reaped here
        import os
        while True:
            fd = self.poll.poll()[0][0]
            if fd not in self.runs:
                return
            pid, conn = self.runs.pop(fd)
            self.poll.unregister(fd)
            os.close(fd)
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            try:
                conn.send(b"%d" % code)
            except OSError:  # the caller has gone
                pass
            conn.close()

    def add(self, pid, conn, fds):
        # in the server: the child pid runs; its descriptors are the child's now
        import os, select
        for fd in fds:
            os.close(fd)
        conn.send(b"%d" % pid)
        fd = os.pidfd_open(pid)
        self.runs[fd] = (pid, conn)
        self.poll.register(fd, select.POLLIN)

    def child(self, fds):
        # in a child: fds become 0, 1 and 2; nothing of the other runs stays open
        import os
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for fd, (_, conn) in self.runs.items():
            os.close(fd)
            conn.close()


def __serve(fd, preload):
    # the server's socket (descriptor fd) and its runs, once the modules named are imported;
    # what is here then stays out of every child's collections: fewer copies
    import gc, socket
    for name in preload:
        __import__(name)
    sock = socket.socket(fileno=fd)
    runs = __Runs(sock)
    gc.freeze()
    return sock, runs


def __run(code, namespace):
    try:
        exec(compile(code, "<string>", "exec"), namespace)
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            __leave(exit.code or 0)
        raise
    __leave(0)
"""

# The server's loop: any number of runs at once, each with a connection of its own (passed
# with its descriptors) that gets the child's pid, then its exit code once the server has reaped
# it (a pidfd says when). The child breaks out of the loop with fds 0-2, environment, directory
# and argv set, and runs the caller's code at the top level of `python -c` (in __main__'s
# namespace).
_LOOP = (
    COMMON
    + """
import json as _json, os as _os, socket as _socket, sys as _sys
_control, _runs = __serve(int(_sys.argv[1]), _sys.argv[2:])
while True:
    _runs.next()
    _message, _fds, _flags, _address = _socket.recv_fds(_control, 1 << 20, 4)
    if not _message:
        _sys.exit(0)
    _request = _json.loads(_message)
    _conn = _socket.socket(fileno=_fds.pop())
    _pid = _os.fork()
    if _pid == 0:
        _runs.child(_fds)
        _conn.close()
        _control.close()
        if _request["session"]:
            _os.setsid()
        _os.chdir(_request["cwd"])
        _os.environ.clear()
        _os.environ.update(_request["env"])
        _sys.argv = ["-c", *_request["argv"]]
        break
    _runs.add(_pid, _conn, _fds)
for _key in [_key for _key in globals() if _key.startswith("_") and not _key.startswith("__")]:
    del globals()[_key]
del _key
"""
)


#: ``python -m rpccli``: for :class:`ForkServer`'s ``code`` (``sys.argv[0]`` becomes __main__.py's
#: path, as with ``-m``)
RPCCLI_MAIN = "import runpy\nrunpy.run_module('rpccli', run_name='__main__', alter_sys=True)\n"


def rpccli_preload() -> tuple[str, ...]:
    """Every command's module and what they share (click, ssl): for tests of what commands do,
    not of what they import (no project module reads the environment, the terminal or the
    clock at import)."""
    from rpccli.app import COMMANDS

    commands = {target.partition(":")[0] for target in COMMANDS.values()}
    return ("rpccli.cli", "rpccli.app", "click", "ssl", "protocol.tls", *sorted(commands))


_SHARED: list[ForkServer] = []


def rpccli_forks() -> ForkServer:
    """This test process's fork server of ``python -m rpccli`` with :func:`rpccli_preload`:
    started on first use, stopped (by its pid, if closing its socket does not end it) when the
    process exits. One per process, whichever modules use it."""
    if not _SHARED:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RPCCLI_", "XDG_"))}
        server = ForkServer(RPCCLI_MAIN, rpccli_preload(), env)
        _SHARED.append(server)
        atexit.register(server.close)
    return _SHARED[0]


class ForkServer:
    """One interpreter with ``preload`` imported that runs ``code`` once per :meth:`run`, each
    time in a forked child, as ``python -c code ARGV`` would in a process of its own."""

    def __init__(
        self, code: str, preload: Sequence[str] = (), env: Mapping[str, str] | None = None
    ):
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"{_LOOP}__run({code!r}, globals())\n",
                str(theirs.fileno()),
                *preload,
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        )
        theirs.close()

    def run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        input: bytes = b"",
        cwd: str | Path | None = None,
        timeout: float = 30,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run one command line; what :func:`subprocess.run` with ``capture_output`` gives."""
        return self.finish(self.start(argv, env, input, cwd), timeout)

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        input: bytes = b"",
        cwd: str | Path | None = None,
        session: bool = False,
    ) -> Forked:
        """Start one command line (in a session of its own with ``session``, as
        ``start_new_session`` does); :meth:`finish` gives its result. Any number at once, from
        any thread."""
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        request = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd or os.getcwd()),
            "session": session,
        }
        passed = [stdin_r, out_w, err_w, theirs.fileno()]
        try:
            socket.send_fds(self._control, [json.dumps(request).encode()], passed)
        finally:
            for fd in (stdin_r, out_w, err_w):
                os.close(fd)
            theirs.close()
        mine.settimeout(30)
        pid = int(mine.recv(64))
        return Forked(mine, list(argv), pid, input, stdin_w, out_r, err_r)

    def finish(self, forked: Forked, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        out, err = communicate(forked.stdin, forked.input, [forked.stdout, forked.stderr], timeout)
        return subprocess.CompletedProcess(forked.argv, forked.wait(timeout), out, err)

    def popen(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str | Path | None = None,
        session: bool = False,
    ) -> ForkedPopen:
        """Start one command line with pipes to talk to it, as :class:`subprocess.Popen` with
        three ``PIPE``s: ``stdin``, ``stdout``, ``stderr``, ``pid``, ``poll()``, ``wait()``."""
        return ForkedPopen(self.start(argv, env, b"", cwd, session))

    def close(self) -> None:
        self._control.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Forked:
    """A command line a :class:`ForkServer` started: its pid, its end of each pipe, and its exit
    code once the server has reported it on the run's own connection."""

    def __init__(
        self,
        conn: socket.socket,
        argv: list[str],
        pid: int,
        input: bytes,
        stdin: int,
        stdout: int,
        stderr: int,
    ):
        self._conn = conn
        self.argv, self.pid, self.input = argv, pid, input
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._conn.settimeout(0)
            with contextlib.suppress(BlockingIOError):
                self._got(self._conn.recv(64))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                self._got(self._conn.recv(64))
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.argv, timeout or 0) from None
        assert self.returncode is not None
        return self.returncode

    def _got(self, code: bytes) -> None:
        if not code:
            raise RuntimeError(f"the fork server of {self.argv} ended before the run did")
        self.returncode = int(code)
        self._conn.close()


class ForkedPopen:
    """What tests use of :class:`subprocess.Popen`, for a command line a :class:`ForkServer`
    started."""

    def __init__(self, forked: Forked):
        self._forked = forked
        self.pid = forked.pid
        self.stdin = open(forked.stdin, "wb")  # noqa: SIM115 -- closed by the caller, as Popen's
        self.stdout = open(forked.stdout, "rb")  # noqa: SIM115
        self.stderr = open(forked.stderr, "rb")  # noqa: SIM115

    @property
    def returncode(self) -> int | None:
        return self._forked.returncode

    def poll(self) -> int | None:
        return self._forked.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self._forked.wait(timeout)

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Close stdin, read stdout and stderr to their ends and close them, wait: as Popen's,
        without input."""
        if not self.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.stdin.close()
        got: dict[str, bytes] = {}
        readers = [
            threading.Thread(target=lambda n=name, f=stream: got.__setitem__(n, f.read()))
            for name, stream in (("out", self.stdout), ("err", self.stderr))
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout)
        for stream in (self.stdout, self.stderr):  # as Popen's: read to the end, and closed
            stream.close()
        self.wait(timeout)
        return got.get("out", b""), got.get("err", b"")

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            # the server reaps the child before it reports the code: a child that has just
            # ended is gone, and its code on its way (as Popen's, a no-op then)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def communicate(stdin: int, data: bytes, fds: Sequence[int], timeout: float) -> list[bytes]:
    """Write ``data`` to ``stdin`` and close it, while reading every one of ``fds`` to its end
    (all at once, so that none fills up), as :meth:`subprocess.Popen.communicate` does."""
    got = {fd: bytearray() for fd in fds}
    deadline = time.monotonic() + timeout
    left_to_write = memoryview(data)
    os.set_blocking(stdin, False)
    with selectors.DefaultSelector() as selector:
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ)
        if data:
            selector.register(stdin, selectors.EVENT_WRITE)
        else:
            os.close(stdin)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no end of output within {timeout} s")
                for key, _ in selector.select(left):
                    if key.fd == stdin:
                        try:
                            left_to_write = left_to_write[os.write(stdin, left_to_write[:65536]) :]
                        except BrokenPipeError:  # the command stopped reading: as Popen does
                            left_to_write = left_to_write[:0]
                        if not left_to_write:
                            selector.unregister(stdin)
                            os.close(stdin)
                        continue
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        got[key.fd] += chunk
                    else:
                        selector.unregister(key.fd)
        finally:
            for fd in [*fds, *([stdin] if stdin in selector.get_map() else [])]:
                os.close(fd)
    return [bytes(got[fd]) for fd in fds]
