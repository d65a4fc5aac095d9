"""rpccli serve --tls-client-ca answers like uWSGI's --suwsgi-socket where a client goes wrong:
no client certificate, a refused one, a plain request on the TLS socket -- so rpccli's client
gives the same one line and exit code against both (docs/tls.md#errors)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.forkrun import rpccli_forks
from tests.peers import free_port, start_uwsgi
from tests.tlscerts import Certs, make_certs, serve_tls

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def certs() -> Certs:
    return make_certs()


@pytest.fixture(scope="module")
def uwsgi_node(certs: Certs) -> Iterator[str]:
    """Real uWSGI with a TLS socket that requires a client certificate signed by the CA."""
    port = free_port()
    spec = f"127.0.0.1:{port},{certs.server},{certs.server_key},HIGH,!{certs.ca}"
    server = start_uwsgi(lua=(), extra=["--suwsgi-socket", spec])
    try:
        yield f"tls:127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def serve_node(certs: Certs, request: pytest.FixtureRequest) -> Iterator[str]:
    """rpccli serve on a tls: bind, client certificates signed by the CA required, on each
    event loop."""
    with serve_tls(certs, *(["--no-uvloop"] if request.param == "asyncio" else [])) as node:
        yield node


CASES = {
    "no client certificate": (["--cacert", "ca"], "tls", 3, "requires a client certificate"),
    "a refused client certificate": (
        ["--cacert", "ca", "--cert", "stranger", "--key", "stranger_key"],
        "tls",
        3,
        "refused the client certificate",
    ),
    "a plain client on the TLS socket": ([], "plain", 5, "this looks like a TLS socket, use tls:"),
}


def _outcome(certs: Certs, node: str, case: str) -> tuple[int, str]:
    """The exit code and the error (one line, the node's address written NODE)."""
    options, form, _, _ = CASES[case]
    args = [getattr(certs, a) if i % 2 else a for i, a in enumerate(options)]
    target = node if form == "tls" else node.removeprefix("tls:")
    # a process of its own, forked by tests/forkrun.py
    done = rpccli_forks().run(["call", *args, target, "hello"], os.environ)
    assert done.stdout == b""
    text = done.stderr.decode().replace(node.removeprefix("tls:"), "NODE")
    return done.returncode, text


@pytest.mark.parametrize("case", list(CASES))
def test_serve_gives_the_same_error_line_and_exit_code_as_uwsgi(
    certs: Certs, uwsgi_node: str, serve_node: str, case: str
) -> None:
    _, _, code, message = CASES[case]
    expected = _outcome(certs, uwsgi_node, case)
    assert expected[0] == code and message in expected[1], expected
    assert len(expected[1].splitlines()) == 1
    assert _outcome(certs, serve_node, case) == expected
