"""Lua function files: the SAME file under real uWSGI (``--plugins rpc,lua51 --lua-load``) and
under the bundled server, the same request bytes to both, byte-identical answers.

tests/interop/lua_cases.lua holds one function per case (every Lua type returned, errors,
binary, argument counts, the ``uwsgi`` table); docs/protocol.md#lua-functions lists the facts.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from protocol import Client
from protocol.errors import NoResult
from protocol.server import BackgroundServer, serve_in_thread
from protocol.server.functions import FunctionTable
from protocol.wire import encode_array
from tests.peers import (
    IN_CI,
    LUA_FUNCTIONS,
    ROOT,
    Uwsgi,
    free_port,
    short_tmpdir,
    start_uwsgi,
    wait_until,
)

pytestmark = pytest.mark.interop

CASES_FILE = Path(__file__).with_name("lua_cases.lua")


@pytest.fixture(autouse=True)
def _lupa() -> None:
    """lupa (the extra rpccli[lua]) is needed: a failure in CI, a skip elsewhere."""
    if importlib.util.find_spec("lupa") is None:
        message = "lupa is not installed (pip install -e '.[test,lua]')"
        pytest.fail(message) if IN_CI else pytest.skip(message)


BINARY = bytes(range(256))


class Both:
    def __init__(self, real: Uwsgi, bundled: BackgroundServer, log: list[str]) -> None:
        self.real, self.bundled, self.log = real, bundled, log


@pytest.fixture(scope="module")
def both() -> Iterator[Both]:
    # one worker: a Lua global (`count`) lives in one Lua state, as in rpccli's one process
    real = start_uwsgi(python=(), lua=(CASES_FILE,), processes=1)
    log: list[str] = []
    try:
        table = FunctionTable(log=log.append)
        table.load_file(CASES_FILE)
        bundled = serve_in_thread(table, ("127.0.0.1:0",))
    except BaseException:  # the real server is stopped even when the file cannot load here
        real.stop()
        raise
    yield Both(real, bundled, log)
    bundled.close()
    real.stop()


def exchange(node: str, request: bytes) -> tuple[bytes, str]:
    """Send one request, read to the end: (bytes, "close" | "reset")."""
    host, port = node.rsplit(":", 1)
    received = bytearray()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return bytes(received), "reset"
            if not data:
                return bytes(received), "close"
            received += data


def rpc(*items: bytes, modifier2: int = 0) -> bytes:
    body = encode_array(items)
    return struct.pack("<BHB", 173, len(body), modifier2) + body


NO_ARGS = [
    "str int float big negzero nan posnan inf neginf pi pow63 tenth retnil nothing yes no tbl fn",
    "empty two err errtable errnum errnil runtime yield binary echo argc rpcfield logone logtwo",
    "logret lockret cache version printed globals fmt concat strnum registered again extra",
    "notfn nilfn nameonly 123 1.5 nu regnum_placeholder nosuch",
]
CASES: list[tuple[str, bytes]] = [(name, rpc(name.encode())) for name in " ".join(NO_ARGS).split()]
CASES += [
    ("y*255", rpc(b"y" * 255)),
    ("x*256", rpc(b"x" * 256)),
    ("nu-NUL-l", rpc(b"nu\0l")),
    ("echo-binary", rpc(b"echo", BINARY, b"\x00\xff", "é".encode())),
    ("echo-raw-mode", rpc(b"echo", b"a", b"b", modifier2=1)),
    ("argc-1", rpc(b"argc", b"x")),
    # 42 is the edge where a lua51 worker may crash, depending on its stack (tested on a fresh
    # worker below); the differential set stays clear of it
    ("argc-20", rpc(b"argc", *[b"x"] * 20)),
    ("types", rpc(b"types", b"1", b"2.5", b"")),
    ("len-binary", rpc(b"len", BINARY)),
    ("retarg-binary", rpc(b"retarg", BINARY)),
    ("int-raw-mode", rpc(b"int", modifier2=1)),
]


@pytest.mark.parametrize("request_bytes", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_same_answer_as_uwsgi_lua51(both: Both, request_bytes: bytes) -> None:
    real = exchange(both.real.node, request_bytes)
    ours = exchange(both.bundled.nodes[0], request_bytes)
    assert ours == real


def test_the_answers_are_what_the_facts_say(both: Both) -> None:
    """A few of the answers above, spelled out (docs/protocol.md#lua-functions)."""
    client = Client(both.bundled.nodes[0], timeout=10)
    numbers = [client.call(f) for f in ("int", "float", "big", "negzero", "nan", "inf", "pi")]
    assert numbers == [b"42", b"4.5", b"1e+20", b"-0", b"-nan", b"inf", b"3.1415926535898"]
    assert client.call("two") == b"first"
    assert client.call("binary") == BINARY
    assert client.call("argc") == b"0"
    assert client.call("rpcfield") == b"nil nil"  # no uwsgi.rpc/uwsgi.call in Lua
    assert client.call("registered") == b"true true true nil nil true true true true true"
    assert client.call("globals") == b"nil nil nil function function function nil nil nil"
    for name in ("retnil", "yes", "tbl", "empty", "err", "errtable", "logtwo", "notfn"):
        with pytest.raises(NoResult):
            client.call(name)


def test_state_persists_and_runtime_registration(both: Both) -> None:
    for node in (both.real.node, both.bundled.nodes[0]):
        client = Client(node, timeout=10)
        first = int(client.call("count"))
        assert client.call("count") == str(first + 1).encode()
        assert client.call("register_at_runtime") == b"true"
        assert client.call("late") == b"late"


def test_log_print_and_io_write_go_to_the_log(both: Both) -> None:
    for node in (both.real.node, both.bundled.nodes[0]):
        client = Client(node, timeout=10)
        assert client.call("logone") == b"logged"
        assert client.call("printed") == b"p"
    time.sleep(0.2)  # uWSGI writes its log from the worker
    real_log = both.real.log_text()
    for line in ("logged from lua", "printed\t1\tnil", "written"):
        assert line in real_log
        assert line in both.log
    assert "the supplied RPC name string is too long, max size is 255" in real_log
    assert any("too long" in line for line in both.log)


def test_argument_counts_a_fresh_uwsgi_worker_survives(tmp_path: Path) -> None:
    """0..42 arguments work on a fresh uWSGI lua51 worker; 43 kill it (the plugin pushes them
    without growing the Lua stack), where rpccli answers up to the protocol's 254."""
    argc = tmp_path / "argc.lua"
    argc.write_text('uwsgi.register_rpc("argc", function(...) return select("#", ...) end)\n')
    with ThreadPoolExecutor(2) as pool:  # a fresh worker for each count, started at once
        starts = [pool.submit(start_uwsgi, python=(), lua=(argc,), processes=1) for _ in "ab"]
        reals = [start.result() for start in starts if start.exception() is None]
    try:
        assert len(reals) == 2, [start.exception() for start in starts]
        for real, (count, expected) in zip(reals, ((42, b"42"), (43, None)), strict=True):
            answer, how = exchange(real.node, rpc(b"argc", *[b"x"] * count))
            assert (answer or None, how) == (expected and _packet(expected), "close")
            if expected is None:
                wait_until(lambda server=real: "DAMN" in server.log_text(), what="its death")
    finally:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Uwsgi.stop, reals))
    log: list[str] = []
    table = FunctionTable(log=log.append)
    table.load_file(argc)
    assert table.invoke(b"argc", [b"x"] * 254).result == b"254"
    assert any("more than 42 arguments" in line for line in log)


def _packet(body: bytes) -> bytes:
    return struct.pack("<BHB", 173, len(body), 0) + body


def test_a_nil_name_crashes_uwsgi_and_is_an_error_here(tmp_path: Path) -> None:
    bad = tmp_path / "nilname.lua"
    bad.write_text("uwsgi.register_rpc(nil, print)\n")
    workdir = short_tmpdir()
    node = f"127.0.0.1:{free_port()}"
    args = ["uwsgi", "--plugins", "rpc,lua51", "--socket", node, "--lua-load", str(bad)]
    proc = subprocess.run(args, cwd=workdir, capture_output=True, timeout=30, check=False)
    assert proc.returncode != 0 and b"Segmentation Fault" in proc.stdout + proc.stderr
    result = _rpccli("call", "--local", str(bad), "x")
    assert result.returncode == 2
    assert "the name is a nil" in result.stderr and "segmentation fault" in result.stderr


def test_a_load_error_stops_uwsgi_and_rpccli_alike(tmp_path: Path) -> None:
    # a relative name: Lua cuts a long chunk name in its messages (to "...tail"), alike on both
    (tmp_path / "raises.lua").write_text('uwsgi.register_rpc("ok", print)\nerror("not today")\n')
    node = f"127.0.0.1:{free_port()}"
    args = ["uwsgi", "--plugins", "rpc,lua51", "--socket", node, "--lua-load", "raises.lua"]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, timeout=30, check=False)
    out = (proc.stdout + proc.stderr).decode()
    assert "unable to load Lua file raises.lua: raises.lua:2: not today" in out
    assert proc.returncode != 0
    result = _rpccli("serve", "--no-demo", "raises.lua", "--bind", "127.0.0.1:0", cwd=tmp_path)
    assert result.returncode == 2
    message = "cannot load function file raises.lua: raises.lua:2: not today"
    assert result.stderr == f"rpccli: {message}\n"


def _rpccli(*args: str, env_code: str = "", cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    code = env_code + "import sys; from rpccli.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout, from any cwd
        check=False,
    )


def test_serve_and_local_run_the_hellolua_example() -> None:
    local = _rpccli("call", "--local", str(LUA_FUNCTIONS), "hellolua", "foo", "bar")
    assert (local.returncode, local.stdout) == (0, "args are foo bar")
    printed = _rpccli("call", "--local", str(CASES_FILE), "printed")
    assert printed.stdout == "p"  # print and io.write went to the log, on stderr
    assert "printed\t1\tnil\n" in printed.stderr and "written\n" in printed.stderr
    failed = _rpccli("call", "--local", str(LUA_FUNCTIONS), "luafail")
    assert failed.returncode == 1
    assert "Lua error: " in failed.stderr and "luafail was called" in failed.stderr
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rpccli",
            "serve",
            "--no-demo",
            str(LUA_FUNCTIONS),
            "-b",
            f":{port}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = Client(f"127.0.0.1:{port}", timeout=5)

        def up() -> bool:
            try:
                return client.ping() is not None
            except Exception:
                return False

        wait_until(up, what="rpccli serve")
        assert client.call("hellolua", "foo", "bar") == b"args are foo bar"
        assert client.call("answer") == b"42"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert out == ""
    assert f"{LUA_FUNCTIONS}: hellolua answer luafail" in err


#: run with lupa hidden from the import system, as on a machine without the extra
NO_LUPA = (
    "import sys, importlib.abc\n"
    "class NoLupa(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'lupa' or name.startswith('lupa.'):\n"
    "            raise ModuleNotFoundError(name)\n"
    "sys.meta_path.insert(0, NoLupa())\n"
)


@pytest.mark.parametrize("command", ["call", "serve"])
def test_without_lupa_one_line_and_exit_2(command: str) -> None:
    words = (
        ["call", "--local", str(LUA_FUNCTIONS), "hellolua"]
        if command == "call"
        else ["serve", "--no-demo", str(LUA_FUNCTIONS), "-b", "127.0.0.1:0"]
    )
    result = _rpccli(*words, env_code=NO_LUPA)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "pip install 'rpccli[lua]'" in result.stderr


def test_the_shell_demo_serves_hellolua() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rpccli", "shell", "--demo"],
        input=b"hellolua foo bar\nhello\n",
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"args are foo barHello, world"
    assert b"hellolua" in result.stderr


def test_without_lupa_the_shell_demo_is_python_only() -> None:
    code = NO_LUPA + "import sys; from rpccli.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "shell", "--demo", "--raw-output"],
        input=b"hello\nhellolua\n",
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.stdout == b"Hello, world\n\n"
    assert result.returncode == 1  # the last line failed: no hellolua without lupa
    assert b"unknown function 'hellolua'" in result.stderr


def test_tab_reads_lua_names_without_running_the_file() -> None:
    from rpccli.call.local import file_function_names

    assert file_function_names(str(LUA_FUNCTIONS)) == ["answer", "hellolua", "luafail"]
    names = file_function_names(str(CASES_FILE))
    assert "nameonly" in names and "late" in names
    assert not [name for name in names if "\\" in name]  # "nu\0l" is not read as a name
