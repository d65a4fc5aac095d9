"""FunctionTable and the `uwsgi` shim: the Python 3 semantics of real uWSGI 2.0.21.

Every expectation here was observed in a live uWSGI (a probe function calling the real module);
the conformance suite in tests/interop checks the wire side.
"""

from __future__ import annotations

import contextvars
import importlib.util
import sys
from pathlib import Path

import pytest

from protocol.server.functions import FunctionFileError, FunctionTable, Outcome, active
from protocol.server.shim import _fallback, install_shim
from tests.conftest import DEMO_FUNCTIONS, EXAMPLE_FUNCTIONS


def write(tmp_path: Path, text: str, name: str = "funcs.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


EXAMPLE_NAMES = FunctionTable().load_file(EXAMPLE_FUNCTIONS)


@pytest.fixture
def table() -> FunctionTable:
    table = FunctionTable()
    table.load_file(EXAMPLE_FUNCTIONS)
    return table


def test_load_returns_registered_names_in_order() -> None:
    table = FunctionTable()
    names = table.load_file(EXAMPLE_FUNCTIONS)
    assert names == [
        "hello", "echo", "argc", "upper", "sleep", "big", "fail", "empty", "text", "rpc_list",
        "page",
    ]  # fmt: skip
    assert table.names() == names
    assert table.files == [EXAMPLE_FUNCTIONS]


def test_rpc_list_is_a_tuple_of_bytes_like_uwsgi(table: FunctionTable) -> None:
    listing = table.rpc_list()
    assert isinstance(listing, tuple)
    assert listing[:3] == (b"hello", b"echo", b"argc")
    assert table.invoke(b"rpc_list", []).result == b"\n".join(listing)


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        (b"hello", [], Outcome(b"Hello, world")),
        (b"hello", [b"a", b"b"], Outcome(b"Hello, a b")),
        (b"upper", [b"abc"], Outcome(b"ABC")),
        (b"argc", [b"x"] * 3, Outcome(b"3")),
        (b"nope", [], Outcome(None, "unknown function 'nope'")),
        (b"text", [], Outcome(None, "returned str, not bytes")),
        (b"empty", [], Outcome(None, "returned empty bytes (an empty result is never delivered)")),
        (b"echo", [], Outcome(None, "returned empty bytes (an empty result is never delivered)")),
    ],
)
def test_invoke(table: FunctionTable, name: bytes, args: list[bytes], expected: Outcome) -> None:
    assert table.invoke(name, args) == expected


def test_invoke_raising_function_gives_reason_and_traceback(table: FunctionTable) -> None:
    outcome = table.invoke(b"fail", [])
    assert outcome.result is None
    assert outcome.reason == "raised RuntimeError: fail was called"
    assert outcome.traceback is not None
    assert outcome.traceback.startswith("Traceback")
    assert "functions.py" in outcome.traceback and "invoke" not in outcome.traceback


def test_wrong_argument_count_is_a_raise(table: FunctionTable) -> None:
    outcome = table.invoke(b"sleep", [b"1", b"2"])
    assert outcome.reason is not None and outcome.reason.startswith("raised TypeError")


def test_name_is_a_c_string(table: FunctionTable) -> None:
    # uWSGI compares the name with strcmp: a NUL ends it (docs/protocol.md#limits)
    assert table.invoke(b"hello\0junk", [b"x"]).result == b"Hello, x"


def test_result_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import uwsgi\n"
        "class B(bytes): pass\n"
        "uwsgi.register_rpc('none', lambda: None)\n"
        "uwsgi.register_rpc('num', lambda: 42)\n"
        "uwsgi.register_rpc('barray', lambda: bytearray(b'x'))\n"
        "uwsgi.register_rpc('sub', lambda: B(b'sub'))\n"
        "uwsgi.register_rpc('notcallable', 5)\n"
        "def quit(): raise SystemExit(3)\n"
        "uwsgi.register_rpc('quit', quit)\n"
        "def empty_exc(): raise ValueError()\n"
        "uwsgi.register_rpc('empty_exc', empty_exc)\n",
    )
    table = FunctionTable()
    table.load_file(path)
    assert table.invoke(b"none", []).reason == "returned NoneType, not bytes"
    assert table.invoke(b"num", []).reason == "returned int, not bytes"
    assert table.invoke(b"barray", []).reason == "returned bytearray, not bytes"
    sub = table.invoke(b"sub", []).result
    assert sub == b"sub" and type(sub) is bytes
    assert (
        table.invoke(b"notcallable", []).reason == "raised TypeError: 'int' object is not callable"
    )
    assert table.invoke(b"quit", []).reason == "raised SystemExit: 3"
    assert table.invoke(b"empty_exc", []).reason == "raised ValueError"


def test_args_arrive_as_bytes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import uwsgi\n"
        "uwsgi.register_rpc('types', lambda *a: ','.join(type(x).__name__ for x in a).encode())\n",
    )
    table = FunctionTable()
    table.load_file(path)
    assert table.invoke(b"types", [b"a", b"\xff"]).result == b"bytes,bytes"


def test_register_rules_match_uwsgi(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import uwsgi\n"
        "results = []\n"
        "def t(f):\n"
        "    try: results.append(repr(f()))\n"
        "    except Exception as e: results.append(type(e).__name__ + ': ' + str(e))\n"
        "t(lambda: uwsgi.register_rpc('ok', lambda: b'1'))\n"
        "t(lambda: uwsgi.register_rpc('ok3', lambda: b'1', 3))\n"
        "t(lambda: uwsgi.register_rpc(b'bytesname', lambda: b'x'))\n"
        "t(lambda: uwsgi.register_rpc('x' * 256, lambda: b'x'))\n"
        "t(lambda: uwsgi.register_rpc('x' * 255, lambda: b'x'))\n"
        "uwsgi.register_rpc('report', lambda: '\\n'.join(results).encode())\n",
    )
    table = FunctionTable()
    table.load_file(path)
    report = table.invoke(b"report", []).result
    assert report is not None
    assert report.decode().splitlines() == [
        "True",
        "True",
        "TypeError: register_rpc() argument 1 must be str, not bytes",
        "ValueError: unable to register rpc function",
        "True",
    ]


def test_reregistering_replaces_in_place(tmp_path: Path) -> None:
    table = FunctionTable()
    table.load_file(EXAMPLE_FUNCTIONS)
    path = write(tmp_path, "import uwsgi\nuwsgi.register_rpc('echo', lambda *a: b'new echo')\n")
    assert table.load_file(path) == ["echo"]
    assert table.names()[:3] == ["hello", "echo", "argc"]
    assert table.invoke(b"echo", [b"a"]).result == b"new echo"
    assert table.source("echo") == str(path)


def test_rpc_max_slots(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import uwsgi\n"
        "for i in range(3):\n"
        "    uwsgi.register_rpc('f%d' % i, lambda: b'x')\n"
        "uwsgi.register_rpc('f0', lambda: b'replaced')\n"
        "try:\n"
        "    uwsgi.register_rpc('f3', lambda: b'x')\n"
        "except ValueError:\n"
        "    uwsgi.register_rpc('f2', lambda: b'full')\n",
    )
    logged: list[str] = []
    table = FunctionTable(rpc_max=3, log=logged.append)
    table.load_file(path)
    assert table.names() == ["f0", "f1", "f2"]
    assert table.invoke(b"f2", []).result == b"full"
    assert any("--rpc-max 3" in line for line in logged)


def test_call_and_local_rpc_follow_uwsgi_types(tmp_path: Path) -> None:
    # observed in uWSGI 2.0.21: bytes name and bytes args only; failures give None
    path = write(
        tmp_path,
        "import uwsgi\n"
        "def t(f):\n"
        "    try: return repr(f())\n"
        "    except Exception as e: return type(e).__name__ + ': ' + str(e)\n"
        "def probe():\n"
        "    return '\\n'.join([\n"
        "        t(lambda: uwsgi.call(b'hello', b'x')),\n"
        "        t(lambda: uwsgi.call('hello', b'x')),\n"
        "        t(lambda: uwsgi.call(b'hello', 'x')),\n"
        "        t(lambda: uwsgi.call(b'hello', bytearray(b'x'))),\n"
        "        t(lambda: uwsgi.call(b'nope')),\n"
        "        t(lambda: uwsgi.call(b'fail')),\n"
        "        t(lambda: uwsgi.call(b'text')),\n"
        "        t(lambda: uwsgi.rpc(None, b'hello', b'y')),\n"
        "        t(lambda: uwsgi.rpc('', b'hello', b'y')),\n"
        "        t(lambda: uwsgi.rpc(b'', b'hello')),\n"
        "        t(lambda: uwsgi.rpc(5, b'hello')),\n"
        "        t(lambda: uwsgi.rpc(None, 'hello')),\n"
        "        t(lambda: uwsgi.call()),\n"
        "    ]).encode()\n"
        "uwsgi.register_rpc('probe', probe)\n",
    )
    logged: list[str] = []
    table = FunctionTable(log=logged.append)
    table.load_file(EXAMPLE_FUNCTIONS)
    table.load_file(path)
    report = table.invoke(b"probe", []).result
    assert report is not None
    refused = "ValueError: unable to call rpc function"
    assert report.decode().splitlines() == [
        "b'Hello, x'",
        refused,
        refused,
        refused,
        "None",
        "None",
        "None",
        "b'Hello, y'",
        "b'Hello, y'",
        "b'Hello, world'",
        "b'Hello, world'",
        refused,
        refused,
    ]
    # like uWSGI, the traceback of a function called through uwsgi.call reaches the log
    assert any("fail was called" in line for line in logged)


def test_remote_rpc_through_the_shim(tmp_path: Path, bundled_node: str) -> None:
    path = write(
        tmp_path,
        "import uwsgi\n"
        "def relay(node, *args):\n"
        "    return uwsgi.rpc(node, b'hello', *args) or b'relay got None'\n"
        "uwsgi.register_rpc('relay', relay)\n",
    )
    table = FunctionTable(socket_timeout=5)
    table.load_file(path)
    assert table.invoke(b"relay", [bundled_node.encode(), b"r"]).result == b"Hello, r"
    # a node with no server, and a failing function, both give None (never an exception)
    assert table.invoke(b"relay", [b"127.0.0.1:1"]).result == b"relay got None"


def test_warning_and_module_attributes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import uwsgi\n"
        "assert uwsgi.set_warning_message('careful') is True\n"
        "try:\n"
        "    uwsgi.set_warning_message(b'bytes')\n"
        "except TypeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('bytes accepted')\n"
        "uwsgi.register_rpc('attrs', lambda: repr((uwsgi.buffer_size, uwsgi.opt.get('x'),"
        " uwsgi.numproc, uwsgi.worker_id(), type(uwsgi.version).__name__)).encode())\n",
    )
    table = FunctionTable(buffer_size=8192)
    table.opt["x"] = b"1"
    table.load_file(path)
    assert table.warning == "careful"
    # a bare table is uWSGI's master (worker_id 0) until a server makes it worker 1
    assert table.invoke(b"attrs", []).result == b"(8192, b'1', 1, 0, 'bytes')"


def test_unknown_shim_attribute_says_what_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, "import uwsgi\nuwsgi.mule_get_msg()\n")
    with pytest.raises(FunctionFileError, match="rpccli uwsgi shim has no attribute 'mule_get_m"):
        FunctionTable().load_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("def broken(:\n", r"SyntaxError: .* \(line 1\)"),
        ("import uwsgi\nx = 1\nraise KeyError('boom')\n", r"KeyError: 'boom' \(line 3\)"),
        ("import no_such_module_here\n", "ModuleNotFoundError"),
    ],
)
def test_bad_function_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FunctionFileError, match=message) as info:
        FunctionTable().load_file(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FunctionFileError, match=r"cannot read function file .*missing\.py"):
        FunctionTable().load_file(tmp_path / "missing.py")


def test_sibling_imports_work(tmp_path: Path) -> None:
    write(tmp_path, "GREETING = b'hi from a sibling'\n", "helper_rpccli_test.py")
    path = write(
        tmp_path,
        "import uwsgi\nimport helper_rpccli_test\n"
        "uwsgi.register_rpc('greet', lambda: helper_rpccli_test.GREETING)\n",
    )
    table = FunctionTable()
    table.load_file(path)
    assert table.invoke(b"greet", []).result == b"hi from a sibling"
    assert str(tmp_path) not in sys.path  # only while loading


def test_tables_stay_separate(tmp_path: Path) -> None:
    path = write(tmp_path, "import uwsgi\nuwsgi.register_rpc('mine', uwsgi.rpc_list)\n")
    first, second = FunctionTable(), FunctionTable()
    first.load_file(path)
    second.load_file(EXAMPLE_FUNCTIONS)
    second.load_file(path)
    # rpc_list inside a call sees the table that runs the call
    assert first.invoke(b"mine", []).reason == "returned tuple, not bytes"
    assert len(first) == 1 and len(second) == len(EXAMPLE_NAMES) + 1
    with active(first):
        assert sys.modules["uwsgi"].rpc_list() == (b"mine",)


def test_shim_lives_only_in_memory() -> None:
    shim = install_shim()
    assert getattr(shim, "RPCCLI_SHIM", False)
    assert getattr(shim, "__file__", None) is None
    # nothing named uwsgi is importable from disk, so real uWSGI's module is never shadowed
    saved = sys.modules.pop("uwsgi")
    try:
        assert importlib.util.find_spec("uwsgi") is None
    finally:
        sys.modules["uwsgi"] = saved


def test_with_no_table_active_a_name_the_shim_lacks_is_still_an_attribute_error() -> None:
    # getattr(module, "__file__", None) is what inspect and importers ask of every module: it
    # raised RuntimeError ("no table is active") when no table had loaded a file yet
    shim = install_shim()
    saved = _fallback[:]
    _fallback.clear()
    try:
        empty = contextvars.Context()  # no table active in it
        assert empty.run(getattr, shim, "__file__", None) is None
        with pytest.raises(RuntimeError, match="no rpccli function table is active"):
            empty.run(getattr, shim, "opt")
    finally:
        _fallback[:] = saved


def test_an_existing_uwsgi_module_is_kept() -> None:
    saved = sys.modules.get("uwsgi")
    sentinel = type(sys)("uwsgi")
    sys.modules["uwsgi"] = sentinel
    try:
        assert install_shim() is sentinel
    finally:
        if saved is not None:
            sys.modules["uwsgi"] = saved
        else:
            del sys.modules["uwsgi"]


def test_demo_functions_cover_each_behaviour() -> None:
    table = FunctionTable()
    table.load_file(DEMO_FUNCTIONS)
    assert set(table.names()) >= {
        "hello", "echo", "upper", "sleep", "big", "fail", "empty", "rpc_list", "text", "none",
        "binary", "json", "http", "argc",
    }  # fmt: skip
    assert table.invoke(b"big", [b"70000"]).result == (bytes(range(256)) * 274)[:70000]
    assert table.invoke(b"json", [b"a"]).result == b'{"args": ["a"], "count": 1}'
    http = table.invoke(b"http", []).result
    assert http is not None and http.startswith(b"HTTP/1.0 200 OK\r\n")
    assert table.invoke(b"none", []).reason == "returned NoneType, not bytes"
    listing = table.invoke(b"rpc_list", []).result
    assert listing is not None and listing.split(b"\n") == list(table.rpc_list())
