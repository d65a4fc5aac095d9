"""A plain ``rpccli call`` runs without click (rpccli.call.plain, docs/design.md#start-up): for
every command line of a matrix, the plain path and click's parser give the same stdout bytes,
stderr, exit code and state files.

Each line runs twice in real processes against real peers (the bundled server, real uWSGI): once
as ``python -m rpccli`` runs it, once with the plain path switched off, so that click parses the
line as it did before the plain path existed. The lines the plain path is meant to take must
take it (no click, no rpccli.app imported); every other line must be left to click.

The matrix's processes are forked, one per line and way, from a server per way that has
imported what every line imports anyway (tests/forkrun.py: no cold start per line, and
neither click nor rpccli.app for the plain way, so what a line imports of them still shows);
``test_a_forked_line_is_a_cold_line`` checks that a forked line gives what a cold process gives,
and the tests below the matrix run cold processes.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pexpect
import pytest

from protocol.server import BackgroundServer
from tests.forkrun import ForkServer
from tests.peers import ROOT, uwsgi, wait_until

RUNNER = """
import atexit, os, sys
if sys.argv[1] == "click":
    import rpccli.call.plain
    rpccli.call.plain.plain_call = lambda args: None
def probe():
    with open(os.environ["FAST_PATH_PROBE"], "w") as out:
        out.write(" ".join(m for m in ("click", "rpccli.app") if m in sys.modules))
atexit.register(probe)
from rpccli.cli import main
sys.exit(main(sys.argv[2:]))
"""

PROFILES = """\
[nodes.prod]
address = "{node}"
[nodes.pair]
address = ["{refused}", "{node}"]
timeout = 2.5
"""
DEFAULT_NODE = '[defaults]\nnode = "{node}"\n'
BROKEN = "[defaults\n"
JSON_OUTPUT = '[defaults]\noutput = "json"\n'


class Line(NamedTuple):
    argv: list[str]
    plain: bool  # the plain path takes it (else click parses it)
    env: dict[str, str] = {}  # noqa: RUF012 -- never mutated
    config: str | None = None
    stdin: bytes = b""
    timed: bool = False  # timings in the output: digits are masked before comparing


N, R, U = "{node}", "{refused}", "{uwsgi}"
MATRIX: dict[str, Line] = {
    # answers
    "ok": Line(["call", N, "hello"], True),
    "args": Line(["call", N, "echo", "a", "b c", "d"], True),
    "empty-arg": Line(["call", N, "argc", "", ""], True),
    "unicode": Line(["call", N, "echo", "ünï cödé ✓ 日本"], True),
    "binary": Line(["call", N, "binary"], True),
    "big": Line(["call", N, "big", "300000"], True),
    "dash-args": Line(["call", N, "echo", "-1", "--json", "-t", "x"], True),
    "help-as-arg": Line(["call", N, "echo", "--help"], True),
    "double-dash-arg": Line(["call", N, "echo", "--", "-x"], True),
    "double-dash-later": Line(["call", N, "echo", "a", "--", "b"], True),
    "at-file": Line(["call", N, "echo", "@{file}"], True),
    "at-at": Line(["call", N, "echo", "@@literal"], True),
    "stdin-arg": Line(["call", N, "echo", "-"], True, stdin=b"from stdin\x00\xff"),
    "no-result": Line(["call", N, "empty"], True),
    "no-such-function": Line(["call", N, "nosuchfunction"], True),
    "fail": Line(["call", N, "fail"], True),
    # options the plain path reads
    "timeout": Line(["call", "-t", "3", N, "hello"], True),
    "timeout-long": Line(["call", "--timeout=3", N, "hello"], True),
    "option-between": Line(["call", N, "--timeout", "2", "hello"], True),
    "connect-timeout": Line(["call", "--connect-timeout", "1", N, "hello"], True),
    "json": Line(["call", "--json", N, "echo", "a", "\udcff"], True, timed=True),
    "output-json": Line(["call", "-o", "json", N, "hello"], True, timed=True),
    "output-bytes": Line(["call", "--output=bytes", N, "hello"], True),
    "json-and-output-json": Line(["call", "--json", "-o", "json", N, "hello"], True, timed=True),
    "verbose": Line(["call", "-v", N, "hello"], True, timed=True),
    "raw": Line(["call", "--raw", N, "hello"], True),
    "strategy-first": Line(["call", "-s", "first", f"{R},{N}", "hello"], True),
    "retry-unsafe": Line(["call", "--retry-unsafe", f"{R},{N}", "hello"], True),
    "fan-out": Line(["call", "-s", "all", f"{N},{N}", "hello"], True, timed=True),
    # errors after the line is read
    "refused": Line(["call", R, "hello"], True),
    "timed-out": Line(["call", "-t", "0.3", N, "sleep", "2"], True),
    "bad-node": Line(["call", "[::1", "hello"], True),
    "bad-port": Line(["call", "host:notaport", "hello"], True),
    "no-such-socket": Line(["call", "/nonexistent/rpccli.sock", "hello"], True),
    "no-such-file-arg": Line(["call", N, "echo", "@/nonexistent/file"], True),
    "unknown-word": Line(["call", "prdo", "hello"], True, config=PROFILES),
    # config and environment
    "profile": Line(["call", "prod", "hello"], True, config=PROFILES),
    "profile-group": Line(["call", "pair", "hello"], True, config=PROFILES),
    "near-miss": Line(["call", "prdo", "hello"], True, config=PROFILES + DEFAULT_NODE),
    "default-node": Line(["call", "hello"], True, config=DEFAULT_NODE),
    "default-node-dot": Line(["call", ".", "echo", "x"], True, config=DEFAULT_NODE),
    "env-node": Line(["call", "echo", "y"], True, env={"RPCCLI_NODE": N}),
    "env-node-over-config": Line(
        ["call", "hello"], True, env={"RPCCLI_NODE": N}, config='[defaults]\nnode = "nope"\n'
    ),
    "env-timeout": Line(["call", N, "sleep", "2"], True, env={"RPCCLI_TIMEOUT": "0.3"}),
    "env-timeout-bad": Line(["call", N, "hello"], True, env={"RPCCLI_TIMEOUT": "nan"}),
    "config-json": Line(["call", N, "hello"], True, config=JSON_OUTPUT, timed=True),
    "config-broken": Line(["call", N, "hello"], True, config=BROKEN),
    "env-config": Line(["call", "prod", "hello"], True, env={"RPCCLI_CONFIG": "{profiles}"}),
    "real-uwsgi": Line(["call", U, "hello", "x"], True),
    "real-uwsgi-no-function": Line(["call", U, "nosuchfunction"], True),
    "real-uwsgi-binary": Line(["call", "-t", "3", U, "echo", "\udcff\x01"], True),
    # lines for click: usage errors, help, other forms and commands
    "no-words": Line(["call"], False),
    "node-only": Line(["call", N], False),
    "function-only-default": Line(["call", "--json"], False, config=DEFAULT_NODE),
    "help": Line(["call", "--help"], False),
    "h": Line(["call", "-h"], False),
    "top-help": Line(["--help"], False),
    "help-call": Line(["help", "call"], False),
    "bad-option": Line(["call", "--bogus", N, "hello"], False),
    "bad-timeout": Line(["call", "-t", "0", N, "hello"], False),
    "nan-timeout": Line(["call", "--timeout", "nan", N, "hello"], False),
    "missing-value": Line(["call", N, "-t"], False),
    "bad-output": Line(["call", "-o", "yaml", N, "hello"], False),
    "bad-strategy": Line(["call", "-s", "fastest", N, "hello"], False),
    "json-and-output": Line(["call", "--json", "-o", "bytes", N, "hello"], False),
    "twice": Line(["call", "-t", "1", "-t", "2", N, "hello"], False),
    "short-cluster": Line(["call", "-vt", "2", N, "hello"], False, timed=True),
    "attached": Line(["call", "-t2", N, "hello"], False),
    "double-dash-first": Line(["call", "--", N, "hello"], False),
    "dash-node": Line(["call", "-", "hello"], False),
    "dry-run": Line(["call", "--dry-run", N, "hello"], False),
    "traceback": Line(["call", "--traceback", N, "hello"], False),
    "traceback-env": Line(["call", N, "hello"], False, env={"RPCCLI_TRACEBACK": "0"}),
    "traceback-env-bad": Line(["call", N, "hello"], False, env={"RPCCLI_TRACEBACK": "maybe"}),
    "top-option": Line(["--traceback", "call", N, "hello"], False),
    "ping": Line(["ping", N], False, timed=True),
    "unknown-command": Line(["cal", N, "hello"], False),
    "version": Line(["--version"], False),
}


@pytest.fixture(scope="module")
def real_uwsgi() -> Iterator[str]:
    with uwsgi(processes=1, lua=()) as server:
        yield server.node


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


# Imported by the fork servers before any line: what both ways import on every line before they
# part (rpccli.cli reads the line, the click way's runner imports rpccli.call.plain), the standard
# library modules the click way imports, and for the click way click. Never rpccli.app, nor
# click for the plain way: that a line imports them is what the probe shows.
STDLIB = ("concurrent.futures", "dataclasses", "locale", "logging", "queue", "random", "textwrap")
PRELOAD = {
    "plain": ("rpccli.cli", "rpccli.call.plain", *STDLIB),
    "click": ("rpccli.cli", "rpccli.call.plain", *STDLIB, "click"),
}


@pytest.fixture(scope="module")
def forks() -> Iterator[dict[str, ForkServer]]:
    """A fork server per way (tests/forkrun.py), for the whole module: the module keeps to one
    test process (tests/conftest.py), so uWSGI and the two servers start once a run, not in
    each of six processes (3 CPU-s, process accounting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    with (
        ForkServer(RUNNER, PRELOAD["plain"], env) as plain,
        ForkServer(RUNNER, PRELOAD["click"], env) as click,
    ):
        yield {"plain": plain, "click": click}


def _prepare(
    way: str, line: Line, values: dict[str, str], tmp: Path
) -> tuple[Path, list[str], dict[str, str]]:
    home = tmp / way  # the state of each way apart; the config file at one path
    home.mkdir(parents=True)
    config = tmp / "config" / "rpccli" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.unlink(missing_ok=True)
    if line.config is not None:
        config.write_text(_fill(line.config, values))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_STATE_HOME=str(home / "state"))
    env.update(FAST_PATH_PROBE=str(home / "probe"))
    env.update({k: _fill(v, values) for k, v in line.env.items()})
    argv = [way, *(_fill(word, values) for word in line.argv)]
    return home, argv, env


def _seen(line: Line, home: Path, proc: subprocess.CompletedProcess[bytes]) -> tuple[bytes, ...]:
    """Exit code, stdout, stderr, state files and what the process imported."""
    state = b"".join(
        bytes(path.relative_to(home)) + b"=" + path.read_bytes() + b"\n"
        for path in sorted((home / "state").rglob("*"))
        if path.is_file()
    )
    out, err = proc.stdout, proc.stderr
    if line.timed:
        out, err = (re.sub(rb"[0-9]+(\.[0-9]+)?", b"N", text) for text in (out, err))
    state = re.sub(rb"[0-9]{9,}", b"TIME", state)  # when a name was learned
    return (str(proc.returncode).encode(), out, err, state, (home / "probe").read_bytes())


def run(
    way: str, line: Line, values: dict[str, str], tmp: Path, fork: ForkServer | None = None
) -> tuple[bytes, ...]:
    """The line run one ``way`` ("plain" or "click") in a cold process (or one forked by
    ``fork``): exit code, stdout, stderr, state files and what it imported."""
    home, argv, env = _prepare(way, line, values, tmp)
    if fork is not None:
        return _seen(line, home, fork.run(argv, env, line.stdin))
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *argv],
        input=line.stdin,
        capture_output=True,
        env=env,
        timeout=30,
    )
    return _seen(line, home, proc)


def run_forked(
    forks: dict[str, ForkServer], line: Line, values: dict[str, str], tmp: Path
) -> dict[str, tuple[bytes, ...]]:
    """The line run both ways at once, each in a process forked by its way's server: what
    :func:`run` gives, per way."""
    # both prepared before either starts: the config file (one path, the same text) is written
    # anew by each preparation
    prepared = {way: _prepare(way, line, values, tmp) for way in ("plain", "click")}
    started = {
        way: (home, forks[way].start(argv, env, line.stdin))
        for way, (home, argv, env) in prepared.items()
    }
    return {way: _seen(line, home, forks[way].finish(job)) for way, (home, job) in started.items()}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_plain_path_and_click_agree(
    name: str,
    bundled_node: str,
    refused_node: str,
    real_uwsgi: str,
    forks: dict[str, ForkServer],
    tmp_path: Path,
) -> None:
    line = MATRIX[name]
    (tmp_path / "arg.bin").write_bytes(b"file \x00\xff bytes\n")
    profiles = tmp_path / "profiles.toml"
    values = {"node": bundled_node, "refused": refused_node, "uwsgi": real_uwsgi}
    profiles.write_text(_fill(PROFILES, values))
    values.update(file=str(tmp_path / "arg.bin"), profiles=str(profiles))
    seen = run_forked(forks, line, values, tmp_path)
    *plain, plain_imports = seen["plain"]
    *click, click_imports = seen["click"]
    assert plain == click
    assert b"rpccli.app" in click_imports
    if line.plain:
        assert b"rpccli.app" not in plain_imports, "the plain path did not take this line"
        if name != "fan-out":  # -s all loads the fan-out table's module, which uses click
            assert b"click" not in plain_imports
    else:
        assert b"rpccli.app" in plain_imports, "the plain path took a line for click"


@pytest.mark.parametrize("name", ["stdin-arg", "config-broken", "json", "help", "bad-option"])
def test_a_forked_line_is_a_cold_line(
    name: str, bundled_node: str, forks: dict[str, ForkServer], tmp_path: Path
) -> None:
    """The fork servers stand in for cold processes: a line gives the same exit code, stdout,
    stderr, state files and imports of click and rpccli.app either way."""
    line = MATRIX[name]
    values = {"node": bundled_node}
    forked = run_forked(forks, line, values, tmp_path)
    for way in ("plain", "click"):
        (tmp_path / way).rename(tmp_path / f"forked-{way}")  # the same paths for the cold run
        assert forked[way] == run(way, line, values, tmp_path), way


def test_the_matrix_has_errors_of_every_kind(
    bundled_node: str, refused_node: str, forks: dict[str, ForkServer], tmp_path: Path
) -> None:
    values = {"node": bundled_node, "refused": refused_node}
    codes = {
        name: int(run("plain", MATRIX[name], values, tmp_path / name, forks["plain"])[0])
        for name in ("ok", "no-result", "bad-node", "refused", "timed-out", "bad-option")
    }
    assert codes == {
        "ok": 0,
        "no-result": 1,
        "bad-node": 2,
        "refused": 3,
        "timed-out": 4,
        "bad-option": 2,
    }


def test_console_script_call_imports_no_click(bundled_node: str, tmp_path: Path) -> None:
    """The installed ``rpccli`` and ``python -m rpccli``: a plain call imports no click (nor
    rich, prompt_toolkit or asyncio)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_STATE_HOME=str(tmp_path / "s"))
    script = Path(sys.executable).parent / "rpccli"
    commands = [[sys.executable, "-X", "importtime", "-m", "rpccli"]]
    if script.exists():
        commands.append([sys.executable, "-X", "importtime", str(script)])
    for command in commands:
        result = subprocess.run(
            [*command, "call", bundled_node, "hello"], capture_output=True, env=env, timeout=30
        )
        assert (result.returncode, result.stdout) == (0, b"Hello, world")
        imported = {line.split("|")[-1].strip() for line in result.stderr.decode().splitlines()}
        assert "rpccli.call" in imported
        assert not imported & {"click", "rich", "prompt_toolkit", "asyncio"}


LEAN_PROBE = """
import builtins, sys
compiled = []
compile_ = builtins.compile
builtins.compile = lambda *a, **k: compiled.append(a[0]) or compile_(*a, **k)
from rpccli.cli import main
code = main(sys.argv[1:])
import gc
gc.collect(1)  # as rpccli.cli does before it freezes the rest
loaded = [m for m in ("pathlib", "ipaddress", "threading", "click") if m in sys.modules]
import gc
gc.set_debug(gc.DEBUG_SAVEALL)
gc.collect()
sys.stderr.write(repr((code, compiled, loaded, gc.garbage)))
"""


def test_a_repeated_plain_call_stays_lean(bundled_node: str, tmp_path: Path) -> None:
    """Without a config file, a call whose function the node already answered (no state to
    write) imports no pathlib (nor urllib.parse and ipaddress behind it) and calls no
    compile(), whose first call costs a cold call 10M instructions (docs/design.md#start-up).
    It leaves no garbage either, which rpccli.cli counts on when it skips the collections of
    the process's exit. ``-S``: the checkout's editable install imports pathlib itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_STATE_HOME=str(tmp_path / "s"))
    argv = [sys.executable, "-S", "-c", LEAN_PROBE, "call", bundled_node, "hello"]
    seen = []
    for _ in range(2):  # the first call learns the name: it writes a names file
        result = subprocess.run(argv, capture_output=True, env=env, cwd=ROOT, timeout=30)
        assert result.stdout == b"Hello, world"
        seen.append(result.stderr.decode())
    assert seen[1] == "(0, [], [], [])"


@pytest.mark.parametrize(
    "argv",
    [["call", N, "hello"], ["call", N, "binary"], ["call", "-v", N, "jsondoc"], ["call", R, "x"]],
    ids=["text", "binary", "json-verbose", "refused"],
)
def test_plain_path_and_click_agree_on_a_terminal(
    argv: list[str], bundled_node: str, refused_node: str, tmp_path: Path
) -> None:
    values = {"node": bundled_node, "refused": refused_node}
    seen = []
    for way in ("plain", "click"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
        env.update(XDG_CONFIG_HOME=str(tmp_path / way), XDG_STATE_HOME=str(tmp_path / way))
        env.update(FAST_PATH_PROBE=str(tmp_path / f"{way}.probe"), TERM="xterm-256color")
        env.update(COLUMNS="100", LINES="40")
        env.pop("NO_COLOR", None)
        words = [_fill(word, values) for word in argv]
        child = pexpect.spawn(sys.executable, ["-c", RUNNER, way, *words], env=env, timeout=20)
        child.expect(pexpect.EOF)
        child.close()
        text = re.sub(rb"[0-9]+\.[0-9]+ ms", b"N ms", child.before)
        seen.append((child.exitstatus, text))
    assert seen[0] == seen[1]
    assert b"rpccli.app" not in (tmp_path / "plain.probe").read_bytes()


def _env(tmp_path: Path, way: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / way), XDG_STATE_HOME=str(tmp_path / way))
    env.update(FAST_PATH_PROBE=str(tmp_path / f"{way}.probe"))
    return env


def test_plain_path_and_click_agree_on_ctrl_c(own_server: BackgroundServer, tmp_path: Path) -> None:
    procs = {
        way: subprocess.Popen(
            [sys.executable, "-c", RUNNER, way, "call", own_server.node, "sleep", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(tmp_path, way),
        )
        for way in ("plain", "click")
    }  # both at once: one wait for the server's calls, not two
    seen = []
    try:
        wait_until(lambda: own_server.server.running() == 2, what="both calls on the server")
        for proc in procs.values():
            proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            out, err = proc.communicate(timeout=20)
            seen.append((proc.returncode, out, err))
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    wait_until(lambda: own_server.server.running() == 0, what="the functions to return")
    assert seen[0] == seen[1] == (130, b"", b"\nrpccli: interrupted\n")
    assert b"rpccli.app" not in (tmp_path / "plain.probe").read_bytes()


@pytest.mark.parametrize(
    "shell",
    ["{cmd} | head -c1 | od -An -tx1; echo ${{PIPESTATUS[0]}}", "{cmd} >&-; echo $?"],
    ids=["broken-pipe", "closed-stdout"],
)
def test_plain_path_and_click_agree_on_lost_output(
    shell: str, bundled_node: str, tmp_path: Path
) -> None:
    seen = []
    for way in ("plain", "click"):
        argv = [sys.executable, "-c", RUNNER, way, "call", bundled_node, "big", "1000000"]
        command = shell.format(cmd=shlex.join(argv))
        result = subprocess.run(
            ["bash", "-c", command], capture_output=True, env=_env(tmp_path, way), timeout=60
        )
        seen.append((result.returncode, result.stdout, result.stderr))
    assert seen[0] == seen[1]
    assert b"rpccli.app" not in (tmp_path / "plain.probe").read_bytes()


def test_the_plain_options_are_the_commands() -> None:
    """What the plain path reads from an option is what click's parser gives the command, and
    no option of ``call`` (or of the program) takes its value from an environment variable the
    plain path would not read."""
    from rpccli.app import app
    from rpccli.call.command import call
    from rpccli.call.plain import FLAGS, VALUED, _value

    def parsed(*words: str) -> dict[str, object]:
        with call.make_context("call", [*words, "127.0.0.1:1", "f"]) as ctx:
            return {("json" if k == "json_flag" else k): v for k, v in ctx.params.items()}

    plain_defaults = parsed()
    # what the plain path leaves to run_call's defaults (and interval=0.0) is click's default too
    left = ("modifier2", "max_response", "buffer_size", "dry_run", "explain", "local_file")
    assert {k: plain_defaults[k] for k in (*left, "repeat", "interval")} == {
        "modifier2": None,
        "max_response": None,
        "buffer_size": None,
        "dry_run": False,
        "explain": False,
        "local_file": None,
        "repeat": None,
        "interval": 0.0,
    }
    for word, key in FLAGS.items():
        assert plain_defaults[key] is False and parsed(word)[key] is True, word
    samples = {"timeout": "2.5", "connect_timeout": "1", "output": "json", "strategy": "all"}
    for word, key in VALUED.items():
        assert plain_defaults[key] is None, word
        text = samples[key]
        assert parsed(word, text)[key] == _value(key, text), word
        if word.startswith("--"):
            assert parsed(f"{word}={text}")[key] == _value(key, text), word
    envvars = {
        str(param.envvar) for param in [*call.params, *app.params] if param.envvar is not None
    }
    assert envvars == {"RPCCLI_TRACEBACK"}
