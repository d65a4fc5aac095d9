"""Golden bytes and every limit of the sans-IO wire layer (docs/protocol.md)."""

from __future__ import annotations

import pytest

from protocol.errors import NoResult, ProtocolError, RequestError, ResponseTooLarge
from protocol.reader import Response
from protocol.wire import (
    HEADER_SIZE,
    MAX_ARGS,
    MAX_BODY,
    MAX_ITEM,
    MAX_NAME,
    PING_REQUEST,
    Header,
    RequestEncoder,
    check_mode,
    decode_array,
    decode_vars,
    encode_array,
    encode_vars,
    exceeds_default_buffer,
    mode_modifier2,
    pack_header,
    rpc_request,
    to_bytes,
    unpack_header,
)
from tests.protocol.wirehelp import every_split, large, packet, ping, read

GOLDEN_HELLO = bytes.fromhex("ad 0e 00 00 05 00 68 65 6c 6c 6f 01 00 61 02 00 62 62")


# ---- requests (docs/protocol.md#packets and #requests) ----


def test_golden_request_from_the_fact_sheet() -> None:
    assert rpc_request("hello", ["a", "bb"]) == GOLDEN_HELLO
    assert rpc_request(b"hello", [b"a", b"bb"]) == GOLDEN_HELLO


def test_raw_mode_request_only_changes_modifier2() -> None:
    raw = rpc_request("hello", ["a", "bb"], modifier2=mode_modifier2("raw"))
    assert raw == GOLDEN_HELLO[:3] + b"\x01" + GOLDEN_HELLO[4:]
    assert mode_modifier2("packet") == 0


def test_zero_args_request() -> None:
    assert rpc_request("f") == bytes.fromhex("ad 03 00 00 01 00 66")


def test_text_is_utf8_and_bytes_pass_unchanged() -> None:
    assert to_bytes("é") == b"\xc3\xa9"
    assert to_bytes(bytearray(b"\xff")) == b"\xff"
    body = rpc_request("f", [b"\x00\xff", "é"])[HEADER_SIZE:]
    assert decode_array(body) == [b"f", b"\x00\xff", b"\xc3\xa9"]


def test_args_limit_at_its_boundary() -> None:
    request = rpc_request("f", ["x"] * MAX_ARGS)
    assert len(decode_array(request[HEADER_SIZE:])) == 255
    with pytest.raises(RequestError, match="255 arguments") as info:
        rpc_request("f", ["x"] * (MAX_ARGS + 1))
    assert info.value.limit == "args"


def test_name_limit_at_its_boundary() -> None:
    assert decode_array(rpc_request("n" * MAX_NAME)[HEADER_SIZE:]) == [b"n" * 255]
    with pytest.raises(RequestError, match="256 bytes") as info:
        rpc_request("n" * (MAX_NAME + 1))
    assert info.value.limit == "name"
    # the limit counts bytes, not characters
    with pytest.raises(RequestError, match="256 bytes"):
        rpc_request("é" * 128)


@pytest.mark.parametrize("name", ["", b"", "hel\0lo", b"\0"])
def test_empty_name_or_nul_in_name_is_refused(name: str | bytes) -> None:
    with pytest.raises(RequestError) as info:
        rpc_request(name)
    assert info.value.limit == "name"


@pytest.mark.parametrize(
    ("args", "position"), [(["", "b", "c"], 1), (["a", "", "c"], 2), (["a", "b", b""], 3)]
)
def test_empty_argument_anywhere_is_refused(args: list[str | bytes], position: int) -> None:
    with pytest.raises(RequestError, match=f"argument {position} is empty") as info:
        rpc_request("f", args)
    assert info.value.limit == "empty-arg"


def test_item_limit_at_its_boundary() -> None:
    assert len(encode_array([b"x" * MAX_ITEM])) == 2 + MAX_ITEM
    with pytest.raises(RequestError, match="65536 bytes") as info:
        encode_array([b"x" * (MAX_ITEM + 1)])
    assert info.value.limit == "item"
    with pytest.raises(RequestError) as info:
        rpc_request("f", [b"x" * (MAX_ITEM + 1)])
    assert info.value.limit == "item"


def test_body_limit_at_its_boundary() -> None:
    # name item: 2 + 1 bytes, argument item: 2 + n bytes
    fits = rpc_request("f", [b"x" * (MAX_BODY - 5)])
    assert len(fits) == HEADER_SIZE + MAX_BODY
    assert unpack_header(fits) == Header(173, 65535, 0)
    with pytest.raises(RequestError, match="65536 bytes") as info:
        rpc_request("f", [b"x" * (MAX_BODY - 4)])
    assert info.value.limit == "body"
    with pytest.raises(RequestError) as info:
        rpc_request("f", [b"x" * 40000, b"y" * 40000])
    assert info.value.limit == "body"


def test_exceeds_default_buffer_at_4096() -> None:
    # a body of exactly 4096 bytes fits uWSGI's default --buffer-size; 4097 does not
    # (docs/protocol.md#buffer-size)
    at = rpc_request("f", [b"x" * (4096 - 5)])
    over = rpc_request("f", [b"x" * (4096 - 4)])
    assert (len(at) - HEADER_SIZE, len(over) - HEADER_SIZE) == (4096, 4097)
    assert not exceeds_default_buffer(at)
    assert exceeds_default_buffer(over)


def test_header_limits() -> None:
    assert pack_header(173, 65535, 5) == b"\xad\xff\xff\x05"
    for bad in [(256, 0, 0), (0, 0, 256), (-1, 0, 0), (0, 65536, 0), (0, -1, 0)]:
        with pytest.raises(RequestError):
            pack_header(*bad)
    with pytest.raises(RequestError):
        rpc_request("f", modifier2=256)
    with pytest.raises(ValueError):
        unpack_header(b"\xad\x00")


def test_mode_is_checked() -> None:
    assert check_mode("raw") == "raw"
    with pytest.raises(RequestError, match="unknown mode 'xml'"):
        check_mode("xml")


def test_vars_encoding() -> None:
    block = encode_vars({b"CONTENT_LENGTH": b"7", b"E": b""})
    assert block == b"\x0e\x00CONTENT_LENGTH\x01\x007\x01\x00E\x00\x00"
    assert decode_vars(block) == [(b"CONTENT_LENGTH", b"7"), (b"E", b"")]
    assert encode_vars([(b"a", b"b")]) == b"\x01\x00a\x01\x00b"
    with pytest.raises(RequestError, match="empty"):
        encode_vars({b"": b"x"})


@pytest.mark.parametrize(
    "block", [b"\x01", b"\x05\x00abc", b"\x01\x00a", b"\x00\x00\x01\x00x", b"\x01\x00k\x05\x00v"]
)
def test_malformed_arrays_and_vars_raise_value_error(block: bytes) -> None:
    with pytest.raises(ValueError):
        decode_vars(block)


# ---- responses (docs/protocol.md#responses and #failures) ----

BODY = b"Hello, a bb"
GOOD = [
    ("packet", packet(BODY), Response(BODY, Header(173, len(BODY), 0))),
    (
        "packet",
        large(BODY),
        Response(BODY, Header(173, 20, 5), True, ((b"CONTENT_LENGTH", b"11"),)),
    ),
    ("raw", BODY, Response(BODY)),
    ("raw", packet(BODY), Response(packet(BODY))),  # raw mode never interprets the bytes
]


@pytest.mark.parametrize(("mode", "wire", "expected"), GOOD)
def test_golden_responses_whole_byte_by_byte_and_split_everywhere(
    mode: str, wire: bytes, expected: Response
) -> None:
    for chunks in every_split(wire):
        assert read(chunks, mode) == expected  # type: ignore[arg-type]


def test_golden_packet_bytes() -> None:
    assert packet(b"hi") == b"\xad\x02\x00\x00hi"
    assert large(b"hi") == b"\xad\x13\x00\x05\x0e\x00CONTENT_LENGTH\x01\x002hi"


def test_large_form_with_a_big_body() -> None:
    body = bytes(range(256)) * 300
    result = read([large(body)[i : i + 1000] for i in range(0, len(body) + 30, 1000)])
    assert isinstance(result, Response) and result.body == body and result.large


BAD = [
    # (mode, wire, error, message fragment)
    ("packet", b"", NoResult, "no result from peer:1"),
    ("raw", b"", NoResult, "no result from peer:1"),
    # uWSGI never frames an empty result: an empty answer is no result, in either form
    ("packet", packet(b""), NoResult, "empty answer from peer:1: a packet with a 0-byte body"),
    ("packet", packet(b"") + b"!", NoResult, "empty answer from peer:1"),
    ("packet", large(b""), NoResult, "empty answer from peer:1: a large-form packet"),
    ("packet", b"\xad\x05", ProtocolError, "truncated: connection closed after 2 bytes"),
    ("packet", packet(b"hello")[:-1], ProtocolError, "closed after 8 bytes"),
    ("packet", b"\xad\x05\x00\x00", ProtocolError, "closed after 4 bytes"),
    ("packet", large(b"hello")[:10], ProtocolError, "closed after 10 bytes"),
    ("packet", large(b"hello")[:-2], ProtocolError, "truncated"),
    ("packet", packet(b"hello") + b"!", ProtocolError, "unexpected bytes after the end"),
    ("packet", large(b"hello") + b"!!", ProtocolError, "unexpected bytes after the end"),
    ("packet", b"\xad\x02\x00\x01hi", ProtocolError, "modifier2 1"),
    ("packet", b"\xad\x02\x00\x02hi", ProtocolError, "modifier2 2"),
    ("packet", b"HTTP/1.1 200 OK\r\n", ProtocolError, "answered with HTTP"),
    ("packet", b"\xad\x04\x00\x05\x01\x00a\x00", ProtocolError, "CONTENT_LENGTH"),
    ("packet", b"\xad\x00\x00\x05", ProtocolError, "CONTENT_LENGTH"),
    ("packet", b"\xad\x05\x00\x05\x01\x00k\x00\x00", ProtocolError, "CONTENT_LENGTH"),
]


@pytest.mark.parametrize(("mode", "wire", "error", "fragment"), BAD)
def test_bad_responses_give_one_verdict_however_split(
    mode: str, wire: bytes, error: type[Exception], fragment: str
) -> None:
    verdicts = {repr(read(chunks, mode)) for chunks in every_split(wire)}  # type: ignore[arg-type]
    assert len(verdicts) == 1, verdicts
    result = read([wire], mode)  # type: ignore[arg-type]
    assert isinstance(result, tuple) and result[0] is error, result
    assert fragment in result[1] and "peer:1" in result[1]


def test_content_length_must_be_decimal() -> None:
    for text in [b"-1", b"1e3", b" 5", b"", b"9" * 20]:
        block = encode_vars({b"CONTENT_LENGTH": text} if text else [(b"CONTENT_LENGTH", b"")])
        result = read([pack_header(173, len(block), 5) + block])
        assert isinstance(result, tuple) and result[0] is ProtocolError, (text, result)


CAP = 10


@pytest.mark.parametrize("frame", [packet, large, lambda body: body])
def test_cap_at_its_boundary_in_every_form(frame: object) -> None:
    mode = "raw" if frame not in (packet, large) else "packet"
    assert callable(frame)
    at = read(every_split(frame(b"x" * CAP))[1], mode, max_size=CAP)  # type: ignore[arg-type]
    assert isinstance(at, Response) and at.body == b"x" * CAP
    for chunks in every_split(frame(b"x" * (CAP + 1))):
        over = read(chunks, mode, max_size=CAP)  # type: ignore[arg-type]
        assert isinstance(over, tuple) and over[0] is ResponseTooLarge
        assert "over the limit of 10 bytes" in over[1]


def test_cap_is_known_from_the_header_before_the_body() -> None:
    # a packet or large header announcing too much fails at once, without waiting for the body
    for wire in (packet(b"x" * 100)[:4], large(b"x" * 100)[:27]):
        result = read([wire], max_size=CAP)
        assert isinstance(result, tuple) and result[0] is ResponseTooLarge


# ---- ping (docs/protocol.md#ping) ----


def test_ping_request() -> None:
    assert PING_REQUEST == b"\x64\x00\x00\x00"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (b"\x64\x00\x00\x01", None),
        (b"\x64\x0b\x00\x01disk filled", "disk filled"),
        (b"\x64\x02\x00\x01\xc3\xa9", "é"),
    ],
)
def test_ping_replies(wire: bytes, expected: str | None) -> None:
    for chunks in every_split(wire):
        assert ping(chunks) == expected


@pytest.mark.parametrize(
    ("wire", "error", "fragment"),
    [
        (b"", NoResult, "--plugin ping"),
        (b"\x64\x00", ProtocolError, "cut at 2 bytes"),
        (b"\x64\x05\x00\x01abc", ProtocolError, "cut at 7 bytes"),
        (b"\x64\x00\x00\x01!", ProtocolError, "unexpected bytes after the end"),
        (b"\xad\x00\x00\x01", ProtocolError, "modifier1 173"),
        (b"\x64\x00\x00\x00", ProtocolError, "modifier2 0"),
    ],
)
def test_bad_ping_replies(wire: bytes, error: type[Exception], fragment: str) -> None:
    verdicts = {repr(ping(chunks)) for chunks in every_split(wire)}
    assert len(verdicts) == 1, verdicts
    result = ping([wire])
    assert isinstance(result, tuple) and result[0] is error and fragment in result[1], result


def test_the_encoder_remembers_at_most_keep_names_and_takes_unhashable_ones() -> None:
    encode = RequestEncoder(keep=2)
    for name in ("a", "b", "c", "a", b"a"):
        assert encode(name, ["x"]) == rpc_request(name, ["x"])
    assert len(encode._items) == 2  # "c" and b"a" were encoded but not kept
    assert encode(bytearray(b"hello")) == rpc_request(b"hello")  # unhashable: encoded each time
    with pytest.raises(RequestError, match="empty"):
        encode("")
    assert "" not in encode._items  # a bad name is never remembered
