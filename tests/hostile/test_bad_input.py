"""Bad numbers, nodes and settings: every one is exit 2, one line on stderr, and nothing sent.

A loopback listener records every connection made to it; each bad invocation in the table names
it as its node (directly, as the default node, or as a profile's address), so an invocation that
gets past its checks and connects is caught even when it fails later. The table covers every
command's numeric options, RPCCLI_TIMEOUT and the other variables, and every numeric key of the
config file ([defaults] and profiles). Commands run in process as rpccli.cli.main; `serve`, which
would keep running if a value got through, runs as a process of its own (forked from
tests/forkrun.py's warm server: what is checked is what serve does with a value, not what it
imports) that is stopped once it listens.
"""

from __future__ import annotations

import os
import re
import selectors
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from protocol import Client, RequestError, ResponseTooLarge
from protocol.nodes import Health, NodeGroup
from rpccli.cli import main
from tests.conftest import ROOT
from tests.forkrun import rpccli_forks
from tests.protocol.apis import Async, Blocking
from tests.protocol.scripted import answer, peer
from tests.protocol.wirehelp import packet

NAN, INF = float("nan"), float("inf")
NAN_FORMS = ["nan", "NaN", "inf", "-inf", "-1", "0", "1e309", "", "abc", "86401", "1e300"]


class Recorder:
    """A loopback listener that counts connections: accepted by a thread, and any still waiting
    in the backlog when :meth:`connections` is asked (so a connection that was made just before
    the command ended is never missed)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.node = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with self._lock:
            while True:
                try:
                    conn, _ = self.sock.accept()
                except (BlockingIOError, OSError):
                    return
                self._count += 1
                conn.close()  # the 0-byte close: a client that got this far ends at once

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if selector.select(0.05):
                    self._drain()

    def connections(self) -> int:
        self._drain()
        return self._count

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    listener = Recorder()
    yield listener
    listener.close()


@dataclass
class Case:
    """One bad invocation: ``args`` (``{node}`` is the recorder), its stdin, environment and
    config file, and ``names`` -- what its one stderr line must mention."""

    id: str
    args: list[str]
    names: str
    stdin: str = "hello a\n"
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None


#: (command words before the option, option, bad values); the option is what stderr names.
#: Options go before NODE: after FUNCTION every word is an ARG.
SECONDS_FORMS = ["nan", "inf", "-1", "0", "1e309", "abc", ""]
OPTIONS: list[tuple[list[str], str, list[str]]] = [
    (["call"], "--timeout", [*NAN_FORMS, "0x10", "1_0", "\u0661", " "]),
    (["call"], "-t", ["nan"]),
    (["call"], "--connect-timeout", SECONDS_FORMS),
    (["call"], "--max-response", ["0", "-1", "nan", "", "abc", "1.5k", "1e3", "9" * 20 + "G"]),
    (["call"], "--max-response", [str(2**63)]),
    (["call"], "--modifier2", ["-1", "256", "nan", "abc", "1e309", ""]),
    (["call"], "-s", ["bogus"]),
    (["call"], "-o", ["bogus"]),
    (["batch"], "-t", ["nan", "0"]),
    (["batch"], "--timeout", ["inf"]),
    (["batch"], "--connect-timeout", ["nan"]),
    (["batch"], "--max-response", ["0"]),
    (["batch"], "-c", ["0", "-1", "nan", "1025", "1e3"]),
    (["batch"], "--lanes", ["0", "-1", "65", "nan", ""]),
    (["ping"], "-i", ["nan", "inf", "-1", "abc", "1e309", "86401"]),
    (["ping"], "-c", ["-1", "nan", "1.5", "9" * 20]),
    (["ping"], "-t", ["nan", "0"]),
    (["ping"], "--connect-timeout", ["-1"]),
    (["shell"], "--timeout", ["nan"]),
    (["shell"], "-t", ["-1"]),
    (["shell"], "--connect-timeout", ["inf"]),
    (["shell"], "--max-response", ["0", "nan"]),
]
#: what stderr calls a short option, and the word a refused choice is named by
LONG = {"-t": "--timeout", "-c": None, "-i": "--interval", "-s": "--strategy", "-o": "--output"}
COMMANDS = {
    "call": ["{node}", "hello"],
    "batch": ["{node}"],
    "ping": ["{node}"],
    "shell": ["{node}"],
}
BAD_NODES = [":0", ":99999", "[::1", "http://127.0.0.1:1", "tcp://127.0.0.1:1", ",", "1.2.3.4:1/x"]


def _option_cases() -> list[Case]:
    cases = []
    for words, option, values in OPTIONS:
        command = words[0]
        names = LONG.get(option, option) or ("--concurrency" if command == "batch" else "--count")
        for value in values:
            args = [*words, option, value, *COMMANDS[command]]
            cases.append(Case(f"{command} {option} {value!r}", args, names))
    for node in BAD_NODES:
        cases.append(
            Case(f"call node {node!r}", ["call", node, "hello"], node.strip(",") or "empty")
        )
    for value in ["nan", "inf", "-1"]:  # a script's .timeout: one line, and nothing sent
        cases.append(
            Case(f"shell .timeout {value}", ["shell", "{node}"], ".timeout", f".timeout {value}\n")
        )
    cases.append(Case("completion tcsh", ["completion", "tcsh"], "tcsh"))
    return cases


def _env_cases() -> list[Case]:
    call = ["call", "{node}", "hello"]
    cases = [
        Case(
            f"RPCCLI_TIMEOUT={value!r} call", call, "RPCCLI_TIMEOUT", env={"RPCCLI_TIMEOUT": value}
        )
        for value in [*NAN_FORMS, "0x10"]
        if value  # an empty RPCCLI_TIMEOUT is no setting
    ]
    for command in ("batch", "ping", "shell"):
        args = [command, *COMMANDS[command]]
        cases.append(
            Case(
                f"RPCCLI_TIMEOUT=nan {command}",
                args,
                "RPCCLI_TIMEOUT",
                env={"RPCCLI_TIMEOUT": "nan"},
            )
        )
    cases.append(Case("RPCCLI_TRACEBACK=abc", call, "--traceback", env={"RPCCLI_TRACEBACK": "abc"}))
    for node in [":0", "http://127.0.0.1:1"]:
        cases.append(
            Case(f"RPCCLI_NODE={node!r}", ["call", ".", "hello"], node, env={"RPCCLI_NODE": node})
        )
    return cases


CONFIG_KEYS = [
    ("timeout", ["nan", "inf", "-inf", "-1", "0", "1e300", '"soon"', "true", "86401"]),
    ("connect_timeout", ["nan", "-1", "0", "inf"]),
    ("max_response", ["0", "-1", "1e300", '"abc"', "nan", "true", '"0"']),
]
PROFILE_KEYS = [("timeout", ["nan", "inf", "-1"]), ("connect_timeout", ["nan", "0"])]


def _config_cases() -> list[Case]:
    cases = []
    for key, values in CONFIG_KEYS:
        for value in values:
            text = f"[defaults]\n{key} = {value}\n"
            args = ["call", "{node}", "hello"]
            cases.append(Case(f"[defaults] {key} = {value}", args, f"line 2: {key} ", config=text))
    for key, values in PROFILE_KEYS:
        for value in values:
            text = f'[nodes.p]\naddress = "{{node}}"\n{key} = {value}\n'
            args = ["call", "p", "hello"]
            cases.append(Case(f"[nodes.p] {key} = {value}", args, f"line 3: {key} ", config=text))
    text = '[nodes.p]\naddress = ":0"\n'
    cases.append(Case("[nodes.p] address = ':0'", ["call", "p", "hello"], "line 2", config=text))
    for command in ("batch", "ping", "shell"):
        text = "[defaults]\ntimeout = nan\n"
        args = [command, *COMMANDS[command]]
        cases.append(
            Case(f"[defaults] timeout = nan, {command}", args, "line 2: timeout ", config=text)
        )
    return cases


SERVE_OPTIONS = [
    ("--socket-timeout", ["nan", "inf", "0", "-1", "1e309"]),
    ("--grace", ["nan", "inf", "-1"]),
    ("--threads", ["-1", "1025", "nan"]),
    ("--processes", ["0", "65"]),
    ("--buffer-size", ["0", "65536", "nan"]),
]
SERVE_CASES = [(option, value) for option, values in SERVE_OPTIONS for value in values]
IN_PROCESS = _option_cases() + _env_cases() + _config_cases()


@dataclass
class Outcome:
    code: int | str
    out: bytes
    err: str


def _run_in_process(case: Case, recorder: Recorder, tmp_path: Path) -> Outcome:
    env = {key: value.replace("{node}", recorder.node) for key, value in case.env.items()}
    if case.config is not None:
        path = tmp_path / "config.toml"
        path.write_text(case.config.replace("{node}", recorder.node))
        env["RPCCLI_CONFIG"] = str(path)
    args = [arg.replace("{node}", recorder.node) for arg in case.args]
    runner = CliRunner()
    with runner.isolation(input=case.stdin, env=env) as (out, err, _):
        try:
            code: int | str = main(args)
        except BaseException as exc:  # a crash is this table's finding
            code = f"raised {type(exc).__name__}: {exc}"
        sys.stdout.flush()
        sys.stderr.flush()
    return Outcome(code, out.getvalue(), err.getvalue().decode("utf-8", "replace"))


def _verdict(outcome: Outcome, names: str, connections: int) -> list[str]:
    """What is wrong with an outcome (nothing: the case passed)."""
    wrong = []
    if outcome.code != 2:
        wrong.append(f"exit {outcome.code!r}, not 2")
    if connections:
        wrong.append(f"{connections} connection(s) made")
    if "Traceback" in outcome.err or outcome.err.count("\n") != 1 or not outcome.err.endswith("\n"):
        wrong.append(f"stderr is not one line: {outcome.err!r}")
    elif names not in outcome.err:
        wrong.append(f"stderr does not name {names!r}: {outcome.err!r}")
    if outcome.out:
        wrong.append(f"stdout not empty: {outcome.out[:80]!r}")
    return wrong


@pytest.mark.parametrize("case", IN_PROCESS, ids=[c.id for c in IN_PROCESS])
def test_bad_invocation_is_exit_2_one_line_nothing_sent(
    case: Case, recorder: Recorder, tmp_path: Path, xdg_dirs: dict[str, Path]
) -> None:
    before = recorder.connections()
    outcome = _run_in_process(case, recorder, tmp_path)
    assert _verdict(outcome, case.names, recorder.connections() - before) == []


def _run_serve(option: str, value: str, tmp_path: Path) -> Outcome:
    """``rpccli serve OPTION VALUE`` on an ephemeral port; stopped (by pid) once it listens."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    argv = ["serve", "--bind", "127.0.0.1:0", option, value]
    proc = rpccli_forks().popen(argv, env)
    err = b""
    deadline = time.monotonic() + 60  # generous: only a value that got through takes long
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stderr, selectors.EVENT_READ)
            while time.monotonic() < deadline and b"listening on" not in err:
                if selector.select(1.0):
                    chunk = os.read(proc.stderr.fileno(), 65536)
                    if not chunk:
                        break
                    err += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        returncode = proc.wait()
        out = proc.stdout.read()
        err += proc.stderr.read()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
    code: int | str = returncode if b"listening on" not in err else "served"
    return Outcome(code, out, err.decode("utf-8", "replace"))


@pytest.mark.parametrize(
    ("option", "value"), SERVE_CASES, ids=[f"serve {o} {v}" for o, v in SERVE_CASES]
)
def test_bad_serve_option_is_exit_2_one_line(option: str, value: str, tmp_path: Path) -> None:
    assert _verdict(_run_serve(option, value, tmp_path), option, 0) == []


# ---- the library: its own errors, naming its own parameters ----

BAD_LIBRARY_SETTINGS = [
    *[("timeout", v) for v in (NAN, INF, -INF, -1, 0, 1e300, 10**30, True, "4")],
    *[("connect_timeout", v) for v in (NAN, INF, -1, 0)],
    *[("max_response", v) for v in (0, -1, 1.5, 2**64, True)],
]


@pytest.mark.parametrize("api", [Blocking(), Async(use_uvloop=False)], ids=["blocking", "asyncio"])
@pytest.mark.parametrize(
    ("parameter", "value"),
    BAD_LIBRARY_SETTINGS,
    ids=[f"{p}={v!r}" for p, v in BAD_LIBRARY_SETTINGS],
)
def test_library_refuses_bad_numbers_before_connecting(
    api: Blocking, parameter: str, value: object, recorder: Recorder
) -> None:
    before = recorder.connections()
    with pytest.raises(RequestError) as info:
        api.call_full(recorder.node, "hello", **{parameter: value})
    assert str(info.value).startswith(f"{parameter}= must be ")
    assert "--" not in str(info.value) and info.value.limit == parameter
    assert recorder.connections() == before


@pytest.mark.parametrize("cooldown", [NAN, INF, -1])
def test_node_health_refuses_a_bad_cooldown(cooldown: float) -> None:
    with pytest.raises(RequestError, match=r"^cooldown= "):
        Health(cooldown=cooldown)


def test_fan_out_refuses_zero_workers(recorder: Recorder) -> None:
    before = recorder.connections()
    group = NodeGroup([recorder.node, ":1"], health=Health())
    with pytest.raises(RequestError, match=r"^max_workers= "):
        group.fan_out(lambda address: Client(address).ping(), max_workers=0)
    assert recorder.connections() == before


def _client_options() -> set[str]:
    import click

    from rpccli.cli import app

    context = click.Context(app)
    return {
        opt
        for name in ("call", "batch", "ping", "shell")
        for param in app.get_command(context, name).params  # type: ignore[union-attr]
        for opt in getattr(param, "opts", [])
        # --buffer-size is uWSGI's own option, which rpccli's repeats by name on purpose (it
        # tells rpccli the server's): the library names uWSGI's when it explains a reset
        if opt.startswith("--") and opt != "--buffer-size"
    }


def test_the_library_names_no_option_of_the_program() -> None:
    options = _client_options()
    assert {"--max-response", "--timeout", "--connect-timeout"} <= options
    found = [
        f"{path.name}: {opt}"
        for path in sorted((ROOT / "protocol").glob("*.py"))
        for opt in options
        if re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", path.read_text())
    ]
    assert found == []


def test_too_large_names_max_response_in_the_library_and_the_flag_in_the_cli() -> None:
    from rpccli.errors import describe

    with peer(answer(packet(b"x" * 1000))) as server, pytest.raises(ResponseTooLarge) as info:
        Client(server.node, max_response=100).call("hello")
    error = info.value
    assert "(raise it with max_response=)" in str(error) and "--" not in str(error)
    assert describe(error) == (
        f"response from {server.node} is 1000 bytes, over the limit of 100 bytes "
        "(raise it with --max-response)"
    )
