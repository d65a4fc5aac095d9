"""batch's fast paths against the full ones they stand in for (docs/batch.md#speed): a plain line
split as bytes (parse_raw) against parse_line of its text, lines read as bytes against lines read
as text, and a successful call's JSON line written straight as bytes against json_line(record())."""

from __future__ import annotations

import io
import itertools
import random

import pytest

from protocol.errors import RPCError
from protocol.wire import rpc_request
from rpccli.batch.input import MAX_LINE, LineReader, parse_line, parse_raw
from rpccli.batch.output import fast_ok_line
from rpccli.batch.plain import PlainLines
from rpccli.output import json_line, record

# every kind of line batch reads: plain, quoted, escaped, @-arguments, JSON, comments, blanks,
# odd blanks (str.strip takes more than spaces and tabs off the ends), unicode, binary, errors
LINES = [
    b"hello world",
    b"hello",
    b"  hello   a\tb  ",
    b"\thello a\r",
    b"hello a\rb",
    b"hello a\x0bb",
    b"\x0bhello a",
    b"hello a\x0c",
    b"\x1chello\x1f",
    b"hello \xc2\xa0",
    b"\xc2\xa0hello a",
    b"hello a\xc2\x85",
    b"hello \xe3\x80\x80a",
    b"hello \xe2\x80\xa8",
    "h\u00e9llo w\u00f6rld \U0001f600".encode(),
    b"hello \xff\xfe bin\x00ary",
    b"\xffhello a",
    b"hello a\xff",
    b"echo 'a b' \"c d\"",
    b"echo a\\ b",
    b"echo $'\\x41\\n'",
    b"echo $HOME",
    b"echo 'unterminated",
    b"echo @@text",
    b"echo @/nonexistent/file",
    b"echo a@b",
    b"echo @",
    b"# a comment",
    b"   # indented comment",
    b"hello #not-a-comment",
    b"",
    b"   ",
    b"\t\r",
    b'{"function": "hello", "args": ["a"]}',
    b'["hello", "a"]',
    b"{not json",
    b"[1]",
    b"  {}",
    b"hello {a} [b]",
    b"hello " + b"x" * 70000,
    b"f " + b" ".join(b"a" for _ in range(300)),
    b"\xed\xb2\x80 a",
    b"~ !",
]


def _outcome(parse: object, line: object) -> object:
    try:
        return parse(line, 7)  # type: ignore[operator]
    except RPCError as exc:
        return (type(exc), str(exc))


@pytest.mark.parametrize("line", LINES)
def test_parse_raw_is_parse_line(line: bytes) -> None:
    text = line.decode("utf-8", "surrogateescape")
    assert _outcome(parse_raw, line) == _outcome(parse_line, text)


def test_parse_raw_is_parse_line_on_random_lines() -> None:
    pieces = [b"a", b"hi", b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"\x1c", b"\xc2\xa0", b"\xc2\x85",
              b"\xe2\x80\x83", b"\xff", b"\xc3", "\u00e9".encode(), b"#", b"{", b"[", b"$", b"~",
              b"\x00", b"\x7f", b"-", b"="]  # fmt: skip
    rng = random.Random(16)
    for _ in range(20000):
        line = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        text = line.decode("utf-8", "surrogateescape")
        assert _outcome(parse_raw, line) == _outcome(parse_line, text), line


@pytest.mark.parametrize("chunk", [4099, 65536])
def test_raw_lines_are_the_text_lines_encoded(chunk: int) -> None:
    data = b"\n".join(LINES) + b"\r\n\r\nlast \xff\r"
    data += b"\n" + b"y" * (MAX_LINE + 5) + b"\nafter long\nz" * 2 + b"x" * (MAX_LINE + 1)

    def read(raw: bool) -> list[tuple[int, object]]:
        reader = LineReader(io.BytesIO(data), raw=raw)
        reader.CHUNK = chunk
        return list(reader)

    raw, text = read(True), read(False)
    assert len(raw) == len(text)
    for (n1, a), (n2, b) in zip(raw, text, strict=True):
        assert n1 == n2
        assert a == (None if b is None else b.encode("utf-8", "surrogateescape"))  # type: ignore[attr-defined]
    assert [n for n, t in text if t is None] == [len(LINES) + 3, len(LINES) + 7]


BODIES = [b"Hello, world", b"", b'"\\', b"\x00\x1f\x7f", "\u00e9\u2028\U0001f600".encode(),
          b"a\nb\tc", b"\xff", b"\xc3", b"/<script>", b"\xed\xa0\x80"]  # fmt: skip
ARGS = [[], [b"world"], [b"a", b"b c"], [b'"q"', b"\\"], ["\u00e9".encode()], [b"\xff"], [b"\x01"]]


@pytest.mark.parametrize(("body", "args"), list(itertools.product(BODIES, ARGS)))
@pytest.mark.parametrize("function", ["hello", "f\u00e9", 'a"b', "tab\t"])
def test_fast_ok_line_is_json_line(body: bytes, args: list[bytes], function: str) -> None:
    for elapsed in (0.0, 0.0012345, 1.5, 0.0000004, 12.3456789):
        item = {"node": "127.0.0.1:1", "function": function, "args": args, "elapsed": elapsed}
        item["line"] = 123456
        fast = fast_ok_line(item, body)
        try:
            body.decode()
            for arg in args:
                arg.decode()
        except UnicodeDecodeError:
            assert fast is None  # the full path writes it (args or response in base64)
            continue
        full = record(node="127.0.0.1:1", function=function, args=args, body=body,
                      elapsed=elapsed, line=123456)  # fmt: skip
        assert fast == json_line(full)


PLAIN_LINES = [
    *LINES,
    b"hello a b c d",
    b"f " + b"x" * 40000,
    b"f " + b" ".join(b"a" for _ in range(254)),
    b"f " + b" ".join(b"a" for _ in range(255)),
    b"f" * 255 + b" a",
    b"f" * 256 + b" a",
    b"f\x7f a",
    b"~/path a=b {x} [y] #z $HOME",
]


@pytest.mark.parametrize("line", PLAIN_LINES)
@pytest.mark.parametrize("modifier2", [0, 1])
def test_plain_line_is_the_full_way(line: bytes, modifier2: int) -> None:
    fast = PlainLines(modifier2, json=True).take(line)
    text = line.decode("utf-8", "surrogateescape")
    if fast is None:
        return  # the full way takes it
    function, args, request, head = fast
    job = parse_line(text, 7)
    assert job is not None
    assert (job.node, job.function, job.args) == (None, function, args)
    assert request == rpc_request(job.function, job.args, modifier2=modifier2)
    item = {"node": "n", "function": function, "args": args, "elapsed": 0.5, "line": 7}
    assert fast_ok_line({**item, "json": head}, b"ok") == fast_ok_line(item, b"ok")


def test_plain_lines_are_taken_the_short_way() -> None:
    plain = PlainLines(0, json=False)
    assert plain.take(b"hello world") == (
        "hello",
        [b"world"],
        rpc_request("hello", [b"world"]),
        None,
    )
    for line in (b"hello 'a'", b"# x", b"{}", b"hello \xc3\xa9", b"hello @x", b""):
        assert plain.take(line) is None


ALL_PLAIN = [b"hello a", b"", b"  ", b"#x", b"{x", b"x a b", b"f " + b"x" * 40000, b"f" * 256]


@pytest.mark.parametrize("lines", [PLAIN_LINES, LINES, ALL_PLAIN])
def test_a_plain_block_takes_its_lines_as_take_does(lines: list[bytes]) -> None:
    """A block whose every byte can be in a plain line skips that test per line (for_block):
    each of its lines is taken as take() takes it; any other block's lines go through take()."""
    plain = PlainLines(0, json=True)
    block = b"\n".join(lines)
    take = plain.for_block(block)
    assert (take != plain.take) == (lines is ALL_PLAIN)
    for line in block.split(b"\n"):
        assert take(line) == plain.take(line), line
    assert plain.for_block(None) == plain.take


def test_elapsed_ms_is_repr_of_round() -> None:
    rng = random.Random(3)
    values = [0.0, 1e-7, 0.0005, 0.0015, 0.0025, 1.0, 2.5, 999999.9995, 1e6, 1e7, 1e12]
    values += [rng.random() * 10 ** rng.randint(-7, 6) for _ in range(20000)]
    values += [rng.randint(0, 10**9) / 10**6 + 0.0000005 for _ in range(2000)]
    for elapsed in values:
        item = {"node": "n", "function": "f", "args": [], "elapsed": elapsed, "line": 1}
        full = record(node="n", function="f", args=[], body=b"x", elapsed=elapsed, line=1)
        assert fast_ok_line(item, b"x") == json_line(full), elapsed


@pytest.mark.parametrize("crlf", [False, True])
def test_take_and_iteration_number_the_same_lines(crlf: bool) -> None:
    # the lanes' coordinator takes the lines split off already in one step, then iterates on
    end = b"\r\n" if crlf else b"\n"
    data = b"".join(b"line %d%s" % (n, end) for n in range(1, 20001))
    data += b"x" * (MAX_LINE + 3) + b"\nlast"
    expected = list(LineReader(io.BytesIO(data), raw=True))
    rng = random.Random(5)
    for _ in range(5):
        reader = LineReader(io.BytesIO(data), raw=True)
        reader.CHUNK = rng.choice([100, 4096, 65536])
        lines = iter(reader)
        got: list[tuple[int, object]] = []
        while True:
            more = reader.take(rng.randint(1, 300))
            if more:
                got += more
                continue
            entry = next(lines, None)
            if entry is None:
                break
            got.append(entry)
        assert got == expected


@pytest.mark.parametrize("modifier2", [0, 1])
def test_every_byte_in_a_line_and_an_answer(modifier2: int) -> None:
    """The byte tables of the fast paths (which bytes a plain line holds, which an answer writes
    as they are) against the full ways, each of the 256 bytes inside a word and an answer."""
    plain = PlainLines(modifier2, json=True)
    for value in range(256):
        byte = bytes([value])
        line = b"f a" + byte + b"z"
        fast = plain.take(line)
        # only a quote, backslash, @, control or non-ASCII byte sends it the full way
        special = (value < 0x20 and value != 0x09) or value >= 0x7F or byte in b"\"'@\\"
        assert (fast is None) == special, byte
        if fast is not None:
            function, args, request, head = fast
            job = parse_line(line.decode("utf-8", "surrogateescape"), 3)
            assert job is not None and (job.function, job.args) == (function, args), byte
            assert request == rpc_request(function, args, modifier2=modifier2), byte
            item = {"node": "n", "function": function, "args": args, "elapsed": 0.5, "line": 3}
            assert fast_ok_line({**item, "json": head}, b"ok") == fast_ok_line(item, b"ok")
        body = b"a" + byte + b"z"
        item = {"node": "n", "function": "f", "args": [], "elapsed": 0.5, "line": 3}
        answer = fast_ok_line(item, body)
        if answer is None:  # not UTF-8: the JSON line of base64 alone, written the full way
            assert value >= 0x80, byte
            continue
        full = record(node="n", function="f", args=[], body=body, elapsed=0.5, line=3)
        assert answer == json_line(full), byte
