"""`rpccli signal`, Client.signal and AsyncClient.signal against REAL uWSGI 2.0 with the signal
plugin: what it answers for a registered, an unregistered and any number, without the plugin
and without a master (docs/protocol.md#other-packets)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import AsyncClient, Client, NoResult
from protocol.aio import run
from tests.cli.conftest import run_cli
from tests.peers import (
    Uwsgi,
    free_port,
    require,
    short_tmpdir,
    start_uwsgi,
    stop_uwsgi,
    wait_until,
)

pytestmark = pytest.mark.interop

HANDLERS = """\
import uwsgi

def handler(num):
    with open("ran-%d" % num, "a") as out:
        out.write("ran\\n")

uwsgi.register_signal(17, "worker", handler)
uwsgi.register_rpc("hello", lambda *args: b"hi")
"""


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Empty XDG dirs (tests/conftest.py)."""


def _start(*, signal_plugin: bool = True, **kw: object) -> Uwsgi:
    workdir = short_tmpdir()
    funcs = workdir / "handlers.py"
    funcs.write_text(HANDLERS)
    extra = ["--plugins", "signal"] if signal_plugin else []
    return start_uwsgi(
        python=[funcs],
        lua=(),
        processes=1,
        extra=extra,
        workdir=workdir,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def with_plugin() -> Iterator[Uwsgi]:
    server = _start()
    yield server
    server.stop()


def _ran(server: Uwsgi, num: int) -> int:
    path = Path(server.args[server.args.index("--chdir") + 1]) / f"ran-{num}"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_registered_signal_is_queued_and_its_handler_runs(with_plugin: Uwsgi) -> None:
    before = _ran(with_plugin, 17)
    result = run_cli("signal", with_plugin.node, "17")
    assert result.code == 0, result.err
    assert result.text == f"{with_plugin.node}: signal 17 queued" + result.text.split("queued")[1]
    wait_until(lambda: _ran(with_plugin, 17) == before + 1, timeout=10, what="the handler")


def test_an_unregistered_signal_is_queued_too_and_only_logged(with_plugin: Uwsgi) -> None:
    # the node's answer cannot tell: `ff 00 00 01` either way; the worker logs the miss
    assert Client(with_plugin.node).signal(18).signal == 18
    assert run(AsyncClient(with_plugin.node).signal(255)).node == with_plugin.node
    wait_until(
        lambda: "error managing signal 255 on worker 1" in with_plugin.log_text(),
        timeout=10,
        what="the log line",
    )
    assert "error managing signal 18 on worker 1" in with_plugin.log_text()
    assert _ran(with_plugin, 18) == 0


def test_json_and_the_uwsgi_client_agree(with_plugin: Uwsgi) -> None:
    result = run_cli("signal", "--json", with_plugin.node, "0")
    assert result.code == 0
    assert b'"signal": 0, "ok": true' in result.out
    binary = require("uwsgi")
    own = subprocess.run(
        [binary, "--plugins", "signal", "--signal", f"{with_plugin.node},17"],
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert own.returncode == 0 and f"signal 17 delivered to node {with_plugin.node}" in own.stderr


@pytest.mark.parametrize("num", ["256", "-1", "x", "1.5"])
def test_a_number_outside_0_to_255_is_refused_before_sending(num: str) -> None:
    # no node listens there: exit 2, not 3, proves nothing was sent
    result = run_cli("signal", f"127.0.0.1:{free_port()}", "--", num)
    assert result.code == 2, result.err
    assert "0..255" in result.err or "0 to 255" in result.err


def test_without_the_signal_plugin_the_0_byte_close_is_exit_1() -> None:
    server = _start(signal_plugin=False)
    try:
        result = run_cli("signal", server.node, "17")
        assert result.code == 1
        assert "no answer to signal 17" in result.err and "--plugins signal" in result.err
        wait_until(
            lambda: "unavailable modifier requested: 110" in server.log_text(), what="the log"
        )
    finally:
        server.stop()


def test_without_a_master_the_node_answers_not_queued() -> None:
    binary = require("uwsgi")
    workdir = short_tmpdir()
    # register_signal itself fails without a master ("you cannot register signals without a
    # master", ValueError): this file registers only a function
    (workdir / "handlers.py").write_text(
        'import uwsgi\nuwsgi.register_rpc("hello", lambda *args: b"hi")\n'
    )
    node = f"127.0.0.1:{free_port()}"
    args = [binary, "--plugins", "rpc,python3,ping,signal", "--socket", node]
    args += ["--processes", "1", "--die-on-term", "--chdir", str(workdir)]
    args += ["--import", str(workdir / "handlers.py")]
    with (workdir / "uwsgi.log").open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            try:
                return Client(node, timeout=1).call("hello") == b"hi"
            except Exception:
                return False

        wait_until(ready, what="uwsgi without a master")
        with pytest.raises(NoResult, match=f"{node} did not queue signal 17"):
            Client(node).signal(17)
        result = run_cli("signal", node, "17")
        assert result.code == 1 and "did not queue" in result.err
    finally:
        stop_uwsgi(proc)


def test_a_group_fans_out_with_all(with_plugin: Uwsgi) -> None:
    refused = f"127.0.0.1:{free_port()}"
    result = run_cli("signal", "-s", "all", f"{with_plugin.node},{refused}", "17")
    assert result.code == 6
    assert f"{with_plugin.node}: signal 17 queued" in result.text
    assert refused in result.err
    both = run_cli("signal", "-s", "all", f"{with_plugin.node},{with_plugin.node}", "17")
    assert both.code == 0 and both.text.count("queued") == 1  # a node named twice: once
    # without -s all, a group fails over from a refused node to the next
    first = run_cli("signal", f"{refused},{with_plugin.node}", "17")
    assert first.code == 0 and first.text.startswith(f"{with_plugin.node}: signal 17 queued")


def test_the_shell_signals_too(with_plugin: Uwsgi) -> None:
    result = run_cli("shell", with_plugin.node, input=".signal 17\n.signal 256\n")
    assert f"{with_plugin.node}: signal 17 queued" in result.text
    assert "0..255" in result.err
    assert result.code == 2
