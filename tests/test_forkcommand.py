"""tests/forkcommand.py's warm command behaves as the cold script it stands for: the same argv
(any bytes), environment, directory, standard streams, exit code and ending signal; its
launcher (tests/launcher.c) passes signals on, and writes ``FORKCOMMAND_STATUS`` without
passing it on."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.forkcommand import forked_command

SCRIPT = """\
import os, signal, sys, time
if sys.argv[1:2] == ["sleep"]:
    print("asleep", flush=True)
    time.sleep(30)
if sys.argv[1:2] == ["kill"]:
    os.kill(os.getpid(), signal.SIGTERM)
data = sys.stdin.buffer.read()
sys.stdout.buffer.write(repr((sys.argv[1:], os.getcwd(), os.environ.get("PROBE"),
                              "FORKCOMMAND_STATUS" in os.environ, data)).encode())
print("to stderr", file=sys.stderr)
sys.exit(int(os.environ.get("CODE", "0")))
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("script") / "probe.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture(scope="module")
def warm(script: Path) -> Iterator[Path]:
    with forked_command(script) as command:
        yield command


def _both(script: Path, warm: Path, args: list[bytes], **options: Any) -> None:
    cold = subprocess.run([sys.executable, script, *args], capture_output=True, **options)
    forked = subprocess.run([warm, *args], capture_output=True, **options)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        cold.returncode,
        cold.stdout,
        cold.stderr,
    )


def test_argv_environment_directory_streams_and_code_are_the_cold_ones(
    script: Path, warm: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PROBE": "a b=c \u00e9", "CODE": "3"}
    args = [b"plain", b"", b"two words", b"\xff\xfe not utf-8", "\u00e9".encode()]
    _both(script, warm, args, input=b"stdin \x00 bytes", env=env, cwd=tmp_path)


def test_an_ending_signal_is_the_cold_one(script: Path, warm: Path) -> None:
    _both(script, warm, [b"kill"], input=b"")
    forked = subprocess.run([warm, "kill"], input=b"")
    assert forked.returncode == -signal.SIGTERM


def test_the_status_file_is_written_and_not_passed_on(warm: Path, tmp_path: Path) -> None:
    status = tmp_path / "status"
    env = {**os.environ, "FORKCOMMAND_STATUS": str(status), "CODE": "7"}
    done = subprocess.run([warm], input=b"", capture_output=True, env=env)
    assert done.returncode == 7
    assert status.read_text() == "7\n"
    assert done.stdout.endswith(b"False, b'')")  # the run did not see the variable
    env["CODE"] = "0"
    subprocess.run([warm, "kill"], input=b"", env=env)
    assert status.read_text() == f"{128 + signal.SIGTERM}\n"


def _interrupted(argv: list[str | Path]) -> int:
    """SIGINT to the process once its script is running; the exit code."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"asleep\n"
    proc.send_signal(signal.SIGINT)
    # the end of the output: the run (which holds the launcher's stdout) has ended too, not
    # after its 30 s sleep
    assert select.select([proc.stdout], [], [], 10)[0], "the run did not get the signal"
    assert proc.stdout.read() == b""
    proc.stdout.close()
    return proc.wait(10)


def test_a_signal_to_the_launcher_reaches_the_run(script: Path, warm: Path) -> None:
    cold = _interrupted([sys.executable, script, "sleep"])
    assert cold == -signal.SIGINT  # an uncaught KeyboardInterrupt ends the interpreter so
    assert _interrupted([warm, "sleep"]) == cold
