"""TAB never runs code a node supplies: names from a hostile ``rpc_list`` in real bash, zsh, fish.

A node's listing reaches the cache the way users get it (``.refresh`` in ``rpccli shell``); then a
real interactive shell, with the generated completion script loaded and this checkout's rpccli on
PATH, completes a prefix with TAB and runs the line with Enter. Enter runs ``rpccli`` as a shell
function that prints each word it is given (TAB still runs the real rpccli: every script starts
it through ``env``, in a process of its own, forked from a warm interpreter by
tests/forkcommand.py), so the test sees exactly the words the shell made of the line -- the listed
name, as one word, with nothing evaluated (no marker file) and nothing globbed -- without a
process per line; then ``rpccli call NODE WORD`` runs with those words (in this process, the
entry point's own code) against the node, where each odd name is a function that records its
own call, so the test sees the node called by exactly the listed name.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.server import serve_in_thread
from rpccli import names
from rpccli.cli import main
from tests.forkcommand import RPCCLI, forked_command
from tests.hostile.conftest import listing_table
from tests.peers import ROOT, free_port, require

COMPLETIONS = ROOT / "completions"
SCRIPTS = {"bash": "rpccli.bash", "zsh": "_rpccli", "fish": "rpccli.fish"}
#: what every TAB imports anyway (rpccli.completion.quick answers every line here)
TAB_PRELOAD = ("rpccli.cli", "rpccli.completion.quick", "rpccli.names", "runpy")

#: (what the user types, the name in the listing it completes to). The marker is ./PWNED.
ODD_NAMES = [
    ("hel", "hello;touch${IFS}PWNED"),
    ("sub", "sub$(touch${IFS}PWNED)"),
    ("bq", "bq`touch${IFS}PWNED`"),
    ("amp", "amp&touch${IFS}PWNED"),
    ("pip", "pipe|touch${IFS}PWNED"),
    ("gt", "gt>PWNED"),
    ("var", "var$HOME"),
    ("glo", "glob*"),  # ./globA and ./globB exist
    ("que", "que?"),  # ./queA exists
    ("cla", "class[AB]"),  # ./classA exists
    ("bra", "brace{a,b}"),
    ("par", "par(x)"),
    ("hi", "hist!!x"),
    ("\\~ro", "~root"),
    ("\\#", "#hash"),
    ("\\=l", "=ls"),
    ("it", "it's"),
    ("dq", 'dq"x'),
    ("bs", "bs\\x"),
    ("gr", "gr,x"),
    ("co", "co:lon"),
    ("uni", "uniçødé✓"),
    # typed inside a quote: the rest is written for that quote, which the shell then closes
    ("'sub", "sub$(touch${IFS}PWNED)"),
    ('"hi', "hist!!x"),
    ('"gt', "gt>PWNED"),
    ("'it", "it's"),
]
#: (what the user types, a listing entry starting with it that must never be offered). The typed
#: prefix is a function too: TAB adds nothing, so Enter calls exactly the prefix.
UNSAFE_ENTRIES = [
    ("zesc", b"zesc\x1b]0;PWNTITLE\x07"),
    ("zcls", b"zcls\x1b[2J"),
    ("zbs", b"zbs\x08b"),
    ("zbel", b"zbel\x07x"),
    ("zcsi", b"zcsi\xc2\x9b31m"),
    ("zinv", b"zinv\xff"),
    ("zdel", b"zdel\x7f"),
    ("zls", "zls\u2028x".encode()),
    ("zbidi", "zbidi\u202etxt.exe".encode()),
]
FILES = ("globA", "globB", "queA", "classA")


def _recording(calls: list[str], name: str) -> Callable[..., bytes]:
    def function(*args: bytes) -> bytes:
        calls.append(name)
        return b"called"

    return function


@dataclass
class Hostile:
    """A node whose rpc_list is hostile, its listing fetched by `rpccli shell` as users do, into
    the cache of ``env`` (HOME and XDG directories of its own)."""

    node: str
    calls: list[str]  # the names the node was called by, in order
    env: dict[str, str]
    dirs: dict[str, Path]  # the XDG config and state directories, for rpccli in this process


@contextlib.contextmanager
def hostile_node(base: Path, bin_dir: Path) -> Iterator[Hostile]:
    """The hostile node, its listing in a cache of its own; ``bin_dir`` holds the `rpccli` that
    shells started with ``env`` find on their PATH."""
    calls: list[str] = []
    entries = [n.encode() for _, n in ODD_NAMES] + [e for _, e in UNSAFE_ENTRIES]
    # a newline inside an entry only cuts it in two: both halves face the same rule
    entries.append(b"znl\nx\x1b[2J")
    functions = {n: _recording(calls, n) for _, n in ODD_NAMES}
    functions.update({p: _recording(calls, p) for p, _ in UNSAFE_ENTRIES})
    table = listing_table(b"\n".join(entries) + b"\n", **functions)
    dirs = {"config": base / "config", "state": base / "state"}
    home = base / "home"
    for path in (*dirs.values(), home):
        path.mkdir()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(dirs["config"]),
        "XDG_STATE_HOME": str(dirs["state"]),
        "XDG_DATA_HOME": str(home / "data"),
        "HISTFILE": "/dev/null",
    }
    with serve_in_thread(table, ("127.0.0.1:0",)) as server:
        node = str(server.node)
        subprocess.run(
            [str(bin_dir / "rpccli"), "shell", node],
            input=b".refresh\n",
            env=env,
            capture_output=True,
            timeout=60,
            check=True,
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
            assert ODD_NAMES[0][1] in names.known_names(node)  # the listing is in the cache
        yield Hostile(node, calls, env, dirs)


class Terminal:
    """An interactive shell in a pty, rpccli's completion script loaded, prompts numbered."""

    def __init__(self, shell: str, env: dict[str, str], cwd: Path) -> None:
        script = COMPLETIONS / SCRIPTS[shell]
        self.number = 100
        if shell == "bash":
            argv = ["--norc", "--noprofile", "-i"]
            setup = (
                f"source {script}; PROMPT_COMMAND='N=$((N+1))'; PS1='[$N]> '; PS2='CO''NT> '; N=100"
            )
        elif shell == "zsh":
            argv = ["-f", "-i"]
            setup = (
                f"autoload -U compinit; compinit -D; source {script}; unsetopt promptsp; "
                "setopt promptsubst; precmd() { N=$((N+1)) }; PS1='[$N]> '; PS2='CO''NT> '; "
                "N=100"
            )
        else:
            argv = ["--no-config", "-i"]
            setup = (
                "function fish_prompt; printf '[%s]> ' $N; end; "
                "function _count --on-event fish_postexec; set -g N (math $N + 1); end; "
                f"source {script}; set -g N 100"
            )
        self.child = pexpect.spawn(
            require(shell),
            argv,
            env={**env, "TERM": "xterm" if shell == "fish" else "dumb"},
            cwd=str(cwd),
            encoding="utf-8",
            codec_errors="replace",
            timeout=60,
            dimensions=(50, 300),
        )
        # no pause before each key: the test waits for each prompt, and the shell queues keys
        # typed while a completion runs (the pause never covered that wait anyway)
        self.child.delaybeforesend = None
        self.shell = shell
        self.child.expect(r"[#$%>] ")  # the shell's own first prompt: it reads input now
        self.child.sendline(setup)
        self._next_prompt()

    def _next_prompt(self) -> str:
        self.number += 1
        index = self.child.expect_exact([f"[{self.number}]> ", "CONT> "])
        if index == 1:
            raise AssertionError(f"the line was left open: {self.child.before!r}")
        return str(self.child.before)

    def tab_enter(self, line: str, *more: str) -> str:
        """Type ``line`` and each of ``more``, each followed by TAB, then Enter; return what the
        terminal showed."""
        for part in (line, *more):
            self.child.send(part + "\t")
        self.child.send("\r")
        return self._next_prompt()

    @contextlib.contextmanager
    def printing(self) -> Iterator[None]:
        """While this lasts, ``rpccli`` typed at the prompt is a shell function that prints each
        word it is given on a line of its own (``<<WORD>>``) and runs nothing. TAB still runs
        the real rpccli: each completion script starts it through ``env``, which never sees a
        shell function."""
        if self.shell == "fish":
            define, drop = "function rpccli; printf '<<%s>>\\n' $argv; end", "functions -e rpccli"
        else:
            define, drop = "rpccli() { printf '<<%s>>\\n' \"$@\"; }", "unset -f rpccli"
        self.child.sendline(define)
        self._next_prompt()
        try:
            yield
        finally:
            self.child.sendline(drop)
            self._next_prompt()

    def tab_enter_words(self, line: str) -> tuple[list[str], str]:
        """Type ``line``, TAB, Enter (inside :meth:`printing`); return the words the shell passed
        to ``rpccli``, and what the terminal showed."""
        screen = self.tab_enter(line)
        return re.findall(r"<<(.*?)>>\r?\n", screen), screen

    def close(self) -> None:
        self.child.close(force=True)


@pytest.fixture(scope="module")
def rpccli_bin() -> Iterator[Path]:
    """A directory whose `rpccli` runs this checkout's console script, each run a process of
    its own forked from one interpreter that imported what every TAB imports: a cold start per
    TAB cost twice the CPU (tests/forkcommand.py)."""
    with forked_command(RPCCLI, TAB_PRELOAD) as command:
        yield command.parent


@pytest.fixture(scope="module", params=["bash", "zsh", "fish"])
def shell(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, rpccli_bin: Path
) -> Iterator[tuple[Terminal, Hostile]]:
    """One interactive shell of each kind and its hostile node, shared by the tests of that
    shell (tests/conftest.py runs them in one process): a shell starts once, not per test.
    Each test starts at a fresh prompt with no call recorded; what one test adds to the cache
    (names learned from its calls, a node group) is never a prefix another test types."""
    base = tmp_path_factory.mktemp(request.param)
    cwd = base / "cwd"
    cwd.mkdir()
    for name in FILES:
        (cwd / name).write_text("x")
    with hostile_node(base, rpccli_bin) as hostile:
        term = Terminal(request.param, hostile.env, cwd)
        try:
            yield term, hostile
        finally:
            term.close()


@pytest.fixture
def terminal(
    shell: tuple[Terminal, Hostile], monkeypatch: pytest.MonkeyPatch
) -> tuple[Terminal, Hostile]:
    """The shell of this test's kind; rpccli in this process reads and writes its cache."""
    term, hostile = shell
    hostile.calls.clear()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(hostile.dirs["config"]))
    monkeypatch.setenv("XDG_STATE_HOME", str(hostile.dirs["state"]))
    return term, hostile


def _clean(cwd: Path) -> None:
    assert sorted(p.name for p in cwd.iterdir()) == sorted(FILES), "a name made or removed files"


def _call(hostile: Hostile, words: list[str]) -> list[str]:
    """``rpccli WORDS...`` run by the entry point in this process: the functions it called."""
    hostile.calls.clear()
    with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
        assert main(words) == 0, words
    return list(hostile.calls)


def test_tab_then_enter_calls_exactly_the_listed_name(terminal: tuple[Terminal, Hostile]) -> None:
    term, hostile = terminal
    cwd = Path(term.child.cwd or ".")
    with term.printing():
        for typed, name in ODD_NAMES:
            words, screen = term.tab_enter_words(f"rpccli call {hostile.node} {typed}")
            assert words == ["call", hostile.node, name], f"{typed!r}<TAB> gave {words}: {screen!r}"
            _clean(cwd)
            assert _call(hostile, words) == [name]
            _clean(cwd)


def test_a_node_group_completes_whole_then_the_names_of_its_nodes(
    terminal: tuple[Terminal, Hostile],
) -> None:
    # fish cut every answer at its first comma: a node group lost all but its first node
    term, hostile = terminal
    down = f"127.0.0.1:{free_port()}"  # refused: the call fails over to the hostile node
    names.remember(f"{down},{hostile.node}", "echo")  # as `rpccli call` does after a success
    term.tab_enter(f"rpccli call {down},", " bs")
    assert hostile.calls == ["bs\\x"]


def test_unsafe_entries_are_never_offered(terminal: tuple[Terminal, Hostile]) -> None:
    term, hostile = terminal
    cwd = Path(term.child.cwd or ".")
    with term.printing():
        for typed, entry in UNSAFE_ENTRIES:
            words, screen = term.tab_enter_words(f"rpccli call {hostile.node} {typed}")
            assert words == ["call", hostile.node, typed], (
                f"{typed!r}<TAB> offered {entry!r}: {words}"
            )
            assert "PWNTITLE" not in screen and "\x1b]0;P" not in screen
            _clean(cwd)
            assert _call(hostile, words) == [typed]


# -- the rule, without a terminal ------------------------------------------------------------

#: names a shell cannot hold safely (or that `rpccli call` would read as an option)
UNSAFE_NAMES = [
    "a\x1b]0;t\x07",
    "a\x1b[2J",
    "a\x08b",
    "a\x07",
    "a\x7f",
    "a\x00b",
    "a\tb",
    "a\nb",
    "a\rb",
    "a b",
    "a\x85b",  # NEL (C1)
    "a\x9b31m",  # CSI (C1)
    "a\xa0b",  # no-break space
    "a\u2028b",  # line separator
    "a\u3000b",  # ideographic space
    "a\u202eb",  # right-to-left override
    "a\udcff",  # an undecodable byte, as Python keeps it
    "--local=/tmp/x.py",
    "-v",
    "x" * 256,
    "é" * 128,  # 256 bytes
    "",
]
#: names a shell can hold once quoted: all offered, each as itself
ODD_BUT_SAFE = [*dict.fromkeys(n for _, n in ODD_NAMES), "x" * 255, "é" * 127, "a-b", "日本"]


def _names_file(xdg_dirs: dict[str, Path]) -> Path:
    (path,) = (xdg_dirs["state"] / "rpccli" / "names").glob("*.json")
    return path


def test_listing_parse_and_store_keep_only_names_a_shell_can_hold(xdg_dirs) -> None:
    import json

    every = UNSAFE_NAMES + ODD_BUT_SAFE
    assert names.parse_listing(json.dumps(every).encode()) == ODD_BUT_SAFE
    lines = b"\n".join(n.encode("utf-8", "surrogateescape") for n in every if "\n" not in n)
    parsed = names.parse_listing(lines + b"\nok\xff\n\xc2\x9b\n")
    assert [n for n in parsed if n in ODD_BUT_SAFE] == ODD_BUT_SAFE
    assert all(n.isprintable() and " " not in n and not n.startswith("-") for n in parsed)
    names.store_listing("127.0.0.1:1", every)
    for name in UNSAFE_NAMES:
        names.remember("127.0.0.1:1", name)
    assert list(names.known_names("127.0.0.1:1")) == sorted(ODD_BUT_SAFE)


def test_a_cache_file_edited_by_someone_else_offers_nothing_unsafe(xdg_dirs) -> None:
    import json

    import click

    names.store_listing("127.0.0.1:1", ["ok"])
    path = _names_file(xdg_dirs)
    data = json.loads(path.read_text())
    data["listing"] += UNSAFE_NAMES
    data["learned"] = {name: 1 for name in UNSAFE_NAMES}
    path.write_text(json.dumps(data))
    assert names.known_names("127.0.0.1:1") == {"ok": "listing"}
    ctx = click.Context(click.Command("call"))
    ctx.params["node"] = "127.0.0.1:1"
    assert [i.value for i in names.complete_function(ctx, None, "")] == ["ok"]


def test_learned_nodes_are_offered_only_when_safe_and_quoted(xdg_dirs) -> None:
    import json

    names.remember("a;touch${IFS}PWNED", "f")
    names.remember("127.0.0.1:2", "f")
    for path in (xdg_dirs["state"] / "rpccli" / "names").glob("*.json"):
        data = json.loads(path.read_text())
        if data["node"] == "127.0.0.1:2":  # a state file rewritten behind rpccli's back
            data["node"] = "a\x1b]0;PWNED\x07"
            path.write_text(json.dumps(data))
    assert [i.value for i in names.complete_node(None, None, "a")] == ["a;touch${IFS}PWNED"]
    assert _bash_answer("rpccli call a") == ["plain,a\\;touch\\$\\{IFS\\}PWNED"]


def test_bash_gets_nothing_where_the_word_would_expand(xdg_dirs) -> None:
    names.store_listing("127.0.0.1:1", ["hello;touch${IFS}PWNED", "sub$(touch${IFS}PWNED)"])
    # inside $'...' bash decodes escapes; after an open $( the rest would become a command
    assert _bash_answer("rpccli call 127.0.0.1:1 $'hel") == []
    assert _bash_answer("rpccli call 127.0.0.1:1 sub$(tou") == []
    assert _bash_answer('rpccli call 127.0.0.1:1 "sub$(tou') == ["plain,sub\\$(touch\\${IFS}PWNED)"]
    assert _bash_answer("rpccli call 127.0.0.1:1 sub$") == [
        "plain,sub\\$\\(touch\\$\\{IFS\\}PWNED\\)"
    ]


def test_the_shell_menu_offers_names_quoted_and_never_unsafe(xdg_dirs) -> None:
    import json

    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from rpccli.config import load_config
    from rpccli.shell.completer import ShellCompleter
    from rpccli.shell.session import Shell

    names.store_listing("127.0.0.1:1", [".node", "x;y", "ok"])
    path = _names_file(xdg_dirs)
    data = json.loads(path.read_text())
    data["listing"] += UNSAFE_NAMES
    path.write_text(json.dumps(data))
    shell = Shell(load_config(), "127.0.0.1:1", interactive=False)
    found = ShellCompleter(shell).get_completions(Document(""), CompleteEvent(True))
    # '.node' unquoted would run the meta-command, not call the function
    assert [(c.text, c.display_text) for c in found] == [
        ("'.node'", ".node"),
        ("ok", "ok"),
        ("'x;y'", "x;y"),
    ]


def _bash_answer(line: str) -> list[str]:
    """What `rpccli` answers bash's TAB for ``line`` (in process: the same code as the script)."""

    from click.shell_completion import shell_complete

    import rpccli.completion.command  # noqa: F401  (registers rpccli's bash completion)
    from rpccli.cli import app

    saved = {k: os.environ.get(k) for k in ("COMP_LINE", "COMP_WORDBREAKS")}
    os.environ.update(COMP_LINE=line, COMP_WORDBREAKS=BASH_BREAKS)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # click writes the answer as bytes
    try:
        with contextlib.redirect_stdout(out):
            shell_complete(app, {}, "rpccli", "_RPCCLI_COMPLETE", "bash_complete")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    out.flush()
    return [line for line in out.buffer.getvalue().decode().split("\n") if line]  # type: ignore[attr-defined]


BASH_BREAKS = " \t\n\"'><=;|&(:"  # bash's default COMP_WORDBREAKS
#: every character bash or readline treats specially, and some any rule must refuse
_SHELL_CHARS = list("ab:=,@%+-._~#!^$`;&|<>()*?[]{}'\"\\é✓")
_UNSAFE_CHARS = [
    " ",
    "\x1b",
    "\x07",
    "\x08",
    "\n",
    "\x7f",
    "\x9b",
    "\u2028",
    "\u202e",
    "\xa0",
    "\udcff",
]


def _offerable(name: str) -> bool:
    # the rule, restated: printable UTF-8, no space, no leading '-', 1..255 bytes
    return (
        name.isprintable()
        and " " not in name
        and not name.startswith("-")
        and 0 < len(name.encode("utf-8", "surrogatepass")) <= 255
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(st.sampled_from(_SHELL_CHARS), min_size=1, max_size=12)
    | st.text(st.sampled_from(_SHELL_CHARS + _UNSAFE_CHARS), min_size=1, max_size=12)
    | st.text(min_size=1),
    cut=st.integers(min_value=0, max_value=12),
)
def test_every_offered_name_reads_back_as_itself_in_bash(xdg_dirs, tmp_path, name, cut) -> None:
    """Typed plain, in '...' or in "...", TAB's answer put where readline puts it gives bash
    back exactly the name (checked by a real bash), and an unsafe name is never answered."""
    node = "127.0.0.1:1"
    names.store_listing(node, [name])
    if not _offerable(name):
        assert _bash_answer(f"rpccli call {node} ") == []
        return
    typed = name[:cut]
    plain = "".join(c if c.isalnum() else "\\" + c for c in typed)
    single = "'" + typed.replace("'", "'\\''")
    double = '"' + "".join("\\" + c if c in '\\"$`' else c for c in typed)
    finals = []
    forms = ((plain, 0, ""), (single, single.rindex("'") + 1, "'"), (double, 1, '"'))
    for word, start, close in forms:
        answer = _bash_answer(f"rpccli call {node} {word}")
        assert len(answer) == 1 and answer[0].startswith("plain,"), (word, answer)
        # readline replaces the text from `start` with the answer, then closes the quote
        finals.append(word[:start] + answer[0][len("plain,") :] + close)
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    out = subprocess.run(
        [require("bash"), "--norc", "--noprofile", "-c", 'printf "%s\\0" ' + " ".join(finals)],
        env={"PATH": "", "HOME": str(cwd)},
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    assert out.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == [name] * 3, finals
    assert list(cwd.iterdir()) == []
