"""TLS against real uWSGI (--suwsgi-socket), rpccli serve --tls-cert and nginx's suwsgi://,
with certificates the tests make (tests/tlscerts.py); every error case of docs/tls.md#errors."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import Client
from protocol.aio import AsyncClient, run
from protocol.tls import client_context
from tests.forkrun import rpccli_forks
from tests.peers import Uwsgi, free_port, nginx, start_uwsgi
from tests.tlscerts import Certs, make_certs, serve_tls

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def certs() -> Certs:
    return make_certs()


def _uwsgi(certs: Certs, *, client_ca: bool, cert: str = "server") -> Iterator[tuple[Uwsgi, str]]:
    port = free_port()
    ca = f",HIGH,!{certs.ca}" if client_ca else ""
    spec = f"127.0.0.1:{port},{getattr(certs, cert)},{getattr(certs, cert + '_key')}{ca}"
    server = start_uwsgi(lua=(), extra=["--suwsgi-socket", spec])
    try:
        yield server, f"tls:127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def strict(certs: Certs) -> Iterator[tuple[Uwsgi, str]]:
    """Real uWSGI with a plain socket and a TLS one that requires a client certificate."""
    yield from _uwsgi(certs, client_ca=True)


@pytest.fixture(scope="module")
def open_tls(certs: Certs) -> Iterator[tuple[Uwsgi, str]]:
    """Real uWSGI with a TLS socket that asks for no client certificate."""
    yield from _uwsgi(certs, client_ca=False)


def cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """``python -m rpccli ARGS`` with the caller's environment, in a process of its own forked
    by tests/forkrun.py: exit code, stdout, stderr."""
    return rpccli_forks().run(args, os.environ, stdin)


def mine(certs: Certs) -> list[str]:
    return ["--cacert", certs.ca, "--cert", certs.client, "--key", certs.client_key]


def test_call_ping_batch_shell_over_tls_with_a_client_certificate(
    certs: Certs, strict: tuple[Uwsgi, str]
) -> None:
    _, node = strict
    done = cli("call", *mine(certs), node, "hello", "tls")
    assert (done.returncode, done.stdout) == (0, b"Hello, tls")
    assert cli("call", *mine(certs), node.replace("tls:", "suwsgi://"), "hello").returncode == 0
    ping = cli("ping", *mine(certs), node)
    assert ping.returncode == 0 and b"ok" in ping.stdout
    batch = cli("batch", "-c", "4", *mine(certs), node, stdin=b"hello a\nupper b\n" * 10)
    assert batch.returncode == 0, batch.stderr
    assert batch.stdout.count(b'"ok": true') == 20
    shell = cli("shell", *mine(certs), node, stdin=b"hello from-shell\n")
    assert b"Hello, from-shell" in shell.stdout, shell.stderr


def test_verbose_shows_version_cipher_peer_and_resumption(
    certs: Certs, strict: tuple[Uwsgi, str]
) -> None:
    _, node = strict
    err = cli("call", "-v", *mine(certs), node, "hello").stderr.decode()
    assert re.search(r"\* TLS: TLSv1\.[23], \S+, session new", err), err
    assert "peer certificate: commonName=localhost, expires" in err


def test_library_resumes_sessions_and_async_client_speaks_tls(
    certs: Certs, strict: tuple[Uwsgi, str]
) -> None:
    _, node = strict
    context = client_context(cafile=certs.ca, certfile=certs.client, keyfile=certs.client_key)
    client = Client(node, ssl_context=context)
    first = client.call_full("hello", ["a"])
    again = client.call_full("hello", ["b"])
    assert first.body == b"Hello, a" and again.body == b"Hello, b"
    assert first.tls is not None and not first.tls.resumed
    assert again.tls is not None and again.tls.resumed
    assert run(AsyncClient(node, ssl_context=context).call("hello", "x")) == b"Hello, x"


def test_tls_alone_verifies_against_the_system_store(open_tls: tuple[Uwsgi, str]) -> None:
    done = cli("call", open_tls[1], "hello")
    assert done.returncode == 3
    assert b"unknown CA" in done.stderr


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--cacert", "other_ca"], 3, "unknown CA"),
        (["--cacert", "ca", "--server-name", "elsewhere.example"], 3, "wrong host name"),
        (["--cacert", "ca"], 3, "requires a client certificate (give one with --cert and --key)"),
        (
            ["--cacert", "ca", "--cert", "stranger", "--key", "stranger_key"],
            3,
            "refused the client certificate",
        ),
    ],
)
def test_each_failure_is_one_line_with_its_exit_code(
    certs: Certs, strict: tuple[Uwsgi, str], extra: list[str], code: int, message: str
) -> None:
    args = [
        getattr(certs, a) if i % 2 and a != "elsewhere.example" else a for i, a in enumerate(extra)
    ]
    for command in (["call"], ["batch"]):
        stdin = b"hello\n" if command == ["batch"] else b""
        tail = [] if command == ["batch"] else ["hello"]
        done = cli(*command, *args, strict[1], *tail, stdin=stdin)
        text = (done.stderr + done.stdout).decode()
        assert message in text, text
        assert done.returncode == (code if command == ["call"] else 6)
    assert b"Traceback" not in done.stderr


def test_expired_certificate_is_named(certs: Certs) -> None:
    gen = _uwsgi(certs, client_ca=False, cert="expired")
    _, node = next(gen)
    try:
        done = cli("call", "--cacert", certs.ca, node, "hello")
        assert done.returncode == 3
        assert b"the certificate has expired" in done.stderr
    finally:
        gen.close()


def test_tls_client_to_a_plain_socket_and_plain_client_to_a_tls_socket(
    certs: Certs, strict: tuple[Uwsgi, str]
) -> None:
    server, node = strict
    wrong = cli("call", *mine(certs), f"tls:{server.node}", "hello")
    assert wrong.returncode == 3
    assert b"this looks like a plain uwsgi socket, not TLS (drop tls:)" in wrong.stderr
    plain = cli("call", node.removeprefix("tls:"), "hello")
    assert plain.returncode == 5
    assert f"this looks like a TLS socket, use {node}".encode() in plain.stderr


def test_handshake_timeout_is_exit_4_within_the_connect_timeout(certs: Certs) -> None:
    with socket.socket() as silent:  # accepts TCP (the kernel does) and never answers the hello
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        node = f"tls:127.0.0.1:{silent.getsockname()[1]}"
        done = cli("call", "--cacert", certs.ca, "--connect-timeout", "0.3", node, "hello")
        assert done.returncode == 4
        assert b"timed out after 0.3s" in done.stderr
        batch = cli("batch", "--cacert", certs.ca, "--connect-timeout", "0.3", node, stdin=b"x\n")
        assert batch.returncode == 6 and b"timed out after 0.3s" in batch.stdout


def test_insecure_warns_every_time(certs: Certs, open_tls: tuple[Uwsgi, str]) -> None:
    for _ in range(2):
        done = cli("call", "--insecure", open_tls[1], "hello")
        assert done.returncode == 0
        assert b"warning: --insecure" in done.stderr


def test_profiles_carry_tls_settings(
    certs: Certs, strict: tuple[Uwsgi, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[nodes.secure]\naddress = "{strict[1]}"\ncacert = "{certs.ca}"\n'
        f'cert = "{certs.client}"\nkey = "{certs.client_key}"\nserver_name = "localhost"\n'
    )
    monkeypatch.setenv("RPCCLI_CONFIG", str(config))
    assert cli("call", "secure", "hello").stdout == b"Hello, world"


@pytest.fixture(scope="module")
def served(certs: Certs) -> Iterator[str]:
    """rpccli serve on a tls: bind, client certificates required."""
    with serve_tls(certs) as node:
        yield node


def test_serve_tls_answers_with_and_refuses_without_a_client_certificate(
    certs: Certs, served: str
) -> None:
    assert cli("call", *mine(certs), served, "hello", "x").stdout == b"Hello, x"
    batch = cli("batch", "-c", "8", *mine(certs), served, stdin=b"upper a\n" * 30)
    assert batch.returncode == 0 and batch.stdout.count(b'"ok": true') == 30
    assert cli("call", "--cacert", certs.ca, served, "hello").returncode != 0


@pytest.mark.parametrize("peer", ["uwsgi", "serve"])
def test_nginx_suwsgi_from_explain_gives_the_same_answer(
    certs: Certs, strict: tuple[Uwsgi, str], served: str, peer: str
) -> None:
    node = strict[1] if peer == "uwsgi" else served
    # nginx checks host names only (not IPs): the certificate's name goes in --server-name
    args = [*mine(certs), "--server-name", "localhost", node]
    call = ["page", "a", "b"] if peer == "uwsgi" else ["http"]
    direct = cli("call", *args, *call).stdout
    text = cli("call", "--explain", *args, *call).stdout.decode()
    block = re.search(r"^location = /\w+ \{\n.*?^\}$", text, re.S | re.M)
    assert block is not None and "uwsgi_pass suwsgi://" in block.group(0)
    assert "uwsgi_ssl_verify on;" in block.group(0)
    path = "page" if peer == "uwsgi" else "http"
    with nginx(block.group(0)) as server:
        try:
            with urllib.request.urlopen(f"{server.base_url}/{path}", timeout=10) as response:
                body = response.read()
        except OSError:
            pytest.fail(server.error_log())
    assert body and body in direct


def test_signal_functions_and_bench_speak_tls_too(certs: Certs, served: str) -> None:
    """The commands added beside TLS take the same options: one decorator, one client factory."""
    signal = cli("signal", *mine(certs), served, "17")
    assert signal.returncode == 0 and b"signal 17 queued" in signal.stdout, signal.stderr
    listed = cli("functions", "--refresh", *mine(certs), served)
    assert listed.returncode == 0 and b"hello" in listed.stdout, listed.stderr
    bench = cli("bench", "-n", "20", "-c", "2", "--json", *mine(certs), served, "hello")
    assert bench.returncode == 0 and b'"ok": 20' in bench.stdout, bench.stdout
    # without the client certificate this server requires, none of them gets an answer
    assert cli("signal", "--cacert", certs.ca, served, "17").returncode != 0
