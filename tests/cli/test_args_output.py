"""The argument syntax (rpccli.args) and the pure formatting of rpccli.output*."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from protocol.errors import ConnectError
from protocol.wire import rpc_request
from rpccli.args import read_argument, read_arguments
from rpccli.errors import InputError
from rpccli.output import Printer, choose_format, json_line, record
from rpccli.output.nginx import nginx_location
from rpccli.output.wire import annotate_request, hexdump, uwsgi_rpc_call


def test_words_and_escapes(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"\x00\xff")
    stdin = io.BytesIO(b"piped")
    assert read_argument("plain", stdin=stdin) == b"plain"
    assert read_argument("ünï", stdin=stdin) == "ünï".encode()
    assert read_argument("a@b", stdin=stdin) == b"a@b"
    assert read_argument("@@x", stdin=stdin) == b"@x"
    assert read_argument("@@", stdin=stdin) == b"@"
    assert read_argument(f"@{tmp_path}/f", stdin=stdin) == b"\x00\xff"
    assert read_argument("@-", stdin=stdin) == b"piped"
    # argv bytes that are not UTF-8 arrive as surrogate escapes and go out unchanged
    assert read_argument(b"\xff".decode("utf-8", "surrogateescape"), stdin=stdin) == b"\xff"


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("@", "'@' needs a file name"),
        ("@/nonexistent/x", "cannot read @/nonexistent/x: no such file"),
        ("@/", "cannot read @/: it is a directory"),
        ("@-", "@- (standard input) cannot be used here"),
    ],
)
def test_argument_errors(word: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        read_argument(word, stdin=None)


def test_file_over_item_limit(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 65536)
    with pytest.raises(InputError, match="is over 65535 bytes"):
        read_argument(f"@{tmp_path}/big", stdin=None)


def test_stdin_once() -> None:
    with pytest.raises(InputError, match="only once"):
        read_arguments(["@-", "x", "@-"], stdin=io.BytesIO(b""))


def test_choose_format() -> None:
    assert choose_format("auto", io.StringIO()) == "bytes"
    assert choose_format(None, io.StringIO()) == "bytes"
    assert choose_format("json", io.StringIO()) == "json"


def test_record_fields() -> None:
    rec = record(node="n", function="f", args=[b"a", b"\xff"], body=b"ok", elapsed=0.0012345)
    assert rec == {
        "node": "n",
        "function": "f",
        "args": ["a", {"base64": "/w=="}],
        "ok": True,
        "response": "ok",
        "response_base64": "b2s=",
        "bytes": 2,
        "elapsed_ms": 1.234,
        "error": None,
    }
    err = record(node="n", function="f", args=[], error=ConnectError("n", "cannot connect"))
    assert err["ok"] is False and err["error"] == {"type": "connect", "message": "cannot connect"}
    line = json_line(rec)
    assert line.endswith(b"\n") and json.loads(line) == rec


def test_printer_bytes_and_json() -> None:
    out = io.BytesIO()
    stream = io.TextIOWrapper(out)
    Printer("bytes", stdout=stream).body(b"\x00raw")
    assert out.getvalue() == b"\x00raw"


def test_hexdump() -> None:
    assert hexdump(b"AB\x00") == "00000000  41 42 00" + " " * 39 + "  AB."
    assert hexdump(bytes(40), limit=16).splitlines()[-1] == "... 24 more bytes"


def test_annotate_golden_request() -> None:
    # the golden packet of docs/protocol.md#packets
    request = rpc_request("hello", ["a", "bb"])
    assert request.hex(" ") == "ad 0e 00 00 05 00 68 65 6c 6c 6f 01 00 61 02 00 62 62"
    lines = annotate_request(request).splitlines()
    assert lines[1].startswith("0000  ad 0e 00 00 ") and "modifier1 173 (RPC)" in lines[1]
    assert lines[-1].startswith("0010  62 62 ") and lines[-1].endswith('arg 2 "bb"')


def test_annotate_long_item_wraps() -> None:
    lines = annotate_request(rpc_request("f", ["x" * 20])).splitlines()
    assert lines[-2].startswith("0009  78 78") and lines[-1].startswith("0019  78 78 78 78")


def test_nginx_targets() -> None:
    assert "uwsgi_pass unix:/run/app.sock;" in nginx_location("/run/app.sock", b"f", [b"a"])
    # nginx has no abstract sockets: 'unix:@app' is a path starting with '@' (a 502)
    assert "uwsgi_pass" not in nginx_location("@app", b"f", [b"a"])
    assert 'uwsgi_param f "a b";' in nginx_location(":1", b"f", [b"a b"])


def test_uwsgi_rpc_notes() -> None:
    assert uwsgi_rpc_call(":3031", b"f", []) == "uwsgi.rpc('127.0.0.1:3031', b'f')"
    assert uwsgi_rpc_call("@app", b"f", [b"\x00"]) == "uwsgi.rpc('@app', b'f', b'\\x00')"
    assert "IPv4 literals only" in uwsgi_rpc_call("example.com:3031", b"f", [])
