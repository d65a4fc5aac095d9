"""rpccli.names: the local name caches behind the shell's completer and TAB."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from rpccli import names


def test_remember_persists_per_node_with_mode_0600(xdg_dirs: dict[str, Path]) -> None:
    names.remember("127.0.0.1:3031", "hello")
    names.remember(":3031", "echo")  # the same node written another way
    assert names.known_names("127.0.0.1:3031") == {"echo": "learned", "hello": "learned"}
    assert names.known_names("127.0.0.1:9999") == {}
    files = list((xdg_dirs["state"] / "rpccli" / "names").glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700


def test_remember_never_raises_and_ignores_bad_names(xdg_dirs: dict[str, Path]) -> None:
    names.remember("127.0.0.1:3031", "")
    names.remember("127.0.0.1:3031", "a b")
    names.remember("127.0.0.1:3031", "x" * 256)
    names.remember("", "hello")
    assert names.known_names("127.0.0.1:3031") == {}
    # an unwritable state directory is silently ignored
    (xdg_dirs["state"] / "rpccli").mkdir(mode=0o500)
    names.remember("127.0.0.1:3031", "hello")


def test_learned_names_are_bounded(monkeypatch, xdg_dirs) -> None:
    monkeypatch.setattr(names, "MAX_LEARNED", 3)
    for i in range(6):
        names.remember("@sock", f"f{i}")
    assert len(names.known_names("@sock")) == 3


def test_listing_is_stored_and_merged_with_sources(xdg_dirs) -> None:
    names.remember("127.0.0.1:3031", "hello")
    names.store_listing("127.0.0.1:3031", names.parse_listing(b"hello\nsecret\n\nupper"))
    assert names.known_names(":3031") == {
        "hello": "learned",
        "secret": "listing",
        "upper": "listing",
    }
    assert names.name_sources(":3031")["hello"] == ["learned", "listing"]
    age = names.listing_age(":3031")
    assert age is not None and age >= 0
    assert names.listing_age(":1") is None


def test_parse_listing_forms() -> None:
    assert names.parse_listing(b'["a", "b", 3, "", "c d"]') == ["a", "b"]
    assert names.parse_listing(b"a b\r\na\n") == ["a", "b"]
    # an entry that is not UTF-8 is dropped: "\ufffd\ufffd" would call a name the node lacks
    assert names.parse_listing(b"\xff\xfe") == []
    assert names.parse_listing(b"ok\n\xff\n\xe2\x9c\x93") == ["ok", "\u2713"]
    assert names.parse_listing(b"") == []


def test_node_keys() -> None:
    assert names.node_key(":3031") == "127.0.0.1:3031"
    assert names.node_key("prod") == "prod"
    assert names.node_key("unix:rel.sock").startswith("/")
    assert names.node_key("a:1,b:2") == "a:1,b:2"


def test_file_names_are_safe(xdg_dirs) -> None:
    for node in ("/run/a b.sock", "@abs", "[::1]:3031", "..", "x" * 300):
        names.remember(node, "f")
        assert names.known_names(node) == {"f": "learned"}
    for path in (xdg_dirs["state"] / "rpccli" / "names").glob("*.json"):
        assert "/" not in path.name and not path.name.startswith(".")
        assert len(path.name) < 120


def test_corrupt_cache_file_is_ignored(xdg_dirs) -> None:
    names.remember(":3031", "hello")
    (path,) = (xdg_dirs["state"] / "rpccli" / "names").glob("*.json")
    path.write_text("{not json")
    assert names.known_names(":3031") == {}
    names.remember(":3031", "echo")
    assert json.loads(path.read_text())["learned"].keys() == {"echo"}


def test_complete_function_uses_ctx_node(xdg_dirs) -> None:
    import click

    names.remember(":3031", "hello")
    names.remember(":3031", "help_me")
    names.remember(":3031", "echo")
    ctx = click.Context(click.Command("call"))
    ctx.params["node"] = "127.0.0.1:3031"
    items = names.complete_function(ctx, None, "he")
    assert [(i.value, i.help) for i in items] == [("hello", "learned"), ("help_me", "learned")]


def test_complete_function_default_node_from_env(xdg_dirs, monkeypatch) -> None:
    import click

    names.remember("@app", "hello")
    monkeypatch.setenv("RPCCLI_NODE", "@app")
    ctx = click.Context(click.Command("call"))
    assert [i.value for i in names.complete_function(ctx, None, "")] == ["hello"]
    ctx.params["node"] = "."
    assert [i.value for i in names.complete_function(ctx, None, "")] == ["hello"]


def test_complete_node_offers_nodes_used_before(xdg_dirs) -> None:
    names.remember("127.0.0.1:3031", "hello")
    values = [i.value for i in names.complete_node(None, None, "127")]
    assert values == ["127.0.0.1:3031"]


def test_import_is_light() -> None:
    code = (
        "import sys, rpccli.names\n"
        "heavy = [m for m in ('rich', 'prompt_toolkit', 'asyncio', 'click') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_concurrent_writers_lose_nothing(xdg_dirs) -> None:
    import threading

    def learn(start: int) -> None:
        for i in range(start, start + 20):
            names.remember("@busy", f"f{i}")

    threads = [threading.Thread(target=learn, args=(n * 100,)) for n in range(4)]
    threads.append(threading.Thread(target=names.store_listing, args=("@busy", ["listed"])))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    known = names.known_names("@busy")
    assert len(known) == 81
    assert known["listed"] == "listing"


def test_number_of_node_files_is_bounded(monkeypatch, xdg_dirs) -> None:
    import os

    monkeypatch.setattr(names, "MAX_NODES", 3)
    monkeypatch.setattr(names, "PRUNE_EVERY", 1)  # prune on every new file (amortised: below)
    for port in range(1, 6):
        names.remember(f"127.0.0.1:{port}", "f")
        path = names._path(f"127.0.0.1:{port}")
        os.utime(path, (port, port))  # distinct ages, whatever the clock's resolution
    assert names.known_nodes() == ["127.0.0.1:5", "127.0.0.1:4", "127.0.0.1:3"]
