"""`rpccli call --explain` prints uWSGI's own forms of a call -- the `rpc` hook and the `rpc`
routing action, on the command line and in an ini file -- and each printed form, pasted into a
REAL uWSGI 2.0.21, makes exactly the call rpccli makes; where a form cannot carry the arguments,
it says so instead (rpccli/output/uwsgi_forms.py)."""

from __future__ import annotations

import http.client
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli
from tests.peers import (
    Uwsgi,
    free_port,
    require,
    short_tmpdir,
    start_uwsgi,
    stop_uwsgi,
    wait_until,
)

pytestmark = pytest.mark.interop

PARTS = 'import uwsgi\nuwsgi.register_rpc("parts", lambda *args: repr(list(args)).encode())\n'

#: argument lists, as typed after `rpccli call NODE parts` (@@ sends a literal @)
HOOK_CASES = [
    ["a", "b"],
    [],
    ["two words", "it's", 'say "hi"', "back\\slash"],
    ["$(HOME)", "@@(x)", "%d", "%%", "${x}", "$1"],
    ["é", "日本", "a;b", "#c", "=d", "'"],
]
ROUTE_CASES = [["a", "b"], [], ["it's", 'q"q', "back\\slash", "%d", "é", "#c"]]


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Empty XDG dirs (tests/conftest.py)."""


@pytest.fixture(scope="module")
def node() -> Iterator[Uwsgi]:
    workdir = short_tmpdir()
    (workdir / "parts.py").write_text(PARTS)
    server = start_uwsgi(python=[workdir / "parts.py"], lua=(), processes=1, workdir=workdir)
    yield server
    server.stop()


def _forms(node: str, args: list[str]) -> dict[str, str]:
    result = run_cli("call", "--explain", node, "parts", *args)
    assert result.code == 0, result.err
    found = {}
    for line in result.text.splitlines():
        for key in ("--hook-asap", "hook-asap =", "--route-run", "route-run ="):
            if line.startswith(key + " "):
                found[key] = line[len(key) + 1 :]
    return found


def _hook_result(argv: list[str], workdir: Path) -> bytes:
    """Run uWSGI with the hook and an exit hook after it; the result it logs."""
    binary = require("uwsgi")
    done = subprocess.run(
        [binary, *argv, "--hook-asap", "exit:"],
        capture_output=True,
        timeout=15,
        cwd=workdir,
    )
    found = re.search(rb'\[rpc result from "[^"]*"\] (.*)\n', done.stdout + done.stderr)
    assert found, (done.stdout + done.stderr).decode(errors="replace")
    return found.group(1)


@pytest.mark.parametrize("args", HOOK_CASES, ids=lambda a: " ".join(a) or "no-args")
def test_the_printed_hook_makes_the_same_call(node: Uwsgi, args: list[str]) -> None:
    expected = run_cli("call", node.node, "parts", *args).out
    forms = _forms(node.node, args)
    workdir = short_tmpdir()
    # the command-line form, split as a POSIX shell splits the pasted line
    assert _hook_result(["--hook-asap", *shlex.split(forms["--hook-asap"])], workdir) == expected
    ini = workdir / "pasted.ini"
    ini.write_text(f"[uwsgi]\nhook-asap = {forms['hook-asap =']}\n")
    assert _hook_result(["--ini", str(ini)], workdir) == expected


def _route_body(value: str, *, ini: bool) -> bytes:
    binary = require("uwsgi")
    workdir = short_tmpdir()
    port = free_port()
    args = [binary, "--plugins", "rpc", "--http-socket", f"127.0.0.1:{port}"]
    if ini:
        (workdir / "pasted.ini").write_text(f"[uwsgi]\nroute-run = {value}\n")
        args += ["--ini", str(workdir / "pasted.ini")]
    else:
        args += ["--route-run", value]
    with (workdir / "uwsgi.log").open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:

        def get() -> bytes | None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                return conn.getresponse().read()
            except OSError:
                return None

        wait_until(lambda: get() is not None, what="uwsgi --http-socket")
        return get() or b""
    finally:
        stop_uwsgi(proc)


@pytest.mark.parametrize("args", ROUTE_CASES, ids=lambda a: " ".join(a) or "no-args")
def test_the_printed_route_makes_the_same_call(node: Uwsgi, args: list[str]) -> None:
    expected = run_cli("call", node.node, "parts", *args).out
    forms = _forms(node.node, args)
    (value,) = shlex.split(forms["--route-run"])
    assert _route_body(value, ini=False) == expected
    assert _route_body(forms["route-run ="], ini=True) == expected


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["two words"], "holds a space"),
        (["$x"], "holds '$'"),
        (["@@(x)"], "holds '@('"),
    ],
)
def test_no_route_form_where_routing_cannot_carry_the_arguments(
    node: Uwsgi, args: list[str], why: str
) -> None:
    result = run_cli("call", "--explain", node.node, "parts", *args)
    assert "--hook-asap" in result.text and "--route-run" not in result.text
    assert f"# no internal-routing form: argument 1 {why}" in result.text


@pytest.mark.parametrize(
    ("words", "why"),
    [
        (["localhost:3031", "hello"], "IPv4 literals only"),
        (["[::1]:3031", "hello"], "IPv4 literals only"),
        (["127.0.0.1:3031", "a@b"], "first '@'"),
        (["127.0.0.1:3031", "hello", "$'\\x01'"], "control character"),
    ],
)
def test_no_uwsgi_form_where_uwsgi_cannot_carry_the_call(words: list[str], why: str) -> None:
    if words[-1].startswith("$'"):
        words = [*words[:-1], "@-"]
        result = run_cli("call", "--explain", *words, input=b"\x01")
    else:
        result = run_cli("call", "--explain", *words)
    assert result.code == 0, result.err
    assert "# no uWSGI form: " in result.text and why in result.text
    assert "--hook-asap" not in result.text and "--route-run" not in result.text
