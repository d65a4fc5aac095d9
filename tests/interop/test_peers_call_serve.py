"""Real peers call the bundled server: uWSGI's own RPC client, and nginx.

- ``uwsgi --plugins rpc --hook-asap 'rpc:FUNC@NODE args'`` (uWSGI's C client, modifier2 0) over
  TCP, a unix socket and an abstract socket; it prints ``[rpc result from "FUNC@NODE"] RESULT``.
- ``uwsgi.rpc(NODE, ...)`` from a Python function inside a running real uWSGI, including a result
  over 65535 bytes (uWSGI's client reading our modifier2-5 large form).
- nginx with ``uwsgi_modifier1 173; uwsgi_modifier2 1;`` and ``uwsgi_param`` lines
(docs/protocol.md#other-clients),
  answered the same by real uWSGI and by the bundled server, including the empty-item padding.
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from protocol import Client
from protocol.server import BackgroundServer, serve_in_thread
from protocol.server.functions import FunctionTable
from tests.peers import PY_FUNCTIONS, Uwsgi, nginx, require, short_tmpdir, start_uwsgi

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def bundled() -> Iterator[BackgroundServer]:
    """The bundled server with examples/functions.py on TCP, a unix path and an abstract name."""
    table = FunctionTable()
    table.load_file(PY_FUNCTIONS)
    binds = ("127.0.0.1:0", str(short_tmpdir() / "serve.sock"), f"@rpccli-peers-{os.getpid()}")
    with serve_in_thread(table, binds) as server:
        yield server


def hook(spec: str) -> subprocess.CompletedProcess[str]:
    """Run uWSGI only for one RPC hook, then exit."""
    binary = require("uwsgi")
    return subprocess.run(
        [binary, "--plugins", "rpc", "--hook-asap", spec, "--hook-asap", "exit:"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("which", ["tcp", "unix", "abstract"])
def test_uwsgi_hook_calls_the_bundled_server(bundled: BackgroundServer, which: str) -> None:
    node = bundled.nodes[["tcp", "unix", "abstract"].index(which)]
    result = hook(f"rpc:hello@{node} a b")
    assert result.returncode == 0, result.stderr
    assert f'[rpc result from "hello@{node}"] Hello, a b' in result.stderr.splitlines()


def test_uwsgi_hook_passes_every_argument(bundled: BackgroundServer) -> None:
    result = hook(f"rpc:argc@{bundled.node} " + " ".join(["x"] * 40))
    assert f'[rpc result from "argc@{bundled.node}"] 40' in result.stderr


def test_uwsgi_hook_sees_a_failure_as_failure(bundled: BackgroundServer) -> None:
    # the 0-byte close makes uWSGI's client fail the hook, exactly as against real uWSGI
    result = hook(f"rpc:fail@{bundled.node}")
    assert result.returncode == 1
    assert "rpc result" not in result.stderr
    assert "hook failed" in result.stderr


RELAY = """\
import uwsgi

def relay(node, func, *args):
    result = uwsgi.rpc(node, func, *args)
    return b"None" if result is None else result

def relay_len(node, func, *args):
    result = uwsgi.rpc(node, func, *args)
    return b"None" if result is None else str(len(result)).encode()

uwsgi.register_rpc("relay", relay)
uwsgi.register_rpc("relay_len", relay_len)
"""


@pytest.fixture(scope="module")
def relay_uwsgi() -> Iterator[Uwsgi]:
    """A real uWSGI whose Python functions call other nodes with uwsgi.rpc()."""
    workdir = short_tmpdir()
    relay = workdir / "relay.py"
    relay.write_text(RELAY)
    server = start_uwsgi(python=[relay], lua=(), workdir=workdir)
    yield server
    server.stop()


def test_uwsgi_rpc_from_inside_real_uwsgi(relay_uwsgi: Uwsgi, bundled: BackgroundServer) -> None:
    client = relay_uwsgi.client(timeout=10)
    for node in bundled.nodes:
        assert client.call("relay", node, "hello", "from", "uwsgi") == b"Hello, from uwsgi"
    # bytes.upper() changes ASCII only: the UTF-8 bytes of the accents travel untouched
    assert client.call("relay", bundled.node, "upper", "\u00e9t\u00e9") == "\u00e9T\u00e9".encode()
    assert client.call("relay", bundled.node, "fail") == b"None"
    assert client.call("relay", bundled.node, "text") == b"None"


@pytest.mark.parametrize("size", [65535, 65536, 300000])
def test_uwsgi_client_reads_our_large_form(
    relay_uwsgi: Uwsgi, bundled: BackgroundServer, size: int
) -> None:
    answer = relay_uwsgi.client(timeout=10).call("relay_len", bundled.node, "big", str(size))
    assert answer == str(size).encode()


def _location(name: str, node: str, params: list[tuple[str, str]], headers: bool = False) -> str:
    lines = "".join(f"    uwsgi_param {key} {value};\n" for key, value in params)
    # nginx also passes the HTTP headers as key/value items unless told not to: more "args"
    passing = "" if headers else "    uwsgi_pass_request_headers off;\n"
    return (
        f"  location = /{name} {{\n    uwsgi_pass {node};\n"
        f"    uwsgi_modifier1 173;\n    uwsgi_modifier2 1;\n{passing}{lines}  }}\n"
    )


NGINX_CASES = {
    "plain": ([("page", "x")], False),
    "padded": ([("page", '""'), ("foo", "bar")], False),  # the empty middle item is skipped
    "trailing-empty": ([("page", "foo"), ("bar", '""')], False),  # rejected: 502
    "with-headers": ([("page", '""'), ("foo", "bar")], True),
    "raises": ([("fail", "x")], False),
    "not-http": ([("hello", "x")], False),  # raw bytes that are not an HTTP response
}


@pytest.fixture(scope="module")
def nginx_both(bundled: BackgroundServer) -> Iterator[tuple[str, Uwsgi]]:
    real = start_uwsgi(python=[PY_FUNCTIONS], lua=())
    try:
        locations = ""
        for name, (params, headers) in NGINX_CASES.items():
            locations += _location("ours/" + name, bundled.node, params, headers)
            locations += _location("real/" + name, real.node, params, headers)
        locations += _location("unix/padded", "unix:" + bundled.nodes[1], NGINX_CASES["padded"][0])
        with nginx(locations) as server:
            yield server.base_url, real
    finally:
        real.stop()


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


@pytest.mark.parametrize("case", list(NGINX_CASES))
def test_nginx_gets_the_same_answer(nginx_both: tuple[str, Uwsgi], case: str) -> None:
    base, _ = nginx_both
    ours, real = fetch(f"{base}/ours/{case}"), fetch(f"{base}/real/{case}")
    assert ours == real


def test_nginx_answers_are_what_the_facts_say(nginx_both: tuple[str, Uwsgi]) -> None:
    base, _ = nginx_both
    assert fetch(f"{base}/ours/plain") == (200, b"args: x", "text/plain")
    assert fetch(f"{base}/ours/padded") == (200, b"args: foo|bar", "text/plain")
    assert fetch(f"{base}/unix/padded") == (200, b"args: foo|bar", "text/plain")
    assert fetch(f"{base}/ours/trailing-empty")[0] == 502
    assert fetch(f"{base}/ours/raises")[0] == 502
    status, body, _ = fetch(f"{base}/ours/with-headers")
    assert status == 200 and body.startswith(b"args: foo|bar|HTTP_")


def test_the_bundled_server_is_still_fine(bundled: BackgroundServer) -> None:
    assert Client(bundled.node).call("hello") == b"Hello, world"
