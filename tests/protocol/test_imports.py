"""protocol/ is a standalone library: the standard library only, and a light import path."""

from __future__ import annotations

import ast
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
