"""protocol/ is a standalone library: the standard library only, and a light import path."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import ROOT

PROTOCOL = ROOT / "protocol"
MODULES = sorted(PROTOCOL.rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path``, wherever it appears (lazy ones too)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_walk_finds_the_modules() -> None:
    names = {path.name for path in MODULES}
    assert {"__init__.py", "wire.py", "client.py", "address.py", "errors.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_the_standard_library(path: Path) -> None:
    # the optional extras, imported lazily inside a try: uvloop by protocol.aio, lupa by
    # protocol.server.lua (only when a Lua function file is loaded)
    allowed = sys.stdlib_module_names | {"__future__", "uvloop", "lupa"}
    if path.name == "pytest_plugin.py":  # loaded only by pytest itself (entry point pytest11)
        allowed |= {"pytest"}
    outside = imported_roots(path) - allowed
    assert not outside, f"{path.relative_to(ROOT)} imports {sorted(outside)}"


def test_uvloop_and_lupa_are_imported_only_lazily() -> None:
    for path in MODULES:
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                module = getattr(node, "module", None) or ""
                roots = {name.split(".")[0] for name in [*names, module]}
                assert not roots & {"uvloop", "lupa"}, f"{path.name} imports {roots} at the top"


def test_importing_the_client_stays_light() -> None:
    code = (
        "import sys, protocol, protocol.client\n"
        "heavy = ['asyncio', 'click', 'rich', 'prompt_toolkit', 'rpccli', 'uvloop']\n"
        "print(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_function_table_loads_without_the_server() -> None:
    # `rpccli call --local` loads a function file through protocol.server.functions: the
    # package's public names come on first use, so the event loop and the server stay out
    code = (
        "import sys, protocol.server.functions\n"
        "heavy = ['asyncio', 'ssl', 'protocol.server.core', 'protocol.server.background']\n"
        "print(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_server_package_gives_every_public_name() -> None:
    import protocol.server as server

    assert sorted(server.__all__) == sorted(server._HOME)
    for name, home in server._HOME.items():
        module = importlib.import_module(f"protocol.server.{home}")
        assert getattr(server, name) is getattr(module, name)
    with pytest.raises(AttributeError):
        server.no_such_name  # noqa: B018


def test_the_exception_tree_loads_alone() -> None:
    # rpccli's TAB imports protocol.errors: the package's names come on first use, so it
    # brings neither the client nor sockets and selectors
    code = (
        "import sys, protocol.errors\n"
        "heavy = ['socket', 'selectors', 'protocol.client', 'protocol.wire', 'asyncio']\n"
        "print(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_package_gives_every_public_name() -> None:
    import protocol

    assert sorted(protocol.__all__) == sorted(protocol._HOME)
    for name, home in protocol._HOME.items():
        module = importlib.import_module(f"protocol.{home}")
        assert getattr(protocol, name) is getattr(module, name)
    with pytest.raises(AttributeError):
        protocol.no_such_name  # noqa: B018
