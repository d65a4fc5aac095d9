"""The two commonest first-day causes of no result, on real uWSGI (issue 15, item 4;
docs/protocol.md#failures): a uWSGI without the rpc plugin logs
``unavailable modifier requested: 173`` for every call, and a Python 3 function that returns str
leaves no log line at all. rpccli's message names both and how to tell them apart."""

from __future__ import annotations

import socket
import subprocess
import time

from protocol.failures import NO_RESULT_CAUSES
from tests.cli.conftest import run_cli
from tests.peers import (
    PY_FUNCTIONS,
    free_port,
    require,
    short_tmpdir,
    stop_uwsgi,
    uwsgi,
    wait_until,
)


def _listening(node: str) -> bool:
    host, port = node.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_uwsgi_without_the_rpc_plugin(xdg_dirs: object) -> None:
    workdir = short_tmpdir()
    node = f"127.0.0.1:{free_port()}"
    log = workdir / "uwsgi.log"
    args = [require("uwsgi"), "--plugins", "python3", "--socket", node, "--die-on-term"]
    args += ["--import", str(PY_FUNCTIONS), "--pidfile", str(workdir / "uwsgi.pid")]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        wait_until(lambda: _listening(node), what="uwsgi without rpc")
        result = run_cli("call", node, "hello")
        assert result.code == 1
        assert NO_RESULT_CAUSES in result.err and "--plugins rpc,python3" in result.err
        wait_until(lambda: "unavailable modifier requested: 173" in log.read_text(), what="log")
    finally:
        stop_uwsgi(proc)  # SIGINT stops a uWSGI in every mode


def test_a_python_function_that_returns_str(xdg_dirs: object) -> None:
    with uwsgi(lua=()) as server:
        # uWSGI answers pings while its master still logs the workers it spawns
        wait_until(lambda: "spawned uWSGI worker 2 " in server.log_text(), what="worker 2")
        before = server.log_text()
        result = run_cli("call", server.node, "text")
        assert result.code == 1 and "must return bytes" in result.err
        time.sleep(0.2)  # not a timed assertion: gives a log line the time to appear
        assert server.log_text() == before  # nothing logged: only the message can say it
