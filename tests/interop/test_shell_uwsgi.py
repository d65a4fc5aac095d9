"""`rpccli shell NODE < script` against real uWSGI: Python and Lua functions, ping, the listing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import ROOT, Uwsgi

pytestmark = pytest.mark.interop


def run_script(node: str, script: bytes, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPCCLI_", "XDG_"))}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    return subprocess.run(
        [sys.executable, "-m", "rpccli", "shell", node],
        input=script,
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_python_and_lua_functions_ping_and_listing(uwsgi_tcp: Uwsgi, tmp_path: Path) -> None:
    script = b"hellolua a b\nanswer\n.ping\n.refresh\n.functions hell\nluafail\n"
    result = run_script(uwsgi_tcp.node, script, tmp_path)
    out = result.stdout.decode()
    assert out.startswith("args are a b42")
    assert f"{uwsgi_tcp.node}: pong in" in out
    assert "hello     listing" in out
    assert "hellolua  learned, listing" in out
    assert result.returncode == 1  # the last failed line: luafail, no result
    assert b"line 6: no result from" in result.stderr


def test_binary_answer_is_exact_in_a_pipe(uwsgi_tcp: Uwsgi, tmp_path: Path) -> None:
    result = run_script(uwsgi_tcp.node, b"big 70000\n", tmp_path)
    assert result.returncode == 0
    pattern = bytes(range(256))
    assert result.stdout == (pattern * 274)[:70000]
