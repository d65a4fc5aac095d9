"""Shell completion: the checked-in scripts are current, `rpccli completion` prints them, TAB
never imports rich or prompt_toolkit nor touches the network, and bash really completes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from click.testing import CliRunner

from rpccli import names
from rpccli.cli import app
from rpccli.completion import SHELLS, script
from tests.forkcommand import rpccli_command
from tests.forkrun import rpccli_forks
from tests.peers import ROOT

COMPLETIONS = ROOT / "completions"


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_checked_in_script_is_current(shell: str) -> None:
    path = COMPLETIONS / SHELLS[shell]
    assert path.read_text() == script(shell), (
        f"{path} is stale: regenerate it with `rpccli completion {shell} > {path}`"
    )


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_completion_command_prints_the_script(shell: str) -> None:
    result = CliRunner().invoke(app, ["completion", shell])
    assert result.exit_code == 0
    assert result.output == (COMPLETIONS / SHELLS[shell]).read_text()


def test_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["completion", "tcsh"])
    assert result.exit_code == 2


def _tab_env(line: str, shell: str) -> dict[str, str]:
    """What the generated scripts pass to rpccli on TAB."""
    env = {**os.environ, "_RPCCLI_COMPLETE": f"{shell}_complete"}
    if shell == "bash":  # what completions/rpccli.bash passes
        env.update(COMP_LINE=line, COMP_WORDBREAKS="\"'><=;|&(:")
    else:
        words = line.split()
        env.update(COMP_WORDS=line, COMP_CWORD=str(len(words) - (0 if line.endswith(" ") else 1)))
    return env


def _tab(line: str, shell: str = "bash") -> subprocess.CompletedProcess[str]:
    """A cold TAB: exactly what the generated scripts run, plus a report of what got imported
    (only a cold process shows that: for the tests of a light TAB)."""
    code = (
        "import sys\n"
        "from rpccli.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('rich', 'prompt_toolkit', 'asyncio', 'pygments')\n"
        "sys.stderr.write('IMPORTED ' + ' '.join(m for m in heavy if m in sys.modules))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=_tab_env(line, shell),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )


def _tab_warm(line: str, shell: str = "bash") -> str:
    """What TAB offers for ``line`` (stdout), forked from tests/forkrun.py's warm server: for
    tests of what completion offers, not of what it imports."""
    result = rpccli_forks().run([], _tab_env(line, shell), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_tab_for_function_names_is_local_and_light(xdg_dirs) -> None:
    # 127.0.0.1:1 refuses connections: any network use would fail, yet names complete
    names.remember("127.0.0.1:1", "hello")
    names.store_listing("127.0.0.1:1", ["hellolua", "upper"])
    result = _tab("rpccli call 127.0.0.1:1 hel")
    assert result.stdout.split() == ["plain,hello", "plain,hellolua"]
    assert result.stderr.strip() == "IMPORTED"


def test_tab_for_node_offers_profiles(xdg_dirs) -> None:
    config = xdg_dirs["config"] / "rpccli"
    config.mkdir()
    (config / "config.toml").write_text('[nodes.prod]\naddress = "127.0.0.1:2"\n')
    for command in ("call", "shell"):
        result = _tab(f"rpccli {command} pr")
        assert result.stdout.split() == ["plain,prod"]
        assert result.stderr.strip() == "IMPORTED"


def test_bash_values_are_cut_after_the_last_colon(xdg_dirs) -> None:
    # bash replaces only the text after the word break ':'; it keeps "127.0.0.1:"
    names.remember("127.0.0.1:3031", "hello")
    assert _tab_warm("rpccli call 127.0.0.1:30").split() == ["plain,3031"]
    assert _tab_warm("rpccli call 127.0.0.1:3031 ").split() == ["plain,hello"]


def test_bash_option_values_after_an_equals_sign(xdg_dirs) -> None:
    # '=' is a word break too: bash keeps "--output=" and replaces what follows
    assert _tab_warm("rpccli call --output=p").split() == ["plain,pretty"]
    assert _tab_warm("rpccli call -o p").split() == ["plain,pretty"]


def test_zsh_protocol_carries_the_source(xdg_dirs) -> None:
    names.remember("127.0.0.1:1", "hello")
    result = _tab_warm("rpccli call 127.0.0.1:1 h", shell="zsh")
    assert result.split("\n")[:3] == ["plain", "hello", "learned"]


def test_real_bash_completes_a_function_name(xdg_dirs, tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    names.store_listing("127.0.0.1:1", ["hello_from_listing", "upper"])
    bin_dir = rpccli_command().parent  # the warm rpccli: TAB's answer, not its start, is tested
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TERM": "dumb",
        "XDG_STATE_HOME": os.environ["XDG_STATE_HOME"],
        "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],
        "PS1": "$ ",
    }
    child = pexpect.spawn(
        bash, ["--norc", "--noprofile"], env=env, encoding="utf-8", timeout=60, cwd=str(ROOT)
    )
    try:
        child.expect_exact("$ ")
        child.sendline(f"source {COMPLETIONS / 'rpccli.bash'}")
        child.expect_exact("$ ")
        child.send("rpccli call 127.0.0.1:1 hello_f\t")
        child.expect_exact("hello_from_listing ")
        child.send("\x15")  # Ctrl-U: drop the line
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def _tab_in(line: str, cwd: Path) -> list[str]:
    """What TAB offers for ``line``, run in ``cwd``: the words of the bash protocol (forked from
    tests/forkrun.py's warm server)."""
    env = {**os.environ, "_RPCCLI_COMPLETE": "bash_complete", "COMP_LINE": line}
    env["COMP_WORDBREAKS"] = "\"'><=;|&(:"
    return rpccli_forks().run([], env, cwd=cwd).stdout.decode().split()


def test_tab_after_local_offers_the_files_functions_without_running_it(tmp_path: Path) -> None:
    from tests.conftest import EXAMPLE_FUNCTIONS

    py = tmp_path / "f.py"
    py.write_text(
        "import uwsgi\nopen('ran', 'w')\n"
        "def a(): return b'a'\n"
        "for fn in (a,):\n    uwsgi.register_rpc(fn.__name__, fn)\n"
        "uwsgi.register_rpc('second', a)\nuwsgi.register_rpc(b'third', a)\n"
    )
    assert _tab_in(f"rpccli call --local {py} ", tmp_path) == [
        "plain,a",
        "plain,second",
        "plain,third",
    ]
    assert not (tmp_path / "ran").exists()
    assert _tab_in(f"rpccli call --local {EXAMPLE_FUNCTIONS} he", tmp_path) == ["plain,hello"]
    lua = EXAMPLE_FUNCTIONS.with_suffix(".lua")
    assert _tab_in(f"rpccli call --local {lua} ", tmp_path) == [
        "plain,answer",
        "plain,hellolua",
        "plain,luafail",
    ]


def test_tab_completes_file_arguments_after_at(tmp_path: Path) -> None:
    (tmp_path / "rnd.bin").write_bytes(b"x")
    (tmp_path / "rdir").mkdir()
    (tmp_path / "rdir" / "in.txt").write_text("x")
    (tmp_path / ".rhidden").write_text("x")
    assert _tab_in("rpccli call :1 echo a @r", tmp_path) == ["plain,@rdir/", "plain,@rnd.bin"]
    assert _tab_in("rpccli call :1 echo @rdir/", tmp_path) == ["plain,@rdir/in.txt"]
    assert _tab_in("rpccli call --local f.py echo @rn", tmp_path) == ["plain,@rnd.bin"]
    assert _tab_in("rpccli call :1 echo @@r", tmp_path) == []
