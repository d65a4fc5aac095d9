"""TLS 1.2 and --tls-max against real uWSGI (--suwsgi-socket), with certificates the tests make
(tests/tlscerts.py): a resumed TLS 1.2 handshake ends with the client's flight, so the request
must go out with TCP_NODELAY (docs/protocol.md#tls); --tls-max 1.2 and a profile's tls_max offer
TLS 1.2 only (docs/tls.md#cost)."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol import Client
from protocol.wire import rpc_request
from rpccli.batch.calls import Call
from rpccli.batch.ordered import run
from tests.forkrun import rpccli_forks
from tests.peers import Uwsgi, free_port, require, start_uwsgi
from tests.tlscerts import Certs, make_certs

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def certs() -> Certs:
    return make_certs()


@pytest.fixture(scope="module")
def tls_node(certs: Certs) -> Iterator[str]:
    port = free_port()
    spec = f"127.0.0.1:{port},{certs.server},{certs.server_key}"
    server: Uwsgi = start_uwsgi(lua=(), extra=["--suwsgi-socket", spec])
    try:
        yield f"tls:127.0.0.1:{port}"
    finally:
        server.stop()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m rpccli ARGS`` (with ``env`` added to the caller's environment), as text, in
    a process of its own forked by tests/forkrun.py."""
    done = rpccli_forks().run(args, {**os.environ, **(env or {})})
    return subprocess.CompletedProcess(
        args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


class _Recording(ssl.SSLSocket):
    """Notes, at each handshake step, whether the socket has TCP_NODELAY."""

    seen: list[int]

    def do_handshake(self, block: bool = False) -> None:
        self.seen.append(self.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        super().do_handshake(block)


def _tls12_context(ca: str) -> tuple[ssl.SSLContext, list[int]]:
    """A verifying context that offers TLS 1.2 only, made by hand as a library user would."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=ca)
    seen: list[int] = []
    context.sslsocket_class = type("Recording", (_Recording,), {"seen": seen})
    return context, seen


def test_blocking_client_resumes_tls12_and_sends_without_waiting_for_an_ack(
    certs: Certs, tls_node: str
) -> None:
    context, seen = _tls12_context(certs.ca)
    client = Client(tls_node, ssl_context=context)
    results = [client.call_full("hello", [str(n)]) for n in range(3)]
    assert [r.body for r in results] == [b"Hello, 0", b"Hello, 1", b"Hello, 2"]
    assert [(r.tls.version, r.tls.resumed) for r in results if r.tls] == [
        ("TLSv1.2", False),
        ("TLSv1.2", True),
        ("TLSv1.2", True),
    ]
    # the request follows the client's last flight at once (docs/protocol.md#tls)
    assert seen and all(seen), seen


def test_batch_engine_resumes_tls12_and_sends_without_waiting_for_an_ack(
    certs: Certs, tls_node: str
) -> None:
    context, seen = _tls12_context(certs.ca)
    client = Client(tls_node, ssl_context=context)
    request = rpc_request("hello", [b"x"])
    results: list[dict[str, Any] | Call] = []
    calls = (Call([client], request, "hello", 0, [b"x"]) for _ in range(12))
    run(iter(calls), results.append, concurrency=4, window=16)
    # a call's result is the answer's body, or a failure's record (rpccli.batch.calls)
    assert [getattr(r, "result", r) for r in results] == [b"Hello, x"] * 12, results
    assert seen and all(seen), seen


def test_tls_max_option_and_profile_key(certs: Certs, tls_node: str, tmp_path: Path) -> None:
    trust = ["--cacert", certs.ca]
    default = cli("call", "-v", *trust, tls_node, "hello")
    assert re.search(r"\* TLS: TLSv1\.3, ", default.stderr), default.stderr
    capped = cli("call", "-v", *trust, "--tls-max", "1.2", tls_node, "hello")
    assert (capped.returncode, capped.stdout) == (0, "Hello, world"), capped.stderr
    assert re.search(r"\* TLS: TLSv1\.2, ", capped.stderr), capped.stderr
    dry = cli("call", "--dry-run", *trust, "--tls-max", "1.2", tls_node, "hello")
    assert "TLS 1.2 only" in dry.stdout + dry.stderr, dry
    explain = cli("call", "--explain", *trust, "--tls-max", "1.2", tls_node, "hello").stdout
    assert "uwsgi_ssl_protocols TLSv1.2;" in explain, explain
    assert cli("call", "--tls-max", "1.1", tls_node, "hello").returncode == 2

    config = tmp_path / "config.toml"
    config.write_text(
        f'[nodes.old]\naddress = "{tls_node}"\ncacert = "{certs.ca}"\ntls_max = "1.2"\n'
    )
    env = {"RPCCLI_CONFIG": str(config)}
    done = cli("call", "-v", "old", "hello", env=env)
    assert done.returncode == 0 and "TLSv1.2" in done.stderr, done.stderr
    config.write_text(f'[nodes.old]\naddress = "{tls_node}"\ntls_max = "1.1"\n')
    bad = cli("call", "old", "hello", env=env)
    assert bad.returncode != 0 and "tls_max must be one of 1.2, 1.3" in bad.stderr, bad.stderr


def test_uwsgi_takes_p256_only_so_tls13_starts_with_a_hello_retry(tls_node: str) -> None:
    """uWSGI 2.0.21 sets P-256 as its only ECDHE group: OpenSSL's client sends an X25519 key
    share first, so every TLS 1.3 handshake (resumed ones too) takes a HelloRetryRequest and a
    second ClientHello (docs/tls.md#cost)."""
    openssl = require("openssl")
    target = tls_node.removeprefix("tls:")

    def client_hellos(*groups: str) -> int:
        done = subprocess.run(
            [openssl, "s_client", "-connect", target, "-msg", "-tls1_3", *groups],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=15,
        )
        return done.stdout.count(", ClientHello")

    assert client_hellos() == 2
    assert client_hellos("-groups", "P-256") == 1
