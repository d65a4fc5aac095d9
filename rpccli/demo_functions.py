"""The demo functions of `rpccli serve`: one for every behaviour worth trying.

This is a uWSGI function file, not a normal module: it runs unchanged under real uWSGI
(`uwsgi --plugins rpc,python3 --socket 127.0.0.1:3031 --import rpccli/demo_functions.py`) and in
`rpccli serve`, which provides the `uwsgi` module. Under Python 3 every argument arrives as bytes,
and only a non-empty bytes result reaches the caller (anything else is a 0-byte close).
"""

import json
import time

import uwsgi


def hello(*args):
    """hello [NAME ...] -> "Hello, NAME ..." (or "Hello, world")."""
    return b"Hello, " + (b" ".join(args) if args else b"world")


def echo(*args):
    """echo ARG ... -> the arguments joined by spaces (no args: an empty result, never sent)."""
    return b" ".join(args)


def upper(*args):
    """upper TEXT ... -> the arguments in upper case."""
    return b" ".join(args).upper()


def argc(*args):
    """argc ARG ... -> how many arguments arrived (uWSGI passes at most 254)."""
    return str(len(args)).encode()


def sleep(seconds=b"1"):
    """sleep SECONDS -> waits, then "slept SECONDS" (other clients keep being served)."""
    time.sleep(float(seconds))
    return b"slept " + seconds


def big(size=b"100000"):
    """big N -> N bytes (over 65535 uses the large response form)."""
    n = int(size)
    pattern = bytes(range(256))
    return (pattern * (n // 256 + 1))[:n]


def binary(*args):
    """binary -> the 256 byte values, to see how clients show binary data."""
    return bytes(range(256))


def jsondoc(*args):
    """jsondoc ARG ... -> a JSON document describing the arguments."""
    doc = {"args": [a.decode("utf-8", "replace") for a in args], "count": len(args)}
    return json.dumps(doc).encode()


def fail(*args):
    """fail -> raises, so the caller gets a 0-byte close."""
    raise RuntimeError("fail was called")


def empty(*args):
    """empty -> returns b"": an empty result is never delivered (0-byte close)."""
    return b""


def text(*args):
    """text -> returns a str, not bytes: under Python 3 uWSGI delivers nothing."""
    return "a str, not bytes"


def none(*args):
    """none -> returns None: a 0-byte close."""
    return None


def http(*args):
    """http [BODY ...] -> a whole HTTP response, for raw mode behind nginx (uwsgi_modifier2 1)."""
    body = b" ".join(args) or b"Hello from uWSGI RPC"
    head = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
    return head % len(body) + body


def rpc_list(*args):
    """rpc_list -> the names this server serves, one per line (rpccli completes from it)."""
    return b"\n".join(uwsgi.rpc_list())


for _fn in (hello, echo, upper, argc, sleep, big, binary, fail, empty, text, none, http):
    uwsgi.register_rpc(_fn.__name__, _fn)
uwsgi.register_rpc("json", jsondoc)
uwsgi.register_rpc("rpc_list", rpc_list)
