"""Tests of greeter.py against a real uwsgi-protocol server: the rpc_server fixture."""

from __future__ import annotations

import greeter

from protocol.testing import RPCServer


def test_greets_through_hello(rpc_server: RPCServer) -> None:
    rpc_server.on("hello").calls(lambda name: b"Hello, " + name)
    assert greeter.greeting(rpc_server.node, "world") == "Hello, world"
    rpc_server.assert_called_once_with("hello", "world")


def test_copes_when_hello_fails(rpc_server: RPCServer) -> None:
    rpc_server.on("hello").raises(RuntimeError("database down"))
    assert greeter.greeting(rpc_server.node, "world") == "Hi, world (hello is not answering)"
    assert "RuntimeError: database down" in rpc_server.log[0]


def test_greets_inside_uwsgi(rpc_server: RPCServer) -> None:
    rpc_server.on("hello").returns(b"Hello from uWSGI")
    assert greeter.greeting_in_uwsgi(rpc_server.node, "world") == "Hello from uWSGI"
    rpc_server.assert_called_with("hello", b"world")
