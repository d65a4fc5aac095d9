"""The server's byte rules as plain bytes (no sockets): parse, plan, answer.

Golden values come from a live uWSGI 2.0.21 (tests/interop/test_conformance.py sends the same
requests to both servers); here they are pinned down so a regression shows without uWSGI.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.reader import ResponseReader
from protocol.server.functions import Outcome
from protocol.server.requests import (
    Plan,
    answer,
    parse_rpc_array,
    parse_uwsgi_vars,
    ping_reply,
    plan,
)
from protocol.wire import decode_array, encode_array, encode_vars


def items(*values: bytes) -> bytes:
    return b"".join(struct.pack("<H", len(v)) + v for v in values)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (items(b"hello", b"a", b"bb"), [b"hello", b"a", b"bb"]),
        (items(b"echo", b"a", b"", b"b"), [b"echo", b"a", b"b"]),  # middle empty: skipped
        (items(b"", b"echo"), [b"echo"]),
        (items(b"echo", b"a", b""), None),  # trailing empty: rejected
        (items(b"echo") + b"\x01", None),  # a stray byte
        (items(b"echo") + b"\x05\x00ab", None),  # an item past the end
        (b"\x00\x00", None),
        (items(b"argc", *[b"x"] * 300), [b"argc", *[b"x"] * 254]),
        # after 255 items the rest is never parsed, so garbage there does not matter
        (items(b"argc", *[b"x"] * 254) + b"\xff\xffjunk", [b"argc", *[b"x"] * 254]),
    ],
)
def test_parse_rpc_array(body: bytes, expected: list[bytes] | None) -> None:
    assert parse_rpc_array(body) == expected


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=255))
def test_parse_rpc_array_round_trip(values: list[bytes]) -> None:
    assert parse_rpc_array(encode_array(values)) == values


@given(st.binary(max_size=300))
def test_parse_rpc_array_never_crashes_and_agrees_with_wire(body: bytes) -> None:
    result = parse_rpc_array(body)
    if result is not None and len(result) < 255:
        # whatever uWSGI accepts is a valid array once the empty items are dropped
        assert [v for v in decode_array(body) if v] == result


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (encode_vars({b"PATH_INFO": b"/a"}), [(b"PATH_INFO", b"/a")]),
        (encode_vars({b"A": b""}), [(b"A", b"")]),  # an empty value even at the very end
        (b"\x00\x00\x01\x00a", None),  # empty key
        (b"\x01\x00A", None),  # key with nothing after it
        (b"\x01\x00A\x05\x00ab", None),  # value past the end
        (encode_vars([(b"K%d" % i, b"v") for i in range(128)]), "128 pairs"),
        (encode_vars([(b"K%d" % i, b"v") for i in range(129)]), None),
    ],
)
def test_parse_uwsgi_vars(body: bytes, expected: object) -> None:
    result = parse_uwsgi_vars(body)
    if expected == "128 pairs":
        assert result is not None and len(result) == 128
    else:
        assert result == expected


def test_ping_reply_truncates_to_80_bytes() -> None:
    assert ping_reply(100, None) == b"d\x00\x00\x01"
    assert ping_reply(100, "") == b"d\x00\x00\x01"
    assert ping_reply(100, "hello") == b"d\x05\x00\x01hello"
    long = ping_reply(100, "é" * 50)
    assert long[:4] == b"dP\x00\x01" and long[4:] == ("é" * 40).encode()


def run(step: Plan, result: bytes | None, reason: str | None = None) -> bytes:
    return answer(step, Outcome(result, reason))


def test_packet_mode_framing() -> None:
    step = plan(173, 0, items(b"hello"))
    assert (step.function, step.args) == (b"hello", ())
    assert run(step, b"Hello") == b"\xad\x05\x00\x00Hello"
    assert run(step, None, "unknown function") == b""
    assert run(step, b"x" * 65535)[:4] == b"\xad\xff\xff\x00"


def test_large_form_above_65535() -> None:
    data = run(plan(173, 0, items(b"big")), b"z" * 65536)
    block = encode_vars({b"CONTENT_LENGTH": b"65536"})
    assert data == b"\xad" + struct.pack("<H", len(block)) + b"\x05" + block + b"z" * 65536
    reader = ResponseReader()
    assert reader.feed(data)
    assert reader.response().large and reader.response().body == b"z" * 65536


@pytest.mark.parametrize("modifier2", [1, 4, 5, 6, 7, 200, 255])
def test_raw_modes(modifier2: int) -> None:
    step = plan(173, modifier2, items(b"big"))
    assert run(step, b"z" * 70000) == b"z" * 70000


def test_http_mode() -> None:
    body = encode_vars({b"PATH_INFO": b"/hello//a/b", b"SERVER_PROTOCOL": b"HTTP/1.1"})
    step = plan(173, 2, body)
    assert (step.function, step.args, step.kind) == (b"hello", (b"a", b"b"), "http")
    assert run(step, b"Hi") == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/binary\r\n\r\nHi"
    )
    assert run(step, None) == (
        b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nNot Found"
    )
    accept = plan(173, 2, encode_vars({b"PATH_INFO": b"x", b"HTTP_ACCEPT": b"text/csv"}))
    assert b"Content-Type: text/csv\r\n" in run(accept, b"1")
    assert run(accept, b"1").startswith(b"HTTP/1.0 200 OK\r\n")
    empty = plan(173, 2, encode_vars({b"PATH_INFO": b"/"}))
    assert empty.function is None and empty.immediate.startswith(b"HTTP/1.0 500 Internal")
    assert plan(173, 2, items(b"hello")).immediate == b""  # not vars: 0-byte close


def test_other_packets() -> None:
    assert plan(173, 0, b"").reason == "empty RPC request"
    assert plan(173, 3, items(b"hello")).immediate.startswith(b"HTTP/1.0 500 Internal")
    unserved = plan(250, 0, b"abc")
    assert unserved.immediate == b"" and unserved.kind == "unserved"
    assert "modifier1 250" in (unserved.reason or "")
    assert plan(100, 9, b"ignored").immediate == b"d\x00\x00\x01"
    wsgi = plan(0, 0, encode_vars({b"SERVER_PROTOCOL": b"HTTP/1.1"}))
    assert wsgi.immediate.startswith(b"HTTP/1.1 500 Internal Server Error\r\nConnection: close")
    assert plan(0, 0, b"").immediate == b""
