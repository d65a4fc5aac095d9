"""A DNS failure is exit 3 with one line naming the node.

The resolver is replaced in process: resolving a name that does not exist would send a query to
a resolver that is not on loopback, and tests send traffic only to loopback.
"""

from __future__ import annotations

import socket

import pytest

from tests.cli.conftest import run_cli


def test_unknown_host_is_a_connect_error(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def no_such_host(host: str, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    result = run_cli("call", "no-such-host.example:3031", "hello")
    assert asked == ["no-such-host.example"]
    assert result.code == 3
    assert result.out == b""
    assert result.err == (
        "rpccli: cannot connect to no-such-host.example:3031: "
        "cannot resolve the host (Name or service not known)\n"
    )
