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


# what importing some modules may not bring in (each in a fresh interpreter)
LIGHT = {
    # the blocking client: no asyncio, and nothing of rpccli's CLI
    "protocol, protocol.client": ["asyncio", "click", "rich", "prompt_toolkit", "rpccli", "uvloop"],
    # the package alone: no event loop, thread pool, node groups or server
    "protocol": ["asyncio", "concurrent.futures", "protocol.nodes", "protocol.server"],
    # `rpccli call --local` loads a function file through protocol.server.functions: the
    # server package's names come on first use, so the event loop and the server stay out
    "protocol.server.functions": [
        "asyncio", "ssl", "protocol.server.core", "protocol.server.background"
    ],
    # every rpccli command (and TAB) imports the exception tree: the package's names come on
    # first use, so it brings neither the client nor sockets and selectors
    "protocol.errors": ["socket", "selectors", "protocol.client", "protocol.wire", "asyncio"],
}  # fmt: skip


@pytest.mark.parametrize("modules", LIGHT)
def test_importing_stays_light(modules: str) -> None:
    code = (
        f"import sys, {modules}\n"
        f"print(' '.join(m for m in {LIGHT[modules]!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("package", ["protocol", "protocol.server"])
def test_a_package_gives_every_public_name_on_first_use(package: str) -> None:
    lazy = importlib.import_module(package)
    assert sorted(lazy.__all__) == sorted(lazy._HOME)
    for name, home in lazy._HOME.items():
        module = importlib.import_module(f"{package}.{home}")
        assert getattr(lazy, name) is getattr(module, name)
    with pytest.raises(AttributeError):
        lazy.no_such_name  # noqa: B018
