"""What ``rpccli batch`` imports before its calls (docs/batch.md#speed): a batch over plain TCP
never loads ssl, protocol.tls or concurrent.futures (with logging and queue), a good part of
its start-up; a TLS node still works (tests/interop/test_tls.py runs batch over TLS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOT_NEEDED = ("ssl", "protocol.tls", "concurrent.futures", "logging")

# the coordinator runs the whole batch in this process (its lanes are forks), then says what
# it imported
SCRIPT = """
import sys
from rpccli.cli import main
code = main(["batch", "-c", "4", "--lanes", sys.argv[2], sys.argv[1]])
sys.stderr.write("loaded: " + " ".join(m for m in sys.argv[3:] if m in sys.modules) + "\\n")
sys.exit(code)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RPCCLI_")}
    clean.update(XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_STATE_HOME=str(tmp_path / "s"))
    return clean


@pytest.mark.parametrize("lanes", ["1", "2"])
def test_a_plain_tcp_batch_imports_no_tls_and_no_thread_pool(
    bundled_node: str, env: dict[str, str], lanes: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, bundled_node, lanes, *NOT_NEEDED],
        input=b"hello a\nupper b\n" * 20,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(b'"ok": true') == 40
    assert b"loaded: \n" in proc.stderr, proc.stderr


def test_the_engine_learns_tls_sockets_only_when_a_node_uses_tls() -> None:
    code = (
        "import sys\n"
        "import rpccli.batch.tlsstate as t\n"
        "assert 'ssl' not in sys.modules and t.WOULD_BLOCK == (BlockingIOError,)\n"
        "t.tls_on()\n"
        "import ssl\n"
        "assert t.SSLSocket is ssl.SSLSocket\n"
        "assert ssl.SSLWantReadError in t.WOULD_BLOCK and ssl.SSLWantWriteError in t.WOULD_BLOCK\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


# as the lean plain call's probe (tests/cli/test_fast_path.py): what the exit's collection
# would find once rpccli.cli has collected the young generations
GARBAGE_PROBE = """
import gc, sys
from rpccli.cli import main
code = main(["batch", "-c", "4", "--lanes", sys.argv[2], sys.argv[1]])
gc.collect(1)  # as rpccli.cli does before it freezes the rest
gc.set_debug(gc.DEBUG_SAVEALL)
gc.collect()
sys.stderr.write(repr((code, gc.garbage)))
"""


@pytest.mark.parametrize("lanes", ["1", "2"])
def test_a_batch_that_succeeded_leaves_no_garbage(
    bundled_node: str, env: dict[str, str], lanes: str
) -> None:
    """rpccli.cli skips the collections of a successful batch's exit (gc.freeze, as for a
    plain call): nothing with a finalizer may be left for them."""
    proc = subprocess.run(
        [sys.executable, "-c", GARBAGE_PROBE, bundled_node, lanes],
        input=b"hello a\nupper b\n" * 20,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert proc.stdout.count(b'"ok": true') == 40
    assert proc.stderr.decode().splitlines()[-1] == "(0, [])"  # after the summary line
