"""Hypothesis properties of the wire layer: round trips, and readers that never half-consume."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import NoResult, ProtocolError
from protocol.reader import Response, ResponseReader, whole_body
from protocol.wire import (
    HEADER_SIZE,
    MAX_ARGS,
    MODIFIER1_RPC,
    RequestEncoder,
    decode_array,
    decode_vars,
    encode_array,
    encode_vars,
    rpc_request,
    unpack_header,
)
from tests.protocol.wirehelp import large, packet, ping, read, split_at

items = st.lists(st.binary(max_size=300), max_size=20)
names = st.binary(min_size=1, max_size=255).filter(lambda b: b"\0" not in b)
args = st.lists(st.binary(min_size=1, max_size=200), max_size=MAX_ARGS)
modes = st.sampled_from(["packet", "raw"])


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    offsets = draw(st.lists(st.integers(0, len(data)), max_size=8))
    return split_at(data, offsets)


@given(items)
def test_array_round_trip(values: list[bytes]) -> None:
    assert decode_array(encode_array(values)) == values


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=50), st.binary(max_size=50))))
def test_vars_round_trip(pairs: list[tuple[bytes, bytes]]) -> None:
    assert decode_vars(encode_vars(pairs)) == pairs


@given(names, args, st.integers(0, 255))
def test_request_decodes_to_what_was_asked(name: bytes, values: list[bytes], m2: int) -> None:
    request = rpc_request(name, values, modifier2=m2)
    header = unpack_header(request)
    assert (header.modifier1, header.modifier2) == (MODIFIER1_RPC, m2)
    assert header.size == len(request) - HEADER_SIZE
    assert decode_array(request[HEADER_SIZE:]) == [name, *values]


any_names = st.one_of(st.binary(max_size=300), st.text(max_size=100))
any_args = st.lists(st.one_of(st.binary(max_size=70000), st.text(max_size=50)), max_size=300)


@settings(max_examples=300)
@given(st.lists(st.tuples(any_names, any_args, st.integers(-1, 256)), min_size=1, max_size=6))
def test_the_encoder_says_what_rpc_request_says(calls: list[tuple[object, list, int]]) -> None:
    # the same bytes, or the same error, call after call (names remembered or not)
    encode = RequestEncoder(keep=2)
    for name, values, m2 in calls * 2:
        try:
            expected: object = rpc_request(name, values, modifier2=m2)  # type: ignore[arg-type]
        except Exception as exc:
            expected = (type(exc), str(exc), getattr(exc, "limit", None))
        try:
            got: object = encode(name, values, modifier2=m2)  # type: ignore[arg-type]
        except Exception as exc:
            got = (type(exc), str(exc), getattr(exc, "limit", None))
        assert got == expected


@given(st.data(), st.binary(max_size=3000), st.sampled_from(["packet", "large", "raw"]))
def test_response_framing_round_trip(data: st.DataObject, body: bytes, form: str) -> None:
    wire = {"packet": packet, "large": large, "raw": bytes}[form](body)
    mode = "raw" if form == "raw" else "packet"
    result = read(data.draw(chunkings(wire)), mode)  # type: ignore[arg-type]
    if not body:  # the 0-byte close in raw mode, an empty answer in both packet forms
        assert isinstance(result, tuple) and result[0] is NoResult
    else:
        assert isinstance(result, Response) and result.body == body
        assert result.large == (form == "large")


def _looks_like_response() -> st.SearchStrategy[bytes]:
    # random bytes, and near misses of the real forms: cut short, or with bytes appended
    return st.one_of(
        st.binary(max_size=64),
        st.binary(max_size=40).map(packet),
        st.binary(max_size=40).map(large),
        st.tuples(st.binary(max_size=40), st.binary(max_size=8)).map(
            lambda t: packet(t[0])[: len(t[1]) * 7] + t[1]
        ),
        st.tuples(st.binary(max_size=40), st.binary(max_size=8)).map(lambda t: large(t[0]) + t[1]),
    )


@settings(max_examples=400)
@given(st.data(), _looks_like_response(), modes, st.one_of(st.none(), st.integers(0, 64)))
def test_any_bytes_parse_or_raise_the_protocol_errors_however_split(
    data: st.DataObject, wire: bytes, mode: str, cap: int | None
) -> None:
    kwargs = {} if cap is None else {"max_size": cap}
    whole = read([wire], mode, **kwargs)  # type: ignore[arg-type]
    if isinstance(whole, tuple):
        assert issubclass(whole[0], ProtocolError | NoResult), whole
    else:
        assert isinstance(whole, Response)
    byte_by_byte = read([wire[i : i + 1] for i in range(len(wire))], mode, **kwargs)  # type: ignore[arg-type]
    chunked = read(data.draw(chunkings(wire)), mode, **kwargs)  # type: ignore[arg-type]
    assert whole == byte_by_byte == chunked


@settings(max_examples=300)
@given(
    st.data(),
    st.one_of(
        st.binary(max_size=20),
        st.binary(max_size=20).map(lambda t: b"\x64" + len(t).to_bytes(2, "little") + b"\x01" + t),
    ),
)
def test_any_bytes_to_the_ping_reader(data: st.DataObject, wire: bytes) -> None:
    whole = ping([wire])
    if isinstance(whole, tuple):
        assert issubclass(whole[0], ProtocolError | NoResult), whole
    else:
        assert whole is None or isinstance(whole, str)
    assert ping(data.draw(chunkings(wire))) == whole
    assert ping([wire[i : i + 1] for i in range(len(wire))]) == whole


@settings(max_examples=400)
@given(_looks_like_response(), st.one_of(st.none(), st.integers(0, 64)))
def test_a_whole_body_is_what_a_reader_makes_of_the_same_read(wire: bytes, cap: int | None) -> None:
    # the clients take the usual answer with whole_body() and no reader: it must never take
    # bytes a reader would refuse, nor read them otherwise (anything else goes to a reader)
    max_size = 64 * 1024 * 1024 if cap is None else cap
    body = whole_body(wire, max_size)
    if body is not None:
        verdict = read([wire], "packet", max_size)
        assert isinstance(verdict, Response) and verdict.body == body and not verdict.large
        reader = ResponseReader("packet", max_size=max_size)
        assert reader.feed(wire) and reader.body == body
    elif wire == packet(wire[HEADER_SIZE:]) and 0 < len(wire) - HEADER_SIZE <= max_size:
        raise AssertionError("a whole plain packet was left to the reader")
