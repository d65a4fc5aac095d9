"""RPC functions that load unchanged in real uWSGI and in `rpccli serve`.

    uwsgi --plugins rpc,python3 --socket 127.0.0.1:3031 --import examples/functions.py
    rpccli serve examples/functions.py

Under Python 3, uWSGI passes every argument as bytes and delivers only a non-empty bytes result:
anything else (str, None, b"", an exception) reaches the caller as a 0-byte close.
"""

import time

import uwsgi


def hello(*args):
    return b"Hello, " + (b" ".join(args) if args else b"world")


def echo(*args):
    return b" ".join(args)


def argc(*args):
    return str(len(args)).encode()


def upper(*args):
    return b" ".join(args).upper()


def sleep(seconds=b"1"):
    time.sleep(float(seconds))
    return b"slept " + seconds


def big(size=b"100000"):
    n = int(size)
    pattern = bytes(range(256))
    return (pattern * (n // 256 + 1))[:n]


def fail(*args):
    raise RuntimeError("fail was called")


def empty(*args):
    return b""


def text(*args):
    return "a str, not bytes"


def rpc_list():
    # uWSGI cannot list its functions remotely: this is the convention rpccli completes from.
    return b"\n".join(uwsgi.rpc_list())


for _fn in (hello, echo, argc, upper, sleep, big, fail, empty, text, rpc_list):
    uwsgi.register_rpc(_fn.__name__, _fn)


def page(*args):
    # a whole HTTP response: what nginx needs in raw mode (uwsgi_modifier2 1,
    # docs/protocol.md#other-clients)
    body = b"args: " + b"|".join(args)
    head = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
    return head % len(body) + body


uwsgi.register_rpc("page", page)
