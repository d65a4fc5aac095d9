"""Escape sequences from a node never reach the terminal.

Every place that shows a node's text on a terminal -- `rpccli call`'s text, pretty JSON and the
fan-out table, --json on a terminal, ping's warning, `rpccli batch`'s pretty lines, the shell's
results, `.functions`, `.ping` and toolbar, and `rpccli serve`'s log of what clients sent -- is
run here on a real pseudo-terminal against a loopback server whose text carries OSC, CSI, BEL,
BS, CR, C1 and bidi controls. The bytes the terminal receives must hold none of them raw; the
same commands piped still give the node's bytes exactly.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pexpect
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.client import Client
from protocol.errors import NoResult
from protocol.server.functions import FunctionTable
from tests.forkcommand import rpccli_command
from tests.hostile.conftest import listing_table
from tests.peers import ROOT

# A payload word follows each control, so that the test can tell the payload's sequence from
# the styling rich and prompt_toolkit write themselves.
OSC_TITLE = "\x1b]0;PWNTITLE\x07"
CLEAR = "\x1b[2JCLEARED"
RED = "\x1b[31mREDTEXT"
BACKSPACES = "SHOWN\x08\x08\x08\x08\x08HIDDEN"
CR = "VISIBLE\rOVERWRITE"
C1_CSI = "\u009b2JCSICLEAR"
C1_NEL = "\u0085NELLINE"
RLO = "\u202eDESREVER"
LRI = "\u2066ISOLATE\u2069"
#: valid UTF-8 text with no C0 control but CR: shown as text (C0 makes it a hexdump)
TEXT = f"plain {C1_CSI} {C1_NEL} {RLO} {LRI} {CR} \u200eLRM \ufeffBOM end\n"
#: raw ESC and friends: not text, shown as a hexdump
ESCAPES = f"{OSC_TITLE}{CLEAR}{RED}{BACKSPACES}"
#: JSON whose strings decode to controls: "\u001b" escapes, and C1 / bidi raw and escaped
JSON_TEXT = (
    '{"title": "\\u001b]0;PWNTITLE\\u0007", "clear": "\\u001b[2JCLEARED", '
    '"csi": "\\u009b2JCSICLEAR", "rlo": "\\u202eDESREVER", '
    f'"raw": "{C1_CSI} {RLO} {LRI}", "\\u2066key": [1, "\\u0085NELLINE"]}}'
)
#: names a node's listing may hold: shown escaped by `.functions`, or not at all
LISTING = "\n".join(
    ["plain_name", f"t{OSC_TITLE}", f"c{CLEAR}", f"r{RED}", f"b{BACKSPACES}", f"x{C1_CSI}", RLO]
)
WARNING = f"busy{OSC_TITLE}{C1_CSI}{RLO}"

#: payload words that must never follow their control raw on the terminal
PAYLOAD_SEQUENCES = [
    OSC_TITLE,
    CLEAR,
    RED,
    "\x08HIDDEN",
    "\rOVERWRITE",
    C1_CSI,
    C1_NEL,
    RLO,
    LRI,
    "\u200eLRM",
    "\ufeffBOM",
]
#: characters a rich program never writes itself: C0 but TAB/LF/CR/ESC, DEL, C1, bidi, format
_NEVER = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\xad\u061c\u200b\u200e\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
#: the only escape sequence rich writes: SGR (colour, bold, reverse)
_SGR = re.compile(r"\x1b\[[0-9;]*m")
#: any CSI sequence (prompt_toolkit moves the cursor with them): stripped to read the text
_CSI = re.compile(r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]")
TIMEOUT = 30


def plain(out: str) -> str:
    """The text a person reads: without colours and cursor movements."""
    return _CSI.sub("", out)


def _env(tmp_path: Path, *, color: bool) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RPCCLI_", "XDG_", "_RPCCLI", "NO_COLOR", "COLUMNS", "LINES"))
    }
    env.update(
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        TERM="xterm-256color",
        PYTHONUNBUFFERED="1",
    )
    if not color:
        env["NO_COLOR"] = "1"
    return env


def _set_size(fd: int, rows: int = 40, cols: int = 200) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def on_pty(
    args: Sequence[str], env: dict[str, str], *, stdin: bytes | None = None
) -> tuple[int, str]:
    """Run ``rpccli ARGS`` with stdout and stderr on a new pseudo-terminal (stdin: a pipe with
    ``stdin``, else the terminal); return the exit code and everything the terminal received."""
    master, slave = os.openpty()
    _set_size(slave)
    proc = subprocess.Popen(
        [str(rpccli_command()), *args],
        stdin=subprocess.PIPE if stdin is not None else slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    received = bytearray()
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            received += chunk
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, received.decode("utf-8", "surrogateescape")


def piped(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(rpccli_command()), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )


def assert_payload_not_raw(out: str) -> None:
    for sequence in PAYLOAD_SEQUENCES:
        assert sequence not in out, f"the payload's {sequence!r} reached the terminal raw"
    assert "\x1b]" not in out, "an OSC sequence reached the terminal"


def assert_clean(out: str) -> None:
    """What a rich program may write: text, LF (CRLF on a pty), TAB and SGR colours only."""
    assert_payload_not_raw(out)
    found = _NEVER.search(out)
    assert found is None, (
        f"raw {found.group()!r} near {out[found.start() - 30 : found.end() + 30]!r}"
    )
    assert "\r" not in out.replace("\r\n", ""), "a carriage return not ending a line"
    assert "\x1b" not in _SGR.sub("", out), "an escape sequence other than a colour"


def _returns(data: str) -> Callable[..., bytes]:
    encoded = data.encode("utf-8")
    return lambda *args: encoded


@pytest.fixture
def hostile(serve_table: Callable[[FunctionTable], str]) -> str:
    table = listing_table(
        LISTING.encode(),
        text=_returns(TEXT),
        escapes=_returns(ESCAPES),
        jsontext=_returns(JSON_TEXT),
    )
    table.warning = WARNING
    return serve_table(table)


@pytest.fixture
def hostile_pair(serve_table: Callable[[FunctionTable], str], hostile: str) -> str:
    """A node group: the hostile node and a second one serving the same text."""
    other = serve_table(listing_table(b"", text=_returns(TEXT)))
    return f"{hostile},{other}"


# -- rpccli call -----------------------------------------------------------------------------


@pytest.mark.parametrize("color", [False, True], ids=["no-color", "color"])
def test_call_shows_text_escaped_and_controls_as_a_hexdump(
    hostile: str, tmp_path: Path, color: bool
) -> None:
    env = _env(tmp_path, color=color)
    code, out = on_pty(["call", hostile, "text"], env)
    assert code == 0, out
    assert_clean(out)
    text = plain(out)
    for escaped in ("\\u009b2JCSICLEAR", "\\u0085NELLINE", "\\u202eDESREVER", "\\u2066ISOLATE"):
        assert escaped in text
    assert "VISIBLE\\x0dOVERWRITE" in text and "\\u200eLRM" in text and "\\ufeffBOM" in text
    # an answer with ESC, BEL and BS in it is not text: a hexdump
    code, out = on_pty(["call", hostile, "escapes"], env)
    assert code == 0, out
    assert_clean(out)
    assert "binary response" in out
    # piped: the node's bytes exactly
    assert piped(["call", hostile, "text"], env).stdout == TEXT.encode()
    assert piped(["call", hostile, "escapes"], env).stdout == ESCAPES.encode()


@pytest.mark.parametrize("color", [False, True], ids=["no-color", "color"])
def test_call_pretty_json_escapes_what_json_decoding_produced(
    hostile: str, tmp_path: Path, color: bool
) -> None:
    env = _env(tmp_path, color=color)
    code, out = on_pty(["call", hostile, "jsontext"], env)
    assert code == 0, out
    assert_clean(out)
    text = plain(out)
    for escaped in ("\\u001b]0;PWNTITLE\\u0007", "\\u009b2JCSICLEAR", "\\u202eDESREVER"):
        assert escaped in text
    assert '"\\u2066key"' in text
    assert piped(["call", hostile, "jsontext"], env).stdout == JSON_TEXT.encode()


def test_call_json_on_a_terminal_is_escaped_json_and_exact_when_piped(
    hostile: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, color=True)
    code, out = on_pty(["call", "--json", hostile, "text"], env)
    assert code == 0, out
    assert_clean(out)
    shown = json.loads(out.strip())
    assert shown["response"] == TEXT  # still JSON, and the same data
    for escaped in ("\\u009b2JCSICLEAR", "\\u202eDESREVER", "\\u2066ISOLATE\\u2069"):
        assert escaped in out
    result = piped(["call", "--json", hostile, "text"], env)
    line = result.stdout.decode("utf-8")
    assert json.loads(line)["response"] == TEXT
    assert RLO in line and C1_CSI in line  # piped JSON is as it always was: UTF-8, not escaped


@pytest.mark.parametrize("color", [False, True], ids=["no-color", "color"])
def test_fan_out_table_escapes_every_node_answer(
    hostile_pair: str, tmp_path: Path, color: bool
) -> None:
    env = _env(tmp_path, color=color)
    code, out = on_pty(["call", "-s", "all", hostile_pair, "text"], env)
    assert code == 0, out
    assert_clean(out)
    assert plain(out).count("\\u202eDESREVER") == 2  # one row per node
    result = piped(["call", "-s", "all", hostile_pair, "text"], env)
    rows = [json.loads(line) for line in result.stdout.decode().split("\n") if line]
    assert [row["response"] for row in rows] == [TEXT, TEXT]
    code, out = on_pty(["call", "--json", "-s", "all", hostile_pair, "text"], env)
    assert_clean(out)
    assert [json.loads(line)["response"] for line in out.split("\r\n") if line] == [TEXT, TEXT]


def test_fan_out_table_never_reads_node_text_as_markup(
    serve_table: Callable[[FunctionTable], str], tmp_path: Path
) -> None:
    markup = "[bold]BOLD[/bold] [link=http://evil.example/]click[/link] [red]RED"
    first = serve_table(listing_table(b"", **{"[red]text": _returns(markup)}))
    second = serve_table(listing_table(b"", **{"[red]text": _returns(markup)}))
    env = _env(tmp_path, color=True)
    code, out = on_pty(["call", "-s", "all", f"{first},{second}", "[red]text"], env)
    assert code == 0, out
    assert "\x1b]8;" not in out  # no hyperlink
    text = plain(out)
    assert "[red]text on 2 nodes" in text  # the title: the name as typed
    assert text.count(markup) == 2  # the answers shown as the text they are


def test_ping_warning_is_escaped(hostile: str, tmp_path: Path) -> None:
    env = _env(tmp_path, color=True)
    code, out = on_pty(["ping", hostile], env)
    assert code == 1, out  # a warning
    assert_clean(out)
    assert "\\x1b]0;PWNTITLE\\x07" in plain(out) and "\\u202eDESREVER" in plain(out)
    code, out = on_pty(["ping", "--json", hostile], env)
    assert_clean(out)
    assert json.loads(out.strip())["warning"] == WARNING


def test_batch_pretty_lines_are_escaped(hostile: str, tmp_path: Path) -> None:
    env = _env(tmp_path, color=True)
    code, out = on_pty(["batch", hostile], env, stdin=b"text\njsontext\n")
    assert code == 0, out
    assert_clean(out)
    assert "\\u202eDESREVER" in plain(out)
    code, out = on_pty(["batch", "-o", "json", hostile], env, stdin=b"text\n")
    assert_clean(out)
    assert json.loads(out.split("\r\n")[0])["response"] == TEXT


# -- rpccli shell ----------------------------------------------------------------------------

CPR_REQUEST = b"\x1b[6n"


class Terminal:
    """`rpccli shell` on a pexpect terminal; ``received`` is every byte it wrote."""

    def __init__(self, node: str, env: dict[str, str]) -> None:
        self.child = pexpect.spawn(
            str(rpccli_command()),
            ["shell", node],
            env=env,
            cwd=str(ROOT),
            timeout=TIMEOUT,
            dimensions=(40, 200),
        )
        self.child.delaybeforesend = None  # each line waits for what the shell shows first
        self.received = bytearray()

    def see(self, text: str) -> None:
        """Wait for ``text``, answering cursor position requests as a terminal does."""
        pattern = re.escape(text.encode())
        while True:
            index = self.child.expect([re.escape(CPR_REQUEST), pattern])
            self.received += self.child.before + self.child.after
            if index == 0:
                self.child.send(b"\x1b[1;1R")
            else:
                return

    def run(self, line: str, until: str) -> None:
        self.child.send(line.encode() + b"\r")
        self.see(until)

    @property
    def text(self) -> str:
        return bytes(self.received).decode("utf-8", "surrogateescape")

    def close(self) -> None:
        self.child.sendcontrol("d")
        try:
            self.child.expect(pexpect.EOF)
            self.received += self.child.before
        finally:
            self.child.close(force=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[[str], Terminal]]:
    opened: list[Terminal] = []

    def start(node: str) -> Terminal:
        term = Terminal(node, _env(tmp_path, color=True))
        opened.append(term)
        term.see("Ctrl-D quits")
        return term

    yield start
    for term in opened:
        term.child.close(force=True)


def _shell_clean(out: str) -> None:
    """prompt_toolkit moves the cursor with CR, BS and CSI itself; the payload's own
    sequences (each followed by its word) and C1, bidi and format characters never appear."""
    assert_payload_not_raw(out)
    found = re.search("[\x07\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069]", out)
    assert found is None, (
        f"raw {found.group()!r} near {out[found.start() - 30 : found.end() + 30]!r}"
    )


def test_shell_functions_results_ping_and_toolbar(
    hostile: str, terminal: Callable[[str], Terminal]
) -> None:
    term = terminal(hostile)
    # the listing arrives in the background; .refresh waits for nothing, so ask until it is in
    for _ in range(20):
        term.run(".functions", "listing: ")
        term.see("\n")
        if "from rpc_list" in term.text:  # "1 name from rpc_list", "2 names from ..."
            break
        time.sleep(0.2)
    assert "plain_name" in term.text
    term.run("text", "BOM")
    assert "\\u202eDESREVER" in plain(term.text)
    term.run("jsontext", "NELLINE")
    term.run(".ping", "pong in")
    term.see("\n")
    assert "\\u202eDESREVER" in plain(term.text).split("pong in")[-1]
    # a name the user typed with $'...' escapes: the toolbar shows it escaped too
    term.run("$'\\u202eTOOLBAR'", "no result")
    term.see("Ctrl-D quits")
    term.close()
    _shell_clean(term.text)


# -- rpccli serve ----------------------------------------------------------------------------

LOGGING_FUNCTIONS = """\
import uwsgi

def logs(*args):
    uwsgi.log(b" ".join(args).decode("utf-8", "replace"))
    return b"logged"

uwsgi.register_rpc("logs", logs)
"""


@pytest.mark.parametrize("color", [False, True], ids=["no-color", "color"])
def test_serve_log_escapes_what_clients_send(tmp_path: Path, color: bool) -> None:
    functions = tmp_path / "logging_functions.py"
    functions.write_text(LOGGING_FUNCTIONS)
    env = _env(tmp_path, color=color)
    master, slave = os.openpty()
    _set_size(slave)
    proc = subprocess.Popen(
        [str(rpccli_command()), "serve", "--bind", "127.0.0.1:0", str(functions)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    received = bytearray()

    def read_until(text: bytes) -> None:
        deadline = time.monotonic() + TIMEOUT
        while text not in received:
            assert time.monotonic() < deadline, f"{text!r} never logged: {bytes(received)!r}"
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                received.extend(os.read(master, 65536))

    try:
        read_until(b"try: rpccli call")
        node = re.search(rb"listening on (\S+)", received).group(1).decode()  # type: ignore[union-attr]
        client = Client(node, timeout=10)
        with pytest.raises(NoResult):
            client.call(f"no{OSC_TITLE}{CLEAR}{C1_CSI}{RLO}".encode())
        read_until(b"0-byte close")
        assert client.call(b"logs", RED.encode(), BACKSPACES.encode(), LRI.encode()) == b"logged"
        read_until(b"logs(")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=TIMEOUT)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            received.extend(chunk)
        os.close(master)
    out = bytes(received).decode("utf-8", "surrogateescape")
    assert_clean(out)
    if not color:  # NO_COLOR: not even the log's own colours
        assert "\x1b[" not in out
    out = plain(out)
    assert "no\\x1b]0;PWNTITLE\\x07\\x1b[2JCLEARED\\u009b2JCSICLEAR\\u202eDESREVER(" in out
    assert "\\x1b[31mREDTEXT SHOWN\\x08" in out  # what the function logged


# -- the function itself ---------------------------------------------------------------------

_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_JOINERS = {"\u200c", "\u200d"}  # kept: emoji and several scripts need them


def _unsafe(char: str, keep: str = "") -> bool:
    return (
        unicodedata.category(char) in _UNSAFE_CATEGORIES
        and char not in _JOINERS
        and char not in keep
    )


def _read_back(shown: str) -> str:
    """The inverse of visible(): a reader's view of the escapes."""
    out = []
    pos = 0
    while pos < len(shown):
        char = shown[pos]
        if char == "\\":
            rest = shown[pos + 1 :]
            for prefix, width in (("x", 2), ("u", 4), ("U", 8)):
                digits = rest[1 : 1 + width]
                if rest.startswith(prefix) and re.fullmatch(f"[0-9a-fA-F]{{{width}}}", digits):
                    code = int(digits, 16)
                    if prefix == "x" and code >= 0x80:
                        code += 0xDC00  # a byte that was not UTF-8 (surrogateescape)
                    out.append(chr(code))
                    pos += 2 + width
                    break
            else:
                if rest.startswith("\\"):
                    out.append("\\")
                    pos += 2
                else:
                    out.append("\\")
                    pos += 1
            continue
        out.append(char)
        pos += 1
    return "".join(out)


_TEXTS = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(
            list("\\xuU0123456789abcdefABCDEF\n\t\r\x1b\x9b\u202e\u2066\u200d\udcff\ud800")
        ),
    )
)


@given(_TEXTS, st.sampled_from(["", "\n\t"]))
def test_visible_leaves_no_unsafe_character_and_reads_back(text: str, keep: str) -> None:
    from protocol.visible import visible

    shown = visible(text, keep=keep)
    assert not any(_unsafe(c, keep) for c in shown)
    assert _read_back(shown) == text  # so distinct texts are shown distinctly


@given(_TEXTS)
def test_visible_without_reversible_is_safe_and_idempotent(text: str) -> None:
    from protocol.visible import visible

    once = visible(text, keep="\n", reversible=False)
    assert not any(_unsafe(c, "\n") for c in once)
    assert visible(once, keep="\n", reversible=False) == once


@given(
    st.recursive(
        st.text() | st.integers() | st.none(),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
        max_leaves=8,
    )
)
def test_json_visible_is_the_same_json_with_nothing_unsafe(data: object) -> None:
    """json_visible rewrites characters one by one, wherever they stand in the JSON text, so
    what a case needs is any text as a key and as a value, nested in lists and objects: up to
    8 leaves give every nesting of those (hypothesis' default of 100 leaves spent 5 s drawing
    big trees that add nothing the small ones do not)."""
    from protocol.visible import json_visible

    dumped = json.dumps(data, indent=2, ensure_ascii=False)
    shown = json_visible(dumped)
    assert json.loads(shown) == data
    assert not any(_unsafe(c, "\n") for c in shown)


def test_visible_covers_every_control_and_format_character() -> None:
    from protocol.visible import visible

    for code in range(0x110000):
        char = chr(code)
        if _unsafe(char):
            assert visible(char) != char, f"U+{code:04X} is shown raw"
    assert visible("C:\\data\\new") == "C:\\data\\new"  # a plain backslash reads as sent
    assert visible("\u200d") == "\u200d"  # the zero-width joiner of emoji sequences
    assert visible("a\x1b[2J\u009b\u202e") == "a\\x1b[2J\\u009b\\u202e"
    assert visible(b"\xff".decode("utf-8", "surrogateescape")) == "\\xff"
