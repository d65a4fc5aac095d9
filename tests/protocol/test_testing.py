"""protocol.testing and its pytest plugin (issue 17, item 3): the bundled server as a test
double, with a call log, functions changed on the fly, and no uwsgi module left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from protocol import CallTimeout, Client, NoResult
from protocol.testing import Call, RPCServer
from tests.conftest import EXAMPLE_FUNCTIONS
from tests.peers import ROOT


def test_serves_files_and_inline_functions_and_logs_every_call() -> None:
    with RPCServer(EXAMPLE_FUNCTIONS, functions={"twice": lambda a: a * 2}) as server:
        client = server.client(timeout=2)
        assert client.call("hello", "you") == b"Hello, you"
        assert client.call("twice", b"ab") == b"abab"
        with pytest.raises(NoResult):
            client.call("text")
        with pytest.raises(NoResult):
            client.call("nothing-here", "x")
        assert server.calls == [
            Call("hello", (b"you",), b"Hello, you"),
            Call("twice", (b"ab",), b"abab"),
            Call("text", (), None, "returned str, not bytes"),
            Call("nothing-here", (b"x",), None, "unknown function 'nothing-here'"),
        ]
        assert server.calls_to("twice") == [Call("twice", (b"ab",), b"abab")]


def test_functions_change_on_the_fly_and_reset_undoes_it() -> None:
    with RPCServer(EXAMPLE_FUNCTIONS) as server:
        client = server.client(timeout=2)
        server.on("hello").returns(b"canned")
        assert client.call("hello") == b"canned"
        server.on("hello").returns_nothing()
        with pytest.raises(NoResult):
            client.call("hello")
        server.on("hello").raises(ValueError("boom"))
        with pytest.raises(NoResult):
            client.call("hello")
        assert "ValueError: boom" in server.log[-1]
        server.on("hello").calls(lambda *args: b"+".join(args))
        assert client.call("hello", "a", "b") == b"a+b"
        server.on("added").returns("a str reaches nobody")
        with pytest.raises(NoResult):
            client.call("added")
        server.on("hello").sleeps(1).returns(b"late")
        with pytest.raises(CallTimeout):
            Client(server.node, timeout=0.1).call("hello")
        server.reset()
        assert server.calls == [] and server.log == []
        assert client.call("hello") == b"Hello, world"
        with pytest.raises(NoResult):
            client.call("added")
        assert server.calls[-1].reason == "unknown function 'added'"


def test_the_assertions_say_what_was_called() -> None:
    with RPCServer(functions={"echo": lambda *a: b" ".join(a) or b"-"}) as server:
        client = server.client()
        client.call("echo", "a")
        client.call("echo", b"b", "c")
        server.assert_called("echo")
        server.assert_not_called("hello")
        server.assert_called_with("echo", "b", b"c")
        server.assert_any_call("echo", "a")
        with pytest.raises(AssertionError, match=r"called 2 times, not once"):
            server.assert_called_once_with("echo", "a")
        with pytest.raises(AssertionError, match=r"the last call was Call\('echo', b'b', b'c'\)"):
            server.assert_called_with("echo", "a")
        with pytest.raises(AssertionError, match="hello was not called"):
            server.assert_called("hello")
        with pytest.raises(AssertionError, match="echo was called 2 times"):
            server.assert_not_called("echo")
        with pytest.raises(AssertionError, match="no call"):
            server.assert_any_call("echo", "z")


def test_the_uwsgi_module_is_gone_once_the_last_server_stops() -> None:
    # a subprocess: the test run's own process may hold a uwsgi shim from other tests
    code = """
import importlib, sys
from protocol.testing import RPCServer
EXAMPLE_FUNCTIONS = sys.argv[1]

def importable():
    try:
        importlib.import_module("uwsgi")
    except ImportError:
        return False
    return True

assert not importable()
with RPCServer(EXAMPLE_FUNCTIONS) as first:
    second = RPCServer().start()
    import uwsgi
    assert uwsgi.rpc(second.node.encode(), b"missing") is None
    assert uwsgi.rpc(first.node.encode(), b"hello") == b"Hello, world"
    first.stop()
    assert importable() and uwsgi.rpc(second.node.encode(), b"missing") is None
    second.stop()
assert not importable() and "uwsgidecorators" not in sys.modules
print("ok")
"""
    # the path as an argument: tests.conftest imports pytest and hypothesis (0.4 CPU-s)
    result = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLE_FUNCTIONS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == "ok\n", result.stderr


#: the other plugins installed with the test tools (the suite's own, not the example's), whose
#: start-up was a third of each run's CPU, and the cache (no .pytest_cache in examples/);
#: ``protocol``, the plugin tested, still loads itself through its entry point, as in a user's
#: project
OTHER_PLUGINS = ("xdist", "xdist.looponfail", "timeout", "hypothesispytest", "cacheprovider")


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    disabled = [f"-pno:{name}" for name in OTHER_PLUGINS]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *disabled, *args, str(directory)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_plugin_runs_the_documented_example() -> None:
    result = run_pytest(ROOT / "examples" / "testing")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_the_plugin_serves_the_ini_files_and_makes_more_servers(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nrpc_function_files = {EXAMPLE_FUNCTIONS}\n")
    (tmp_path / "test_it.py").write_text(
        "from protocol import Client, GroupClient\n"
        "def test_it(rpc_server, make_rpc_server):\n"
        "    assert Client(rpc_server.node).call('hello') == b'Hello, world'\n"
        "    other = make_rpc_server(functions={'hello': lambda: b'other'})\n"
        "    group = GroupClient([rpc_server.node, other.node], strategy='round-robin')\n"
        "    assert {group.call('hello'), group.call('hello')} == {b'Hello, world', b'other'}\n"
        "    rpc_server.assert_called('hello')\n"
    )
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_testing_page_shows_the_example_files_as_they_are() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    for name in ("greeter.py", "test_greeter.py"):
        text = (ROOT / "examples" / "testing" / name).read_text()
        assert f"```python\n{text}```" in page, f"docs/testing.md does not show {name} as it is"
