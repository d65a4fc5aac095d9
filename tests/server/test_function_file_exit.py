"""A function file that raises SystemExit while loading: one line, exit 2, for --local and serve
(exit 3 would say "cannot connect", docs/serve.md#the-uwsgi-api)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.peers import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rpccli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_local_file_that_exits_while_loading(tmp_path: Path) -> None:
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nimport uwsgi\nsys.exit(3)\n")
    for args in (["call", "--local", str(exits), "hello"], ["serve", str(exits)]):
        done = run(*args)
        assert done.returncode == 2, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "exited while loading (SystemExit(3))" in lines[0]
        assert str(exits) in lines[0]


def test_uwsgidecorators_only_inside_the_loading_process(tmp_path: Path) -> None:
    uses = tmp_path / "uses.py"
    uses.write_text(
        "from uwsgidecorators import rpc\n\n@rpc('twice')\ndef twice(x):\n    return x * 2\n"
    )
    done = run("call", "--local", str(uses), "twice", "ab")
    assert (done.returncode, done.stdout) == (0, "abab"), done
    probe = "import importlib.util as u; print(u.find_spec('uwsgidecorators'))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout == (
        "None\n"
    )
