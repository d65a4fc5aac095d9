"""Certificates for the TLS tests, made with the openssl command: a private CA, a server
certificate for 127.0.0.1/localhost/::1, a client certificate, and the bad ones (another CA's,
an expired one, one for another host name)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.peers import free_port, require, short_tmpdir, stop_process, wait_until


@dataclass(frozen=True)
class Certs:
    dir: Path

    def __getattr__(self, name: str) -> str:
        return str(self.dir / f"{name.replace('_', '-')}.pem")


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def _ca(openssl: str, cwd: Path, name: str) -> None:
    _run(
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", "-days", "30",
        "-subj", f"/CN=rpccli test {name}", cwd=cwd,
    )  # fmt: skip


def _leaf(openssl: str, cwd: Path, name: str, ca: str, cn: str, san: str, days: str = "30") -> None:
    _run(
        openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=cwd,
    )  # fmt: skip
    (cwd / f"{name}.ext").write_text(f"subjectAltName={san}\n" if san else "")
    _run(
        openssl, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
        f"{ca}-key.pem", "-CAcreateserial", "-out", f"{name}.pem", "-extfile", f"{name}.ext",
        "-days", days, cwd=cwd,
    )  # fmt: skip


def make_certs(*, server_only: bool = False) -> Certs:
    """All the certificates; with ``server_only``, the CA's and the server's alone (3 openssl
    runs, not 12: bench/bench_tls.py)."""
    openssl = require("openssl")
    cwd = short_tmpdir()
    _ca(openssl, cwd, "ca")
    san = "DNS:localhost,IP:127.0.0.1,IP:::1"
    _leaf(openssl, cwd, "server", "ca", "localhost", san)
    if server_only:
        return Certs(cwd)
    _ca(openssl, cwd, "other-ca")
    _leaf(openssl, cwd, "client", "ca", "rpccli client", "")
    _leaf(openssl, cwd, "stranger", "other-ca", "stranger", san)
    _leaf(openssl, cwd, "wrong-host", "ca", "elsewhere.example", "DNS:elsewhere.example")
    _expired(openssl, cwd)
    return Certs(cwd)


def _expired(openssl: str, cwd: Path) -> None:
    """A server certificate that expired in 2020 (openssl ca takes explicit dates)."""
    _run(
        openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "expired-key.pem", "-out", "expired.csr", "-subj", "/CN=localhost", cwd=cwd,
    )  # fmt: skip
    (cwd / "index.txt").write_text("")
    (cwd / "ca.cnf").write_text(
        "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=ca.srl\n"
        "policy=p\ndefault_md=sha256\ncopy_extensions=copy\nunique_subject=no\n"
        "[p]\ncommonName=supplied\n[x]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    _run(
        openssl, "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile",
        "ca-key.pem", "-in", "expired.csr", "-out", "expired.pem", "-startdate",
        "20200101000000Z", "-enddate", "20200201000000Z", "-extensions", "x", "-notext",
        cwd=cwd,
    )  # fmt: skip


@contextmanager
def serve_tls(certs: Certs, *options: str) -> Iterator[str]:
    """``rpccli serve`` on a ``tls:`` bind that requires client certificates signed by the CA
    (``options`` added to its command line); yields the node once a TLS ping answers."""
    from protocol import Client
    from protocol.tls import client_context

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rpccli", "serve", "-q", "--bind", f"tls:127.0.0.1:{port}", *options,
         "--tls-cert", certs.server, "--tls-key", certs.server_key, "--tls-client-ca", certs.ca],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    node = f"tls:127.0.0.1:{port}"
    context = client_context(cafile=certs.ca, certfile=certs.client, keyfile=certs.client_key)

    def ready() -> bool:
        try:
            Client(node, ssl_context=context, timeout=1).ping()
        except Exception:
            return False
        return True

    try:
        wait_until(ready, what="rpccli serve")
        yield node
    finally:
        stop_process(proc, 2)
