"""Helpers for the sans-IO wire tests: feed readers in any chunking, record the verdict."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

from protocol.errors import CallError
from protocol.reader import PingReader, Response, ResponseReader
from protocol.wire import DEFAULT_MAX_RESPONSE, MODIFIER1_RPC, Mode, encode_vars, pack_header

#: what a reader made of some input: a Response / warning, or (error class, message)
Verdict = Response | str | None | tuple[type[CallError], str]


def packet(body: bytes) -> bytes:
    """A plain modifier2-0 response, as uWSGI sends results of at most 65535 bytes
    (docs/protocol.md#responses)."""
    return pack_header(MODIFIER1_RPC, len(body), 0) + body


def large(body: bytes) -> bytes:
    """The modifier2-5 form: a CONTENT_LENGTH vars block, then the raw body
    (docs/protocol.md#responses)."""
    block = encode_vars({b"CONTENT_LENGTH": str(len(body)).encode()})
    return pack_header(MODIFIER1_RPC, len(block), 5) + block + body


def split_at(data: bytes, offsets: Sequence[int]) -> list[bytes]:
    cuts = [0, *sorted(offsets), len(data)]
    return [data[a:b] for a, b in pairwise(cuts)]


def read(
    chunks: Iterable[bytes], mode: Mode = "packet", max_size: int = DEFAULT_MAX_RESPONSE
) -> Verdict:
    """Feed every chunk, then EOF, and say what came out."""
    return _verdict(ResponseReader(mode, max_size=max_size, node="peer:1"), chunks)


def ping(chunks: Iterable[bytes]) -> Verdict:
    return _verdict(PingReader(node="peer:1"), chunks)


def _verdict(reader: ResponseReader | PingReader, chunks: Iterable[bytes]) -> Verdict:
    try:
        for chunk in chunks:
            reader.feed(chunk)
        return reader.feed_eof()
    except CallError as exc:
        return (type(exc), str(exc))


def every_split(data: bytes) -> list[list[bytes]]:
    """The input whole, byte by byte, and cut in two at every offset."""
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    ways += [[data[:i], data[i:]] for i in range(len(data) + 1)]
    return ways
