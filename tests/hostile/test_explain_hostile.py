"""``--explain`` with hostile nodes: what it prints is loaded by REAL nginx and does only the call.

A socket path is the user's text (often pasted), and nginx config has its own syntax: a ';', a
space, '{', a quote or '$' in a path must never end the ``uwsgi_pass`` value or start another
directive. Each case goes through ``nginx -t``, through a parser that reads tokens the way
nginx's config reader does (so an extra directive is seen even when the config still loads),
and through a real request to a real backend on that very socket path, whose answer must be the
bytes a direct call gets. What nginx config cannot hold is refused (exit 2), an abstract socket
gets a line instead of a block nginx would answer 502 with, and a node group an ``upstream``
that still answers when its first node is down.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from protocol.server import serve_in_thread
from protocol.server.functions import FunctionTable
from tests.cli.conftest import run_cli
from tests.peers import nginx, require, short_tmpdir

pytestmark = pytest.mark.interop

DOLLAR = "${rpccli_dollar}"  # the helper variable --explain writes for a literal '$'
HEAD = [
    "uwsgi_modifier1",
    "uwsgi_modifier2",
    "uwsgi_pass_request_headers",
    "uwsgi_pass_request_body",
]


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Empty XDG dirs and no rpccli variables from the caller (tests/conftest.py)."""


# ---- nginx's config syntax, read the way ngx_conf_read_token reads it ----

Statement = tuple[str, list[str], "list[Statement] | None"]


def _tokens(text: str) -> Iterator[str | tuple[str]]:
    """Words (as str) and the punctuation ';', '{', '}' (as 1-tuples) of nginx config text."""
    escapes = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif ch in ";{}":
            yield (ch,)
            i += 1
        else:
            quote = ch if ch in "\"'" else None
            i += 1 if quote else 0
            word = []
            while i < len(text):
                ch = text[i]
                if ch == "\\" and i + 1 < len(text):
                    nxt = text[i + 1]
                    word.append(escapes.get(nxt, "\\" + nxt))
                    i += 2
                    continue
                if quote and ch == quote:
                    i += 1
                    break
                if not quote and (ch in " \t\r\n;" or (ch == "{" and word[-1:] != ["$"])):
                    break
                word.append(ch)
                i += 1
            yield "".join(word)


def parse_nginx(text: str) -> list[Statement]:
    """The statements of nginx config text: (directive, arguments, block or None)."""
    stack: list[list[Statement]] = [[]]
    words: list[str] = []
    for token in _tokens(text):
        if isinstance(token, str):
            words.append(token)
        elif token == (";",):
            assert words, "an empty statement"
            stack[-1].append((words[0], words[1:], None))
            words = []
        elif token == ("{",):
            block: list[Statement] = []
            stack[-1].append((words[0], words[1:], block))
            stack.append(block)
            words = []
        else:
            assert not words and len(stack) > 1, "a '}' that closes nothing"
            stack.pop()
    assert not words and len(stack) == 1, "unterminated config"
    return stack[0]


def explained(text: str) -> tuple[str, str]:
    """The http-level part and the location block of what ``--explain`` printed."""
    nginx_part = text.split("# the same call from nginx", 1)[1].split("\n", 1)[1]
    nginx_part = nginx_part.split("\n# the same call from Python", 1)[0]
    found = re.search(r"^location = .*?^\}$", nginx_part, re.S | re.M)
    assert found is not None, nginx_part
    return nginx_part[: found.start()], found.group(0)


def check_location(location: str, params: int) -> str:
    """The location holds exactly the call's directives; returns its uwsgi_pass value."""
    [(name, args, block)] = parse_nginx(location)
    assert (name, args[0], block is not None) == ("location", "=", True)
    assert block is not None
    names = [statement[0] for statement in block]
    assert names == [*HEAD, *["uwsgi_param"] * params, "uwsgi_pass"], names
    assert all(len(s[1]) == 2 for s in block if s[0] == "uwsgi_param")
    [target] = block[-1][1]
    return target


def check_http(http: str) -> dict[str, list[list[str]]]:
    """Only the geo helper and upstream blocks at http level; returns each upstream's servers."""
    upstreams = {}
    for name, args, block in parse_nginx(http):
        assert block is not None, name
        if name == "geo":
            assert (args, block) == (["$rpccli_dollar"], [("default", ["$"], None)])
            continue
        assert name == "upstream" and len(args) == 1, (name, args)
        assert re.fullmatch(r"rpccli_[0-9a-f]{12}", args[0])
        servers = [s[1] for s in block if s[0] == "server"]
        assert all(s[0] in ("server", "random") and s[2] is None for s in block)
        assert all(len(words) == 1 or words[1:] == ["backup"] for words in servers)
        upstreams[args[0]] = servers
    return upstreams


def nginx_t(locations: str, http: str = "") -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on the config tests.peers.start_nginx would run (one server, these parts)."""
    binary = require("nginx")
    prefix = short_tmpdir()
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"daemon off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        f"events {{ worker_connections 16; }}\nhttp {{\n  access_log off;\n{http}\n"
        f"  server {{\n    listen 127.0.0.1:1;\n{locations}\n  }}\n}}\n"
    )
    try:
        return subprocess.run(
            [binary, "-t", "-p", str(prefix), "-c", str(conf)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def loads(locations: str, http: str = "") -> None:
    result = nginx_t(locations, http)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# ---- real backends on hostile socket paths ----


def page_table(tag: bytes) -> FunctionTable:
    """``page`` answers a whole HTTP response (nginx reads raw mode) naming this backend."""

    def page(*args: bytes) -> bytes:
        body = tag + b" args: " + b"|".join(args)
        return b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    table = FunctionTable()
    table.register("page", page)
    return table


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh directory with a short path (socket paths are limited to 107 bytes)."""
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def backends() -> Iterator[Callable[[str, bytes], str]]:
    """Start the bundled server on a unix socket at ``path`` (answering ``page``); stopped after."""
    with ExitStack() as stack:

        def start(path: str, tag: bytes) -> str:
            stack.enter_context(serve_in_thread(page_table(tag), (f"unix:{path}",)))
            return path

        yield start


def through_nginx(http: str, location: str, function: str = "page") -> bytes:
    with (
        nginx(location, http) as server,
        urllib.request.urlopen(f"{server.base_url}/{function}", timeout=10) as response,
    ):
        return bytes(response.read())


def direct_body(node: str, *args: str) -> bytes:
    """What a direct call answers, minus the HTTP head nginx reads itself."""
    result = run_cli("call", node, "page", *args)
    assert result.code == 0, result.err
    return bytes(result.out).split(b"\r\n\r\n", 1)[1]


def unescape(value: str) -> str:
    return value.replace(DOLLAR, "$")


#: socket file names that break an unquoted uwsgi_pass, or add a directive to it
HOSTILE_NAMES = [
    "x.sock;return 200 pwned",  # the case: a second directive that nginx -t accepted
    "a b.sock",
    "d$ollar.sock",
    "${host}.sock",  # a real nginx variable: must stay literal
    '"quoted";.sock',
    "{brace}.sock",
    "semi;#hash.sock",
    "line\n}\nif ($host) { return 200 pwned; }#.sock",
    "tab\there.sock",
    "back\\slash;.sock",
    "all ;{}#$'\"\\ é€.sock",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[ascii(n)[1:-1] for n in HOSTILE_NAMES])
def test_socket_path_is_quoted_and_reached(
    short_dir: Path, backends: Callable[[str, bytes], str], name: str
) -> None:
    path = backends(str(short_dir / name), b"backend")
    args = ("$v", "a b")
    result = run_cli("call", "--explain", path, "page", *args)
    assert result.code == 0, result.err
    http, location = explained(result.text)
    assert unescape(check_location(location, params=2)) == f"unix:{path}"
    assert check_http(http) == {}
    loads(location, http)
    body = through_nginx(http, location)
    assert body == direct_body(path, *args) == b"backend args: $v|a b"


# ---- what nginx config cannot hold: refused, exit 2, nothing printed ----


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("x.sock\x1b[1A;return 200 pwned", "the control character '\\x1b'"),
        ("x\x7f.sock", "the control character '\\x7f'"),
        ("x\u0085.sock", "the control character '\\x85'"),
        ("x.sock\u202e;denruter", "the bidi control '\\u202e'"),
        ("\udcffx.sock", "is not UTF-8 text (byte 0xff"),
    ],
)
@pytest.mark.parametrize("group", [False, True])
def test_path_nginx_cannot_hold_is_refused(
    short_dir: Path, name: str, why: str, group: bool
) -> None:
    # a listener at that very path would see a connection: none may come, and nothing printed
    path = str(short_dir / name)
    node = f":3031,{path}" if group else path
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen()
        listener.setblocking(False)
        result = run_cli("call", "--explain", node, "page", "a")
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert (result.code, result.out) == (2, b"")
    assert result.err.startswith(f"rpccli: --explain cannot write node {path!r} ")
    assert why in result.err and result.err.count("\n") == 1
    assert result.err[:-1].isprintable()  # the node is shown escaped


def test_ipv6_scope_is_refused() -> None:
    # nginx -t says "invalid IPv6 address" for it
    result = run_cli("call", "--explain", "[fe80::1%lo]:3031", "page", "a")
    assert (result.code, result.out) == (2, b"")
    assert "IPv6 scope" in result.err and result.err.count("\n") == 1


# ---- abstract sockets: nginx cannot reach them ----


@pytest.mark.parametrize("node", ["@rpccli-app", "/tmp/a.sock,@rpccli-app"])
def test_abstract_node_gets_a_line_and_no_block(node: str) -> None:
    result = run_cli("call", "--explain", node, "page", "a")
    assert result.code == 0, result.err
    nginx_part = result.text.split("# the same call from nginx", 1)[1]
    nginx_part = nginx_part.split("# the same call from Python", 1)[0]
    lines = [line for line in nginx_part.splitlines()[1:] if line]
    assert lines == [
        "# nginx cannot reach abstract sockets ('@rpccli-app'): no nginx block; "
        "bind the uWSGI socket to a path or a port for nginx"
    ]
    assert parse_nginx(nginx_part.split("\n", 1)[1]) == []  # comments only: nothing to paste
    # uwsgi.rpc does reach abstract sockets
    assert "uwsgi.rpc('" in result.text.split("# the same call from Python", 1)[1]


# ---- node groups: an upstream with every node ----


def stale_socket(path: Path) -> str:
    """A socket file with no listener: connecting to it is refused, as to a stopped server."""
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return str(path)


def _group_case(text: str, nodes: list[str]) -> tuple[str, str, str]:
    http, location = explained(text)
    upstreams = check_http(http)
    [(name, servers)] = upstreams.items()
    assert check_location(location, params=1) == name
    # inside an upstream nginx reads no variables: a '$' in a server address is literal
    assert [words[0] for words in servers] == [
        node if node.startswith("127.") else f"unix:{node}" for node in nodes
    ]
    return http, location, name


@pytest.mark.parametrize("strategy", [None, "round-robin", "random", "best"])
def test_group_upstream_answers_with_its_first_node_down(
    short_dir: Path, backends: Callable[[str, bytes], str], strategy: str | None
) -> None:
    folder = short_dir
    down = stale_socket(folder / "down $x;{.sock")
    up = backends(str(folder / "up $y; {z}.sock"), b"second")
    group = f"{down},{up}"
    extra = ["-s", strategy] if strategy else []
    result = run_cli("call", "--explain", *extra, group, "page", "a")
    assert result.code == 0, result.err
    http, location, _ = _group_case(result.text, [down, up])
    loads(location, http)
    with nginx(location, http) as server:
        for _ in range(3):  # every request answers, whichever node nginx tries first
            with urllib.request.urlopen(f"{server.base_url}/page", timeout=10) as response:
                assert response.read() == direct_body(up, "a") == b"second args: a"


def test_profile_group_upstream_names_every_node(
    short_dir: Path,
    backends: Callable[[str, bytes], str],
    write_profile: Callable[[str], None],
) -> None:
    folder = short_dir
    down = stale_socket(folder / "down.sock")
    up = backends(str(folder / "u p.sock"), b"profile")
    tcp_down = f"127.0.0.1:{_closed_port()}"
    write_profile(f'[nodes.grp]\naddress = ["{tcp_down}", "{down}", "{up}"]\n')
    result = run_cli("call", "--explain", "grp", "page", "a")
    assert result.code == 0, result.err
    http, location, _ = _group_case(result.text, [tcp_down, down, up])
    loads(location, http)
    assert through_nginx(http, location) == b"profile args: a"


def test_upstream_name_is_stable_and_differs_per_group() -> None:
    def name(*argv: str) -> str:
        found = re.findall(r"^upstream (\S+) \{$", run_cli("call", "--explain", *argv).text, re.M)
        assert len(found) == 1
        return str(found[0])

    first = name("/tmp/a.sock,/tmp/b.sock", "page")
    assert first == name("/tmp/a.sock,/tmp/b.sock", "other", "x")
    assert first != name("/tmp/b.sock,/tmp/a.sock", "page")
    assert first != name("-s", "random", "/tmp/a.sock,/tmp/b.sock", "page")
    assert first != name("/tmp/a.sock,/tmp/c.sock", "page")


@pytest.fixture
def write_profile(xdg_dirs: dict[str, Path]) -> Callable[[str], None]:
    def write(text: str) -> None:
        path = xdg_dirs["config"] / "rpccli" / "config.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)

    return write


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_node_text_reaches_the_terminal_raw() -> None:
    # the refusal line and the abstract line show the node escaped, whatever it holds
    result = run_cli("call", "--explain", "@x\x1b]0;t\x07", "page")
    assert result.code == 0, result.err
    assert "\x1b" not in result.text and "\x07" not in result.text
