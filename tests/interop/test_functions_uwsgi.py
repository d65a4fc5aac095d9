"""`rpccli functions` / `rpccli ls` against REAL uWSGI: a live listing, a stored one, a node that
exports none (and the export lines it prints, each loaded by real uWSGI here), groups, hostile
names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpccli.functions import export_lines
from tests.cli.conftest import run_cli
from tests.peers import Uwsgi, free_port, short_tmpdir, start_uwsgi

pytestmark = pytest.mark.interop

PY_EXPORT = export_lines("rpc_list")[0].split("Python: ", 1)[1]
LUA_EXPORT = export_lines("rpc_list")[1].split("Lua:    ", 1)[1]


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Empty XDG dirs: no stored names from another test (tests/conftest.py)."""


@pytest.fixture(scope="module")
def listing_node() -> Iterator[Uwsgi]:
    """uWSGI with examples/functions.py (exports rpc_list) and Lua functions."""
    server = start_uwsgi()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bare_node() -> Iterator[Uwsgi]:
    """uWSGI whose functions export no listing."""
    workdir = short_tmpdir()
    funcs = workdir / "bare.py"
    funcs.write_text('import uwsgi\nuwsgi.register_rpc("only", lambda *a: b"x")\n')
    server = start_uwsgi(python=[funcs], lua=(), processes=1, workdir=workdir)
    yield server
    server.stop()


def test_a_live_listing_with_its_source(listing_node: Uwsgi) -> None:
    result = run_cli("functions", listing_node.node)
    assert result.code == 0, result.err
    lines = result.text.splitlines()
    assert "hello     listing" in lines and "hellolua  listing" in lines
    assert f"listing: rpc_list on {listing_node.node}, fetched now" in result.err
    # the second time, the stored listing, with its age; --refresh asks again
    again = run_cli("ls", listing_node.node)
    assert again.out == result.out and "stored" in again.err and "--refresh" in again.err
    assert "fetched now" in run_cli("ls", "--refresh", listing_node.node).err


def test_learned_names_join_the_listing(listing_node: Uwsgi) -> None:
    run_cli("call", listing_node.node, "hello")
    lines = run_cli("ls", listing_node.node).text.splitlines()
    assert "hello     learned, listing" in lines


def test_json_for_scripts(listing_node: Uwsgi) -> None:
    doc = json.loads(run_cli("ls", "--json", listing_node.node).out)
    assert doc["node"] == listing_node.node and doc["list_function"] == "rpc_list"
    hello = next(row for row in doc["functions"] if row["name"] == "hello")
    assert hello == {"name": "hello", "sources": ["listing"], "nodes": [listing_node.node]}
    assert doc["listings"] == [
        {"node": listing_node.node, "listing": "listed", "age_s": 0, "error": None}
    ]


def test_no_listing_says_so_and_shows_the_exports(bare_node: Uwsgi) -> None:
    run_cli("call", bare_node.node, "only")
    result = run_cli("ls", bare_node.node)
    assert result.code == 0
    assert result.text == "only  learned\n"
    assert f"{bare_node.node} exports no rpc_list (no result)" in result.err
    assert PY_EXPORT in result.err and LUA_EXPORT in result.err


def test_the_printed_exports_work_on_real_uwsgi() -> None:
    workdir = short_tmpdir()
    py = workdir / "exported.py"
    py.write_text(f'import uwsgi\nuwsgi.register_rpc("one", lambda *a: b"1")\n{PY_EXPORT}\n')
    lua = workdir / "exported.lua"
    lua.write_text(
        'function hellolua() return "hi" end\nuwsgi.register_rpc("hellolua", hellolua)\n'
        f"{LUA_EXPORT}\n"
    )
    python_node = start_uwsgi(python=[py], lua=(), processes=1, workdir=workdir)
    lua_node = start_uwsgi(python=(), lua=[lua], processes=1, workdir=short_tmpdir())
    try:
        rows = [line.split() for line in run_cli("ls", python_node.node).text.splitlines()]
        assert ["one", "listing"] in rows and ["rpc_list", "listing"] in rows
        assert run_cli("call", lua_node.node, "rpc_list").out == b"hellolua\nanswer"
        rows = [line.split() for line in run_cli("ls", lua_node.node).text.splitlines()]
        assert ["hellolua", "listing"] in rows
    finally:
        python_node.stop()
        lua_node.stop()


def test_a_group_lists_the_union_and_which_node_answered(
    listing_node: Uwsgi, bare_node: Uwsgi
) -> None:
    run_cli("call", bare_node.node, "only")
    group = f"{listing_node.node},{bare_node.node}"
    result = run_cli("ls", group)
    assert result.code == 0
    lines = result.text.splitlines()
    assert f"hello     listing ({listing_node.node})" in lines
    assert "only      learned" in lines
    assert f"{bare_node.node} exports no rpc_list" in result.err


def test_a_node_that_is_down_shows_what_is_stored(listing_node: Uwsgi) -> None:
    down = f"127.0.0.1:{free_port()}"
    result = run_cli("ls", f"{listing_node.node},{down}")
    assert result.code == 6 and "hello" in result.text and f"could not ask {down}" in result.err
    alone = run_cli("ls", down)
    assert alone.code == 3 and "no names known" in alone.err


def test_hostile_names_never_reach_the_terminal() -> None:
    workdir = short_tmpdir()
    funcs = workdir / "hostile.py"
    funcs.write_text(
        "import uwsgi\n"
        'names = "good\\n\\x1b]0;owned\\x07\\nrm\\u202eevil\\n-flag\\nsp ace\\nok\\u200bzw"\n'
        'uwsgi.register_rpc("rpc_list", lambda: names.encode())\n'
    )
    server = start_uwsgi(python=[funcs], lua=(), processes=1, workdir=workdir)
    try:
        result = run_cli("ls", "--json", server.node)
        shown = [row["name"] for row in json.loads(result.out)["functions"]]
        assert shown == ["ace", "good", "sp"]  # the listing is split on whitespace
    finally:
        server.stop()


def test_a_profile_lends_its_names_and_its_list_function(
    listing_node: Uwsgi, xdg_dirs: dict[str, Path]
) -> None:
    config = xdg_dirs["config"] / "rpccli" / "config.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        f'[nodes.prod]\naddress = "{listing_node.node}"\nfunctions = ["declared", "hello"]\n'
        'list_function = "echo"\n'
    )
    # `echo` with no arguments answers nothing: the node "exports no echo"
    result = run_cli("ls", "prod")
    assert result.code == 0, result.err
    rows = [line.split(maxsplit=1) for line in result.text.splitlines()]
    assert ["declared", "profile"] in rows and ["hello", "profile"] in rows
    assert f"{listing_node.node} exports no echo (no result)" in result.err
    assert 'uwsgi.register_rpc("echo", lambda' in result.err
