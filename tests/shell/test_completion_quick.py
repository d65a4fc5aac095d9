"""TAB's quick path (rpccli.completion.quick) answers exactly what click's path answers, byte for
byte, over a matrix of command lines in bash, zsh and fish -- hostile names from a node's listing,
nodes used before, profiles, the default node, quotes the user opened -- and a real TAB process
that takes it never imports click."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpccli import names
from rpccli.completion.quick import answer
from tests.hostile.test_completion_hostile import ODD_NAMES, UNSAFE_ENTRIES, UNSAFE_NAMES
from tests.peers import ROOT

NODE = "127.0.0.1:1"
GROUP = "127.0.0.1:1,127.0.0.1:2"
#: what the user has typed before the word under the cursor: each with every word of TYPED
BEFORE = ["rpccli call ", f"rpccli call {NODE} ", f"rpccli call '{NODE}' "]
#: more lines: each with the words of SHORT (the hostile names are NODE's)
MORE = [
    f"rpccli call {GROUP} ",
    "rpccli call prod ",
    "rpccli call . ",
    "rpccli call '' ",
    "rpccli call a;touch ",
    "rpccli  call   127.0.0.1:2   ",
    # click's: options, more words, other commands
    f"rpccli call -t 3 {NODE} ",
    f"rpccli call --local f.py {NODE} ",
    f"rpccli call {NODE} hello ",
    f"rpccli call -- {NODE} ",
    f"rpccli --traceback call {NODE} ",
    "rpccli ",
    f"rpccli signal {NODE} ",
    # NODE first, as after call
    "rpccli shell ",
    "rpccli signal ",
    "rpccli functions ",
    "rpccli ls ",
]
#: the word under the cursor, as typed
TYPED = sorted(
    {typed for typed, _ in ODD_NAMES}
    | {typed for typed, _ in UNSAFE_ENTRIES}
    | {"", "h", "1", "127", "127.0.0.1:", "pr", "a", "x", "-", "--r", "--output=p", "="}
    | {"'", '"', "$'hel", "sub$(tou", '"sub$(tou', "sub$", "bs\\", "co:l", "z", "uni"}
)
SHORT = ["", "h", "t", "d", "b", "'", '"', "'d", "z", "co:l", "127.0.0.1:"]
SHORT += ["$'hel", "bs\\", "-", "="]
#: (before, typed): every line the matrix compares
MATRIX = [(b, t) for b in BEFORE for t in TYPED] + [(b, t) for b in MORE for t in SHORT]


@pytest.fixture
def state(xdg_dirs: dict[str, Path]) -> Iterator[None]:
    """Hostile listings and learned names and nodes, profiles and a default node."""
    listing = [n for _, n in ODD_NAMES] + UNSAFE_NAMES
    listing += [e.decode("utf-8", "surrogateescape") for _, e in UNSAFE_ENTRIES]
    names.store_listing(NODE, [*listing, "hello", "hellolua", "upper", "x" * 255])
    names.store_listing("127.0.0.1:2", ["two", "zz:top", "back\\slash"])
    for name in ("hello", "echo", "zls"):
        names.remember(NODE, name)
    names.remember("a;touch${IFS}PWNED", "f")
    names.remember("127.0.0.1:3031", "hello")
    config = xdg_dirs["config"] / "rpccli"
    config.mkdir()
    (config / "config.toml").write_text(
        '[defaults]\nnode = "127.0.0.1:2"\n\n'
        '[nodes.prod]\naddress = "127.0.0.1:1"\nfunctions = ["deploy", "d:x"]\n\n'
        '[nodes.bare]\naddress = "127.0.0.1:5"\n'
    )
    yield


def _environ(shell: str, before: str, typed: str) -> dict[str, str]:
    """What completions/<script> sets for TAB after ``before + typed`` (the cursor at its end)."""
    line = before + typed
    if shell == "bash":
        return {"COMP_LINE": line, "COMP_WORDBREAKS": " \t\n\"'><=;|&(:"}
    words = before.split()  # zsh: ${words[*]} and CURRENT-1; fish: commandline -cp and -t
    if shell == "zsh":
        return {"COMP_WORDS": " ".join([*words, typed]), "COMP_CWORD": str(len(words))}
    return {"COMP_WORDS": line, "COMP_CWORD": typed}


def _click_answer(shell: str) -> bytes:
    from click.shell_completion import shell_complete

    import rpccli.completion.command  # noqa: F401  (registers rpccli's classes)
    from rpccli.app import app

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out):
        shell_complete(app, {}, "rpccli", "_RPCCLI_COMPLETE", f"{shell}_complete")
    out.flush()
    return out.buffer.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_quick_path_answers_what_click_answers(
    state: None, shell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = 0
    for before, typed in MATRIX:
        for key, value in _environ(shell, before, typed).items():
            monkeypatch.setenv(key, value)
        text = answer(f"{shell}_complete")
        if text is None:
            continue
        quick += 1
        assert (text + "\n").encode() == _click_answer(shell), (shell, before + typed)
    # the common lines (call, call NODE) take the quick path; options, '=' and others: click.
    # fish reads a lone quote after NODE as one more (empty) word, and click reads it so too
    ok = [t for t in TYPED if not t.startswith(("-", "="))]
    common = 3 * len(ok) + (6 + 4) * len([t for t in SHORT if not t.startswith(("-", "="))])
    assert quick == common - (2 * (2 + 6 + 4) if shell == "fish" else 0), quick


def test_the_quick_path_declines_what_is_clicks(state: None, monkeypatch) -> None:
    monkeypatch.setenv("COMP_WORDBREAKS", " \t\n\"'><=;|&(:")
    for line in (
        f"rpccli call -t 3 {NODE} h",
        f"rpccli call {NODE} hello @",
        f"rpccli call {NODE} --",
        "rpccli sh",
        "rpccli call =",
        "rpccli ",
    ):
        monkeypatch.setenv("COMP_LINE", line)
        assert answer("bash_complete") is None, line
    assert answer("bash_source") is None
    assert answer("tcsh_complete") is None


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_tab_process_on_the_quick_path_never_imports_click(
    state: None, shell: str, tmp_path: Path
) -> None:
    env = {**os.environ, **_environ(shell, f"rpccli call {NODE} ", "hel")}
    env.update(_RPCCLI_COMPLETE=f"{shell}_complete", PYTHONPROFILEIMPORTTIME="1")
    rpccli = Path(sys.executable).parent / "rpccli"  # the installed entry point, as TAB runs it
    done = subprocess.run([rpccli], env=env, capture_output=True, check=True, cwd=tmp_path)
    imported = {line.split("|")[-1].strip() for line in done.stderr.decode().splitlines()}
    assert "rpccli.completion.quick" in imported
    assert not {m for m in imported if m.split(".")[0] in ("click", "rich", "prompt_toolkit")}
    for key, value in _environ(shell, f"rpccli call {NODE} ", "hel").items():
        os.environ[key] = value
    try:
        assert done.stdout == _click_answer(shell)
    finally:
        for key in ("COMP_LINE", "COMP_WORDBREAKS", "COMP_WORDS", "COMP_CWORD"):
            os.environ.pop(key, None)
    assert b"hello" in done.stdout and b"hellolua" in done.stdout


# a TAB process as the program, then what it left behind: rpccli.cli skips the collections of
# the process's exit after a quick answer, which is sound only if the answer leaves no garbage
LEAN_TAB = """
import sys
from rpccli.cli import main
code = main(sys.argv[1:])  # not as the program: nothing frozen, all is seen
import gc
gc.collect(1)  # as rpccli.cli does before it freezes the rest
gc.set_debug(gc.DEBUG_SAVEALL)
gc.collect()
loaded = [m for m in ("click", "rich", "protocol.client") if m in sys.modules]
sys.stderr.write(repr((code, loaded, gc.garbage)))
"""


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_quick_tab_leaves_no_garbage_and_no_client(state: None, shell: str) -> None:
    env = {**os.environ, **_environ(shell, f"rpccli call {NODE} ", "hel")}
    env.update(_RPCCLI_COMPLETE=f"{shell}_complete")
    argv = [sys.executable, "-c", LEAN_TAB]
    done = subprocess.run(argv, env=env, capture_output=True, check=True, cwd=ROOT, timeout=30)
    assert b"hellolua" in done.stdout
    assert done.stderr.decode() == "(0, [], [])"


@pytest.mark.parametrize("config", ["[nodes.x\n", "[defaults]\nnode = 3\n", "\xff"])
def test_a_broken_config_answers_alike(
    state: None, xdg_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, config: str
) -> None:
    (xdg_dirs["config"] / "rpccli" / "config.toml").write_bytes(config.encode("latin-1"))
    for shell in ("bash", "zsh", "fish"):
        for before in ("rpccli call ", f"rpccli call {NODE} ", "rpccli call . "):
            for key, value in _environ(shell, before, "h").items():
                monkeypatch.setenv(key, value)
            text = answer(f"{shell}_complete")
            assert text is not None and (text + "\n").encode() == _click_answer(shell)
