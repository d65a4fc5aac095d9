"""The signal packet (modifier1 110) as bytes: the request builder and the reply reader, sans-IO
(docs/protocol.md#other-packets)."""

from __future__ import annotations

import pytest

from protocol.errors import NoResult, ProtocolError, RequestError
from protocol.reader import SignalReader
from protocol.wire import signal_request


def test_golden_signal_request() -> None:
    # what `uwsgi --signal HOST:PORT,17` sends: 110, an empty body, the number in modifier2
    assert signal_request(17) == bytes([0x6E, 0x00, 0x00, 0x11])
    assert signal_request(0) == b"\x6e\x00\x00\x00"
    assert signal_request(255) == b"\x6e\x00\x00\xff"


@pytest.mark.parametrize("num", [-1, 256, 1000, True, 1.0, "17", None])
def test_a_number_outside_0_to_255_is_refused(num: object) -> None:
    with pytest.raises(RequestError, match=r"0\.\.255") as caught:
        signal_request(num)  # type: ignore[arg-type]
    assert caught.value.limit == "signal"


def _verdict(wire: bytes, *, split: int = 0) -> SignalReader:
    reader = SignalReader(17, node="n")
    chunks = [wire[i : i + 1] for i in range(len(wire))] if split else [wire]
    for chunk in chunks:
        reader.feed(chunk)
    reader.feed_eof()
    return reader


@pytest.mark.parametrize("split", [0, 1])
def test_queued_reply_whole_or_byte_by_byte(split: int) -> None:
    reader = SignalReader(17, node="n")
    assert not reader.feed(b"\xff\x00")
    assert reader.feed(b"\x00\x01")
    reader.feed_eof()
    _verdict(b"\xff\x00\x00\x01", split=split)


def test_not_queued_is_no_result_naming_the_causes() -> None:
    with pytest.raises(NoResult, match="did not queue signal 17") as caught:
        _verdict(b"\xff\x00\x00\x00")
    assert "--master" in str(caught.value)


def test_the_0_byte_close_is_no_result_naming_the_plugin() -> None:
    with pytest.raises(NoResult, match="no answer to signal 17") as caught:
        _verdict(b"")
    assert "--plugins signal" in str(caught.value)


@pytest.mark.parametrize(
    "wire",
    [
        b"\xff\x00",  # cut short
        b"\xff\x00\x00\x02",  # a status uWSGI never sends
        b"\xad\x00\x00\x01",  # another modifier1
        b"\xff\x01\x00\x01",  # a body announced
        b"HTTP",
    ],
)
def test_anything_else_is_a_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError, match="bad signal reply from n"):
        _verdict(wire)


def test_bytes_after_the_reply_are_a_protocol_error() -> None:
    reader = SignalReader(17, node="n")
    with pytest.raises(ProtocolError, match="unexpected bytes after the end"):
        reader.feed(b"\xff\x00\x00\x01x")
