"""Every example in README.md and docs/*.md runs as written, and every link between pages resolves.

An example is a fenced block in ``console``, ``sh`` or ``python``, or any fenced block with a line
starting ``$ ``. A block that cannot run here says so in the Markdown, on the line before its
fence: ``<!-- not run: REASON -->``. ``<!-- run from "TEXT": REASON -->`` runs an ``sh`` block from
TEXT on (the quick start's install step is what .ci/install already did for this checkout).
A server example (``$ rpccli serve`` and its log) says what happens while it runs:
``<!-- while it runs: COMMANDS; then Ctrl-C -->``: the test runs COMMANDS (in "another terminal",
their output unchecked) once the server listens, waits for the lines shown before the ``^C``, then
sends SIGINT. ``test_every_example_ran_or_says_why`` fails on a marker it does not know.

How they run, as written:

- In a network namespace of their own (``unshare --net --mount``, as root): a private loopback
  where 127.0.0.1:3031 is free whatever else runs on the machine, no route off it, and a private
  ``/tmp`` (examples write ``/tmp/zeros``). Where namespaces are not allowed (not root, or a
  container without CAP_SYS_ADMIN) the examples run on the machine's loopback if the ports they
  name (3031, 3032, 3999) are free; if not, the test fails with ``CI=true`` and skips elsewhere.
- ``console`` commands run against the bundled server the examples name, ``rpccli serve -q`` on
  127.0.0.1:3031 with the demo functions, started once. Each command runs in ``bash -c`` at a
  terminal as a reader would (stdin and stdout one pty, stderr another, 100 columns,
  ``NO_COLOR=1``), in the repository root, with this checkout's ``rpccli`` first on PATH and an
  empty HOME and XDG directories. ``sh`` blocks run with ``bash -e -o pipefail`` and must exit 0;
  they and the server examples run first, before the shared server, as they start their own.
- That ``rpccli`` is warm (tests/forkcommand.py): a small launcher that hands argv, environment,
  directory and descriptors 0-2 to a fork server started once where the examples run (in the
  namespace, through ``nsenter``; launcher and socket in /dev/shm, which the namespace shares),
  which forks a child per run with every command's modules imported. Exit codes, signals (the
  server examples' Ctrl-C) and the two terminals are the run's own; what a forked run cannot
  show is what a cold process does before the command, its start-up and imports, which
  tests/cli/test_fast_path.py runs cold. This cut the file's CPU from about 9 s to about 5.
- ``python`` blocks run like a doctest: a ``# VALUE`` comment after an expression is the repr it
  must give.

What the comparison forgives, each because it must vary or is how the page is written:

- ``...`` stands for text left out: inside a line any text, a line of its own any lines;
- a decimal number (``0.41 ms``, ``"elapsed_ms": 0.421``, ``(0.00 s)``) is any decimal number, and
  ``N calls/s`` any rate: timings;
- ``, 2 lanes`` in a batch summary may be another count or absent: it follows the machine's cores;
- a run of spaces is one space: pages narrow hand-aligned columns (the hexdumps);
- stdout and stderr are read from separate terminals and the page may show them interleaved in
  any order that keeps each one's own order: which comes first depends on when each is flushed;
- the time of day (``21:32:28``) and a client's ephemeral port (``127.0.0.1:46174``, 32768 and
  up) in a server's log are any time and any such port;
- a shown line's leading ``^C`` is the terminal echoing Ctrl-C (the test sends SIGINT instead);
- colour (SGR escape sequences) is dropped: a page cannot show it;
- the terminal's CR LF is LF, and a final empty line is dropped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pty
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from tests.forkcommand import RPCCLI, TERMINAL_PRELOAD, forked_command
from tests.forkrun import rpccli_preload

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED = [*PAGES, *sorted(p for p in ROOT.glob("*.md") if p.name != "README.md")]
IN_CI = os.environ.get("CI") == "true"
RUNNABLE = {"console", "sh", "python"}
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>.+?) -->")
RUN_FROM = re.compile(r'<!-- run from "(?P<start>[^"]+)": (?P<reason>.+?) -->')
WHILE_IT_RUNS = re.compile(r"<!-- while it runs: (?P<calls>.+?); then Ctrl-C -->")
PORTS = (3031, 3032, 3999)  # the ports the examples name: the server, and two with no one
COLUMNS, ROWS = 100, 40
COMMAND_TIMEOUT = 20.0


# --- the pages ------------------------------------------------------------------------------


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    lines: list[str]
    marker: str  # the HTML comment on the line before the fence, or ""

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def is_example(self) -> bool:
        return self.lang in RUNNABLE or any(line.startswith("$ ") for line in self.lines)

    @property
    def not_run(self) -> str | None:
        match = NOT_RUN.fullmatch(self.marker)
        return match["reason"] if match else None


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page (fences may be indented, as inside a list item)."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        stripped = lines[index].lstrip()
        if stripped.startswith("```"):
            indent = len(lines[index]) - len(stripped)
            lang = stripped[3:].strip()
            start = index
            body: list[str] = []
            index += 1
            while index < len(lines) and not lines[index].lstrip().startswith("```"):
                body.append(lines[index][indent:])
                index += 1
            before = start - 1
            while before >= 0 and not lines[before].strip():
                before -= 1
            marker = lines[before].strip() if before >= 0 else ""
            marker = marker if marker.startswith("<!--") else ""
            found.append(Block(page, start + 1, lang, body, marker))
        index += 1
    return found


@cache
def examples() -> list[Block]:
    return [block for page in PAGES for block in blocks(page) if block.is_example]


def console_steps(block: Block) -> list[tuple[str, list[str]]]:
    """(command, the output shown after it) for each ``$ `` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        else:
            raise AssertionError(f"{block.id}: output before the first $ line: {line!r}")
    return steps


def python_chunks(block: Block) -> list[tuple[str, list[str]]]:
    """(code, the ``# VALUE`` lines after it): a doctest in comments."""
    chunks: list[tuple[str, list[str]]] = []
    code: list[str] = []
    shown: list[str] = []
    for line in block.lines:
        if line.startswith("# ") and code:
            shown.append(line[2:])
            continue
        if shown:
            chunks.append(("\n".join(code), shown))
            code, shown = [], []
        code.append(line)
    if code:
        chunks.append(("\n".join(code), shown))
    return chunks


# --- comparing what ran with what the page shows ---------------------------------------------

# a decimal number that is not part of a dotted one (an address, a version)
_DECIMAL = r"(?<![\d.])\d+\.\d+(?![\d.])"
_RATE = r"\d+ calls/s"
_LANES = r", \d+ lanes"
_CLOCK = r"(?<!\d)\d\d:\d\d:\d\d(?!\d)"
_EPHEMERAL = r"(?<=127\.0\.0\.1:)(?:3[2-9]\d{3}|[4-6]\d{4})(?!\d)"


def _line_pattern(shown: str) -> re.Pattern[str]:
    """``shown`` (spaces collapsed) as a pattern: what must vary matches anything like it."""
    parts = []
    for piece in re.split(f"(\\.\\.\\.|{_DECIMAL}|{_RATE}|{_LANES}|{_CLOCK}|{_EPHEMERAL})", shown):
        if piece == "...":
            parts.append(".*")
        elif re.fullmatch(_DECIMAL, piece):
            parts.append(r"\d+(\.\d+)?(e-\d+)?")  # Python writes a short time as 4.1e-05
        elif re.fullmatch(_RATE, piece):
            parts.append(r"\d+ calls/s")
        elif re.fullmatch(_LANES, piece):
            parts.append(r"(, \d+ lanes)?")
        elif re.fullmatch(_CLOCK, piece):
            parts.append(r"\d\d:\d\d:\d\d")
        elif re.fullmatch(r"\d{5}", piece) and int(piece) >= 32768:
            parts.append(r"\d{5}")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def _clean(text: str) -> list[str]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [re.sub(r" +", " ", line).rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(shown: list[str], out: str, err: str) -> bool:
    """Whether the lines a page shows are stdout and stderr interleaved (see the docstring)."""
    want = [re.sub(r" +", " ", line.removeprefix("^C")).rstrip() for line in shown]
    while want and not want[-1]:
        want.pop()
    outs, errs = _clean(out), _clean(err)
    patterns = [None if w.strip() == "..." else _line_pattern(w.strip(" ")) for w in want]
    outs = [o.strip(" ") for o in outs]
    errs = [e.strip(" ") for e in errs]

    @cache
    def fits(i: int, j: int, k: int) -> bool:
        if i == len(want):
            return j == len(outs) and k == len(errs)
        pattern = patterns[i]
        if pattern is None:
            return (
                fits(i + 1, j, k)
                or (j < len(outs) and fits(i, j + 1, k))
                or (k < len(errs) and fits(i, j, k + 1))
            )
        return (j < len(outs) and bool(pattern.fullmatch(outs[j])) and fits(i + 1, j + 1, k)) or (
            k < len(errs) and bool(pattern.fullmatch(errs[k])) and fits(i + 1, j, k + 1)
        )

    return fits(0, 0, 0)


# --- where they run: a private loopback -----------------------------------------------------

_HOLDER = r"""
import fcntl, os, socket, struct, subprocess, sys
# lo starts down in a new network namespace: bring it up (SIOCGIFFLAGS / SIOCSIFFLAGS, IFF_UP)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 0x1))
if sys.argv[1] == "tmpfs":
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "rpccli-docs", "/tmp"], check=True)
print("ready", flush=True)
sys.stdin.read()  # hold the namespace until the test closes our stdin
"""


@dataclass
class Place:
    """Where the examples run: a private namespace (entered through ``nsenter``) or this host."""

    holder: subprocess.Popen[bytes] | None
    tmp: Path  # a private /tmp in a namespace, else a fresh directory
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    command: Path | None = None  # the warm rpccli the examples run, once it is started

    def argv(self, argv: list[str]) -> list[str]:
        if self.holder is None:
            return argv
        enter = ["nsenter", "-t", str(self.holder.pid), "--net", "--mount", f"--wd={ROOT}"]
        return [*enter, "--", *argv]

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RPCCLI_", "XDG_", "PYTEST", "COV_")) and k != "NO_COLOR"
        }
        home = self.tmp / "home"
        path = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
        if self.command is not None:
            path = f"{self.command.parent}:{path}"
        env.update(
            PATH=path,
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_STATE_HOME=str(home / ".local" / "state"),
            NO_COLOR="1",
            TERM="xterm",
            LC_ALL="C.UTF-8",
        )
        return env


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _enter_namespace() -> Place | None:
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return None
    # a checkout under /tmp would vanish under the private tmpfs: keep the host's /tmp then
    tmpfs = not ROOT.is_relative_to("/tmp") and not Path(sys.executable).is_relative_to("/tmp")
    holder = subprocess.Popen(
        ["unshare", "--net", "--mount", "--", sys.executable, "-c", _HOLDER,
         "tmpfs" if tmpfs else "keep"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None
    if holder.stdout.readline() != b"ready\n":  # not allowed here (a container without
        holder.communicate(timeout=10)  # CAP_SYS_ADMIN): the machine's loopback will do
        return None
    tmp = Path("/tmp") if tmpfs else Path(tempfile.mkdtemp(prefix="rpccli-docs-"))
    return Place(holder, tmp)


@pytest.fixture(scope="module")
def place() -> Iterator[Place]:
    found = _enter_namespace()
    if found is None:
        if not all(_port_free(port) for port in PORTS):
            message = f"no network namespace here, and one of ports {PORTS} is in use"
            pytest.fail(message) if IN_CI else pytest.skip(message)
        found = Place(None, Path(tempfile.mkdtemp(prefix="rpccli-docs-")))
    stack = contextlib.ExitStack()
    try:
        found.command = stack.enter_context(_warm_rpccli(found))
        yield found
    finally:
        for proc in found.started:
            _stop(proc)
        stack.close()  # the fork server, before the namespace it runs in
        if found.holder is not None:
            assert found.holder.stdin is not None
            found.holder.stdin.close()
            found.holder.wait(10)
            found.holder.stdout.close()  # type: ignore[union-attr]
            found.holder.stderr.close()  # type: ignore[union-attr]
        if found.tmp != Path("/tmp"):  # a directory of ours, not the namespace's own /tmp
            shutil.rmtree(found.tmp, ignore_errors=True)


@contextlib.contextmanager
def _warm_rpccli(place: Place) -> Iterator[Path]:
    """The ``rpccli`` the examples run: tests/forkcommand.py's launcher, whose fork server runs
    in ``place`` (its children call the namespace's loopback and write its /tmp). Launcher and
    socket must be seen from here and from the namespace, which replaces only /tmp: /dev/shm,
    or else the repository."""
    if place.tmp != Path("/tmp"):  # this host's /tmp, which a namespace that keeps it sees
        directory = None
    else:
        shm = Path("/dev/shm")
        parent = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else ROOT
        directory = Path(tempfile.mkdtemp(prefix=".rpccli-docs-", dir=parent))
    try:
        preload = (*rpccli_preload(), *TERMINAL_PRELOAD)
        with forked_command(
            RPCCLI, preload, place.env(), directory=directory, wrap=place.argv
        ) as command:
            yield command
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@dataclass
class Ran:
    status: int
    out: str
    err: str


Results = dict[str, list[Ran | BaseException]]  # block id -> what each of its commands gave


def _terminal() -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    return master, slave


class AtTerminal:
    """``argv`` running with stdout (and stdin, unless given) on one terminal, stderr on another."""

    def __init__(self, place: Place, argv: list[str], *, stdin: bytes | None = None) -> None:
        self.argv = argv
        self.deadline = time.monotonic() + COMMAND_TIMEOUT
        out_master, out_slave = _terminal()
        err_master, err_slave = _terminal()
        self.proc = subprocess.Popen(
            place.argv(argv),
            stdin=subprocess.PIPE if stdin is not None else out_slave,
            stdout=out_slave,
            stderr=err_slave,
            cwd=ROOT,
            env=place.env(),
            start_new_session=True,
        )
        os.close(out_slave)
        os.close(err_slave)
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        self.out, self.err = out_master, err_master
        self.got = {out_master: bytearray(), err_master: bytearray()}
        self.selector = selectors.DefaultSelector()
        for fd in self.got:
            self.selector.register(fd, selectors.EVENT_READ)

    def text(self, fd: int) -> str:
        return bytes(self.got[fd]).decode(errors="replace")

    def read_until(self, done: Callable[[], bool]) -> bool:
        """Read both terminals until ``done()`` or both close (EIO: no writer is left)."""
        while self.selector.get_map() and not done() and time.monotonic() < self.deadline:
            for key, _ in self.selector.select(0.1):
                try:
                    data = os.read(key.fd, 65536)
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    data = b""
                if data:
                    self.got[key.fd] += data
                else:
                    self.selector.unregister(key.fd)
        return done()

    def finish(self) -> Ran:
        closed = self.read_until(lambda: not self.selector.get_map())
        self.selector.close()
        os.close(self.out)
        os.close(self.err)
        if not closed:
            _stop(self.proc)
            raise AssertionError(f"{self.argv!r} did not finish within {COMMAND_TIMEOUT}s")
        status = self.proc.wait(COMMAND_TIMEOUT)
        return Ran(status, self.text(self.out), self.text(self.err))


def run_at_terminal(place: Place, argv: list[str], *, stdin: bytes | None = None) -> Ran:
    return AtTerminal(place, argv, stdin=stdin).finish()


def _wait_for_port(place: Place, proc: subprocess.Popen[bytes]) -> None:
    probe = ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3031"]  # connects, or fails: refused
    for _ in range(100):
        if proc.poll() is not None:
            raise AssertionError(f"rpccli serve exited with {proc.returncode}")
        done = subprocess.run(place.argv(probe), capture_output=True)
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("rpccli serve did not listen on 127.0.0.1:3031 within 10 s")


@pytest.fixture(scope="module")
def results(place: Place) -> Results:
    """Every runnable example, run once: sh blocks first, then the rest against one server."""
    ran: Results = {}
    todo = [block for block in examples() if block.not_run is None]
    for block in (b for b in todo if b.lang == "sh"):
        ran[block.id] = [_attempt(_run_sh, place, block)]
    for block in (b for b in todo if WHILE_IT_RUNS.fullmatch(b.marker)):
        ran[block.id] = [_attempt(_run_server_example, place, block)]
    server = subprocess.Popen(
        place.argv([str(place.command or RPCCLI), "serve", "-q"]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=place.env(),
        start_new_session=True,
    )
    place.started.append(server)
    _wait_for_port(place, server)
    for block in (b for b in todo if b.lang != "sh" and b.id not in ran):
        if block.lang == "python":
            ran[block.id] = [_attempt(_run_python, place, block)]
            continue
        try:
            steps = console_steps(block)
        except AssertionError as exc:
            ran[block.id] = [exc]
            continue
        ran[block.id] = [_attempt(_run_console_step, place, c) for c, _ in steps]
    return ran


def _attempt(run: Callable[..., Ran], *args: object) -> Ran | BaseException:
    """What ``run(*args)`` gave, or what it raised: each example's own test reports it."""
    try:
        return run(*args)
    except Exception as exc:
        return exc


_OFF_THIS_MACHINE = re.compile(
    r"(?<![\d.])(?!127\.)\d{1,3}(\.\d{1,3}){3}(?![\d.])"  # an IPv4 address outside 127/8
    r"|\[(?!::1\])[\w.%]*:[\w:.%]*\]"  # an IPv6 address other than ::1
    r"|\b(?!localhost\b)[a-z][\w-]*(\.[\w-]+)+:\d+"  # a host name with a port
)


def _loopback_only(text: str) -> None:
    """Refuse to run an example that names a peer off this machine, whatever its page says."""
    found = _OFF_THIS_MACHINE.search(text)
    assert found is None, f"{found[0]!r} is not loopback: mark the example <!-- not run: ... -->"


def _run_console_step(place: Place, command: str) -> Ran:
    _loopback_only(command)
    return run_at_terminal(place, ["bash", "-c", command])


def _run_sh(place: Place, block: Block) -> Ran:
    script = "\n".join(block.lines)
    _loopback_only(script)
    match = RUN_FROM.fullmatch(block.marker)
    if match:
        at = script.find(match["start"])
        assert at >= 0, f"{block.id}: {match['start']!r} is not in the block"
        script = script[at:]
    return run_at_terminal(place, ["bash", "-e", "-o", "pipefail", "-c", script])


def _run_server_example(place: Place, block: Block) -> Ran:
    match = WHILE_IT_RUNS.fullmatch(block.marker)
    assert match is not None
    ((command, shown),) = console_steps(block)
    _loopback_only(command + "\n" + match["calls"])
    server = AtTerminal(place, ["bash", "-c", command])
    try:
        _wait_for_port(place, server.proc)
        run_at_terminal(place, ["bash", "-c", match["calls"]])
        before = next(i for i, line in enumerate(shown) if line.startswith("^C"))
        server.read_until(
            lambda: len(_clean(server.text(server.out)) + _clean(server.text(server.err))) >= before
        )
        os.killpg(server.proc.pid, signal.SIGINT)
        return server.finish()
    finally:
        _stop(server.proc)


_DOCTEST = r"""
import ast, json, sys
namespace = {"__name__": "__docs__"}
values = []
for code in json.load(sys.stdin):
    tree = ast.parse(code)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        exec(compile(ast.Module(tree.body[:-1], []), "<doc>", "exec"), namespace)
        values.append(repr(eval(compile(ast.Expression(last.value), "<doc>", "eval"), namespace)))
    else:
        exec(compile(tree, "<doc>", "exec"), namespace)
        values.append(None)
print(json.dumps(values))
"""


def _run_python(place: Place, block: Block) -> Ran:
    codes = [code for code, _ in python_chunks(block)]
    _loopback_only("\n".join(codes))
    return run_at_terminal(
        place, [sys.executable, "-c", _DOCTEST], stdin=json.dumps(codes).encode()
    )


# --- the tests -------------------------------------------------------------------------------


def _runnable() -> list[Block]:
    return [block for block in examples() if block.not_run is None]


@pytest.mark.parametrize("block", _runnable(), ids=lambda b: b.id)
def test_example_runs_as_written(block: Block, results: Results) -> None:
    ran = results[block.id]
    for got in ran:
        if isinstance(got, BaseException):
            raise got
    if block.lang == "sh":
        (got,) = ran
        assert isinstance(got, Ran)
        assert got.status == 0, f"{block.id} exited {got.status}:\n{got.out}{got.err}"
    elif block.lang == "python":
        (got,) = ran
        assert isinstance(got, Ran)
        assert got.status == 0, f"{block.id} raised:\n{got.err}{got.out}"
        values = json.loads(got.out)
        for (code, shown), value in zip(python_chunks(block), values, strict=True):
            if shown:
                assert value is not None, f"{block.id}: {code!r} is no expression"
                assert matches(shown, value, ""), f"{block.id}: {code!r} gave {value}"
    else:
        for (command, shown), got in zip(console_steps(block), ran, strict=True):
            assert isinstance(got, Ran)
            assert matches(shown, got.out, got.err), (
                f"{block.id}: $ {command}\n--- the page shows:\n" + "\n".join(shown)
                + f"\n--- stdout:\n{got.out}\n--- stderr:\n{got.err}"
            )  # fmt: skip


def test_every_example_ran_or_says_why(results: Results) -> None:
    """An example either ran (above) or its page says why not, in words."""
    assert set(results) == {block.id for block in _runnable()}
    known = (NOT_RUN, RUN_FROM, WHILE_IT_RUNS)
    unknown = [
        b.id for b in examples() if b.marker and not any(k.fullmatch(b.marker) for k in known)
    ]
    assert not unknown, f"a marker this test does not know: {unknown}"
    assert all(b.lang == "sh" for b in examples() if RUN_FROM.fullmatch(b.marker))
    skipped = [b for b in examples() if b.not_run is not None]
    assert all(len(b.not_run or "") >= 10 for b in skipped), "say why an example is not run"
    assert len(_runnable()) >= 20, "most examples run"


def test_the_readme_starts_with_the_two_commands() -> None:
    """A fresh machine's two commands come first; CI runs the second exactly as written."""
    readme = blocks(ROOT / "README.md")
    first, second = (b for b in readme if b.lang == "sh")
    assert readme.index(first) == 0 and readme.index(second) == 1
    assert "rpccli serve" in first.lines[0] and "rpccli call" in first.lines[0]
    assert second.lines == ["bash .ci/install && .venv/bin/python -m pytest -q"]
    assert ".venv/bin/python -m pytest -q" in (ROOT / ".ci" / "run").read_text()
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


# --- links ----------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} (.+)", line)):
            base = slug(m[1])
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return frozenset(found)


def links(page: Path) -> Iterator[tuple[int, str]]:
    fenced = False
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        prose = re.sub(r"`[^`]*`", "", line)
        for m in re.finditer(r"\]\(([^)\s]+)\)", prose):
            yield number, m[1]


@pytest.mark.parametrize("page", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(page: Path) -> None:
    broken = []
    for number, target in links(page):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto: -- not checked (no traffic off this machine)
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or not dest.is_relative_to(ROOT):
            broken.append(f"{page.name}:{number}: {target} (no such file)")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{page.name}:{number}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_page_is_linked_from_the_readme() -> None:
    readme_links = {target.partition("#")[0] for _, target in links(ROOT / "README.md")}
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= readme_links, f"not linked from README.md: {sorted(pages - readme_links)}"


def test_code_cites_only_sections_that_exist() -> None:
    """Comments cite docs/ by section (``docs/protocol.md#limits``): every one resolves."""
    cited = re.compile(r"docs/([a-z-]+\.md)#([a-z0-9-]+)")
    found = 0
    for package in ("protocol", "rpccli", "tests", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for page, anchor in cited.findall(line):
                    found += 1
                    where = f"{path.relative_to(ROOT)}:{number}"
                    assert (ROOT / "docs" / page).exists(), f"{where}: no docs/{page}"
                    assert anchor in anchors(ROOT / "docs" / page), f"{where}: no #{anchor}"
    assert found > 50  # the code does cite the docs
