"""The library against REAL uWSGI 2.0.x (Python and Lua functions), through both clients.

Servers are shared to keep starts few: the session's ``uwsgi_tcp`` (default --buffer-size 4096,
no warning), one on a unix socket with ``--buffer-size 65535``, and one on an abstract socket with
a ping warning set. Every server has the same functions (examples/functions.py and .lua).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from protocol.errors import NoResult, RequestError
from tests.peers import Uwsgi, uwsgi
from tests.protocol.apis import Async, Blocking

pytestmark = pytest.mark.interop

WARNING = "disk almost full"


@pytest.fixture(scope="module")
def uwsgi_unix_big_buffer() -> Iterator[Uwsgi]:
    with uwsgi(socket_kind="unix", buffer_size=65535) as server:
        yield server


@pytest.fixture(scope="module")
def uwsgi_abstract_warning() -> Iterator[Uwsgi]:
    with uwsgi(socket_kind="abstract", warning=WARNING) as server:
        yield server


@pytest.fixture(params=["tcp", "unix", "abstract"])
def node(
    request: pytest.FixtureRequest,
    uwsgi_tcp: Uwsgi,
) -> str:
    if request.param == "tcp":
        return uwsgi_tcp.node
    fixture = "uwsgi_unix_big_buffer" if request.param == "unix" else "uwsgi_abstract_warning"
    server: Uwsgi = request.getfixturevalue(fixture)
    return server.node


@pytest.fixture(params=[Blocking(), Async()], ids=lambda api: api.name)
def api(request: pytest.FixtureRequest) -> Blocking:
    return request.param  # type: ignore[no-any-return]


MODES = pytest.mark.parametrize("mode", ["packet", "raw"])


@MODES
def test_hello(api: Blocking, node: str, mode: str) -> None:
    assert api.call(node, "hello", "a", "bb", mode=mode) == b"Hello, a bb"


@MODES
def test_the_seed_lua_example(api: Blocking, node: str, mode: str) -> None:
    assert api.call(node, "hellolua", "foo", "bar", mode=mode) == b"args are foo bar"


def test_zero_args_and_lua_numbers(api: Blocking, uwsgi_tcp: Uwsgi) -> None:
    assert api.call(uwsgi_tcp.node, "hello") == b"Hello, world"
    assert api.call(uwsgi_tcp.node, "argc") == b"0"
    # Lua numbers arrive as text (docs/protocol.md#failures)
    assert api.call(uwsgi_tcp.node, "answer") == b"42"


def test_254_args_arrive(api: Blocking, uwsgi_tcp: Uwsgi) -> None:
    args = [str(i) for i in range(254)]
    assert api.call(uwsgi_tcp.node, "argc", *args) == b"254"
    assert api.call(uwsgi_tcp.node, "echo", *args) == " ".join(args).encode()
    with pytest.raises(RequestError):
        api.call(uwsgi_tcp.node, "argc", *args, "one too many")


@MODES
def test_binary_args_and_results_are_byte_exact(api: Blocking, node: str, mode: str) -> None:
    args = [bytes(range(256)), b"\xff\xfe\x00", "é".encode("latin-1"), b"\x00"]
    assert api.call(node, "echo", *args, mode=mode) == b" ".join(args)
    every_byte = [bytes([i]) for i in range(256)][:254]
    assert api.call(node, "echo", *every_byte, mode=mode) == b" ".join(every_byte)
    assert api.call(node, "big", "300", mode=mode) == (bytes(range(256)) * 2)[:300]


@MODES
def test_a_100kb_result(api: Blocking, node: str, mode: str) -> None:
    result = api.call_full(node, "big", ["100000"], mode=mode)
    assert result.body == (bytes(range(256)) * 391)[:100000]
    if mode == "packet":
        header = result.response.header
        assert header is not None and header.modifier2 == 5 and result.response.large
        assert result.response.vars == ((b"CONTENT_LENGTH", b"100000"),)


def test_65535_uses_the_plain_form_and_65536_the_large_form(
    api: Blocking, uwsgi_tcp: Uwsgi
) -> None:
    at = api.call_full(uwsgi_tcp.node, "big", ["65535"])
    over = api.call_full(uwsgi_tcp.node, "big", ["65536"])
    assert (len(at.body), len(over.body)) == (65535, 65536)
    assert not at.response.large and at.response.header == (173, 65535, 0)
    assert over.response.large


def test_the_response_cap_holds_against_uwsgi(api: Blocking, uwsgi_tcp: Uwsgi) -> None:
    from protocol.errors import ResponseTooLarge

    for mode in ("packet", "raw"):
        with pytest.raises(ResponseTooLarge):
            api.call(uwsgi_tcp.node, "big", "100000", mode=mode, max_response=50000)


@pytest.mark.parametrize(
    "function", ["no_such_function", "fail", "luafail", "text", "empty", "hello\u00e9"]
)
@MODES
def test_every_failure_is_no_result(
    api: Blocking, uwsgi_tcp: Uwsgi, function: str, mode: str
) -> None:
    with pytest.raises(NoResult) as info:
        api.call(uwsgi_tcp.node, function, "x", mode=mode)
    message = str(info.value)
    assert uwsgi_tcp.node in message and function in message
    # a small request: --buffer-size is no suspect, the usual causes are
    assert "buffer-size" not in info.value.hint and "must return bytes" in info.value.hint


def test_a_big_body_against_the_default_buffer_names_buffer_size(
    api: Blocking, uwsgi_tcp: Uwsgi, uwsgi_unix_big_buffer: Uwsgi
) -> None:
    arg = b"z" * 5000
    with pytest.raises(NoResult) as info:
        api.call(uwsgi_tcp.node, "echo", arg)
    assert "--buffer-size" in str(info.value) and uwsgi_tcp.node in str(info.value)
    assert api.call(uwsgi_unix_big_buffer.node, "echo", arg) == arg
    near_limit = b"y" * 65000  # near the 65535-byte body limit (docs/protocol.md#limits)
    assert api.call(uwsgi_unix_big_buffer.node, "echo", near_limit) == near_limit


def test_ping(api: Blocking, uwsgi_tcp: Uwsgi, uwsgi_abstract_warning: Uwsgi) -> None:
    assert api.ping(uwsgi_tcp.node).warning is None
    assert api.ping(uwsgi_abstract_warning.node).warning == WARNING
