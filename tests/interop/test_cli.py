"""rpccli call, ping and batch against REAL uWSGI (Python and Lua functions), and nginx.

Commands run in process (run_cli), or, where a process of its own matters (a pipeline, stdin a
regular file), as tests/forkcommand.py's warm `rpccli`: what is checked is what they do against
real peers, not how a cold process starts (tests/cli/test_pipelines.py keeps that).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from protocol.failures import NO_RESULT_CAUSES
from tests.cli.conftest import run_cli
from tests.forkcommand import rpccli_command
from tests.peers import Uwsgi, nginx

pytestmark = pytest.mark.interop

NO_RESULT = "is not registered there, raised, or returned nothing"


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Empty XDG dirs and no rpccli variables from the caller (tests/conftest.py)."""


def big_bytes(n: int) -> bytes:
    pattern = bytes(range(256))
    return (pattern * (n // 256 + 1))[:n]


def test_python_and_lua(uwsgi_tcp: Uwsgi) -> None:
    node = uwsgi_tcp.node
    assert run_cli("call", node, "hello", "a", "bb").out == b"Hello, a bb"
    assert run_cli("call", node, "hellolua", "foo", "bar").out == b"args are foo bar"
    assert run_cli("call", node, "answer").out == b"42"  # Lua numbers arrive as text


@pytest.mark.parametrize("function", ["fail", "empty", "text", "luafail", "nothere"])
def test_no_result(uwsgi_tcp: Uwsgi, function: str) -> None:
    result = run_cli("call", uwsgi_tcp.node, function)
    assert (result.code, result.out) == (1, b"")
    assert result.err == (
        f"rpccli: no result from {uwsgi_tcp.node}: {function} {NO_RESULT} ({NO_RESULT_CAUSES})\n"
    )


def test_large_form_byte_exact_and_verbose(uwsgi_tcp: Uwsgi) -> None:
    result = run_cli("call", "-v", uwsgi_tcp.node, "big", "100000")
    assert result.code == 0 and result.out == big_bytes(100000)
    assert "modifier2 5 (large form: vars block CONTENT_LENGTH=100000" in result.err
    assert (
        "< response: modifier1 173, size 8, modifier2 0"
        in run_cli("call", "-v", uwsgi_tcp.node, "hello", "x").err
    )


def test_raw_mode_and_other_modifier2(uwsgi_tcp: Uwsgi) -> None:
    assert run_cli("call", "--raw", uwsgi_tcp.node, "hellolua", "x").out == b"args are x"
    assert run_cli("call", "--modifier2", "4", uwsgi_tcp.node, "echo", "y").out == b"y"


def test_json(uwsgi_tcp: Uwsgi) -> None:
    rec = json.loads(run_cli("call", "--json", uwsgi_tcp.node, "hellolua", "x").out)
    assert (rec["ok"], rec["response"], rec["bytes"], rec["node"]) == (
        True,
        "args are x",
        10,
        uwsgi_tcp.node,
    )


def test_sha256_pipeline(uwsgi_tcp: Uwsgi, tmp_path: Path) -> None:
    command = f"{rpccli_command()} call {uwsgi_tcp.node} big 250000 | sha256sum"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True)
    assert result.returncode == 0
    assert result.stdout.split()[0].decode() == hashlib.sha256(big_bytes(250000)).hexdigest()


def test_unix_and_abstract_sockets(uwsgi_factory) -> None:  # type: ignore[no-untyped-def]
    for kind in ("unix", "abstract"):
        server = uwsgi_factory(socket_kind=kind, processes=1, lua=())
        assert run_cli("call", server.node, "hello").out == b"Hello, world"
        assert run_cli("ping", server.node).code == 0


def test_big_request_to_default_buffer_size(uwsgi_tcp: Uwsgi, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a" * 5000)
    result = run_cli("call", uwsgi_tcp.node, "echo", f"@{tmp_path}/a")
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[0].startswith("rpccli: warning: the request body is 5008 bytes")
    assert lines[1] in (  # one line, the real cause first (uWSGI resets; rarely a plain close)
        f"rpccli: {uwsgi_tcp.node} reset the connection (the 5008-byte request is over the "
        "server's --buffer-size, 4096 by default: start uWSGI with --buffer-size 65535)",
        f"rpccli: no result from {uwsgi_tcp.node} (the 5008-byte request is over the "
        "server's --buffer-size, 4096 by default: start uWSGI with --buffer-size 65535)",
    )
    assert len(lines) == 2


# type: ignore[no-untyped-def]
def test_big_request_with_buffer_size(uwsgi_factory, tmp_path: Path) -> None:
    server = uwsgi_factory(buffer_size=65535, processes=1, lua=())
    (tmp_path / "a").write_bytes(b"a" * 60000)
    result = run_cli("call", server.node, "echo", f"@{tmp_path}/a")
    assert result.code == 0 and result.out == b"a" * 60000


def test_timeout_with_sleep(uwsgi_tcp: Uwsgi) -> None:
    result = run_cli("call", "-t", "0.3", uwsgi_tcp.node, "sleep", "1")
    assert result.code == 4


def test_ping_and_warning(uwsgi_tcp: Uwsgi, uwsgi_factory) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("ping", "-c", "2", "-i", "0", uwsgi_tcp.node)
    assert result.code == 0 and "2 sent, 2 answered, 0 failed" in result.text
    warned = uwsgi_factory(warning="disk almost full", processes=1, lua=())
    result = run_cli("ping", warned.node)
    assert result.code == 1 and result.text.endswith("WARNING: disk almost full\n")
    rec = json.loads(run_cli("ping", "--json", warned.node).out)
    assert rec["warning"] == "disk almost full"


def test_batch_python_and_lua(uwsgi_tcp: Uwsgi) -> None:
    lines = b"".join(b"hello %d\nhellolua %d\n" % (i, i) for i in range(100)) + b"luafail\n"
    result = run_cli("batch", "-c", "16", "-q", "-o", "lines", uwsgi_tcp.node, input=lines)
    expected = b"".join(b"Hello, %d\nargs are %d\n" % (i, i) for i in range(100)) + b"\n"
    assert (result.code, result.out) == (6, expected)


def test_batch_lanes_against_real_uwsgi(uwsgi_tcp: Uwsgi, tmp_path: Path) -> None:
    # two forked lanes (rpccli.batch.lanes): the same bytes, in input order, as one process
    lines = b"".join(b"hello %d\nhellolua %d x\nnosuch\n" % (i, i) for i in range(700))
    calls = tmp_path / "calls.txt"
    calls.write_bytes(lines)
    outputs = []
    for lanes in ("1", "2"):
        command = [str(rpccli_command()), "batch", "-c", "16", "--lanes", lanes]
        with calls.open("rb") as stdin:
            proc = subprocess.run(
                [*command, "-o", "lines", uwsgi_tcp.node], stdin=stdin, capture_output=True
            )
        assert proc.returncode == 6
        assert proc.stderr.decode().splitlines()[-1].startswith("rpccli: 2100 calls, 700 failed")
        outputs.append(proc.stdout)
    expected = b"".join(b"Hello, %d\nargs are %d x\n\n" % (i, i) for i in range(700))
    assert outputs == [expected, expected]


# type: ignore[no-untyped-def]
def test_fan_out_to_two_real_servers(uwsgi_tcp: Uwsgi, uwsgi_factory) -> None:
    other = uwsgi_factory(socket_kind="unix", processes=1)
    result = run_cli("call", "-s", "all", "--json", f"{uwsgi_tcp.node},{other.node}", "hellolua")
    records = [json.loads(line) for line in result.out.splitlines()]
    assert result.code == 0
    assert [(r["node"], r["response"]) for r in records] == [
        (uwsgi_tcp.node, "args are "),
        (other.node, "args are "),
    ]


def test_local_matches_real_uwsgi(uwsgi_tcp: Uwsgi) -> None:
    from tests.peers import PY_FUNCTIONS

    for argv in (["hello", "a"], ["upper", "x", "y"], ["big", "70000"]):
        remote = run_cli("call", uwsgi_tcp.node, *argv)
        local = run_cli("call", "--local", str(PY_FUNCTIONS), *argv)
        assert (local.code, local.out) == (remote.code, remote.out)
    for function in ("fail", "text", "empty"):
        assert run_cli("call", "--local", str(PY_FUNCTIONS), function).code == 1


@pytest.mark.parametrize("args", [(), ("a",), ("a", "b"), ("a", "b", "c")])
def test_explain_nginx_block_works_in_real_nginx(uwsgi_tcp: Uwsgi, args: tuple[str, ...]) -> None:
    text = run_cli("call", "--explain", uwsgi_tcp.node, "page", *args).text
    block = re.search(r"^location = /page \{\n.*?^\}$", text, re.S | re.M)
    assert block is not None
    with (
        nginx(block.group(0)) as server,
        urllib.request.urlopen(f"{server.base_url}/page", timeout=10) as response,
    ):
        body = response.read()
    assert body == b"args: " + b"|".join(a.encode() for a in args)


@pytest.mark.parametrize(
    "args",
    [
        ("$v",),  # a value: needs the geo helper
        ("$v", 'a"b'),  # '$v' in key position is literal there
        ("x", "a$b\\c $", "${y}", "tab\there"),
        ("q'uote", "{brace;}", "new\nline"),
        ("héllo €", "ü"),  # UTF-8 text is written as is
    ],
)
def test_explain_nginx_block_keeps_dollars_quotes_and_backslashes(
    uwsgi_tcp: Uwsgi, args: tuple[str, ...]
) -> None:
    # nginx has no escape for '$' in a value; what --explain prints must load in real
    # nginx AND deliver the same bytes
    text = run_cli("call", "--explain", uwsgi_tcp.node, "page", *args).text
    block = re.search(r"^location = /page \{\n.*?^\}$", text, re.S | re.M)
    assert block is not None
    http = "\n".join(line for line in text.splitlines() if line.startswith("geo "))
    assert bool(http) == any("$" in value for value in _values("page", args))
    with (
        nginx(block.group(0), http=http) as server,
        urllib.request.urlopen(f"{server.base_url}/page", timeout=10) as response,
    ):
        body = response.read()
    assert body == b"args: " + b"|".join(a.encode() for a in args)


def _values(function: str, args: tuple[str, ...]) -> list[str]:
    items = [function, *args]
    if len(items) % 2:
        items = ["", function] if len(items) == 1 else [function, "", *items[1:]]
    return items[1::2]
