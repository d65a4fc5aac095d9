"""House style as tests: ruff clean and formatted, mypy strict on protocol/ and rpccli/, no import
circle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.peers import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_check() -> None:
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run("ruff", "format", "--no-cache", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    # incremental, with mypy's cache in .mypy_cache as when run by hand: a checkout checked
    # before rechecks only what changed (a second, not the full check's several)
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def _module_imports() -> dict[str, set[str]]:
    """Each module of protocol/ and rpccli/ -> the project modules it imports when loaded
    (imports inside functions and under TYPE_CHECKING are not a load-time dependency)."""
    import ast

    modules: dict[str, Path] = {}
    for package in ("protocol", "rpccli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:  # module level only
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join([*here, base] if base else here)
                # a submodule imported by name is the dependency; other names come from base
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def test_no_import_circle() -> None:
    graph = _module_imports()
    assert "protocol.server.connection" in graph and "rpccli.batch.engine" in graph
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            circle = [*path[path.index(name) :], name]
            raise AssertionError("import circle: " + " -> ".join(circle))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for module in sorted(graph):
        visit(module, [])


def test_no_module_over_400_lines() -> None:
    # small modules with clear names (CONTRIBUTING.md#style): a module that grows past this is
    # split by what its parts do, as rpccli/batch/setup.py and rpccli/node_words.py were
    long = {
        str(path.relative_to(ROOT)): count
        for package in ("protocol", "rpccli")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (count := len(path.read_text().splitlines())) > 400
    }
    assert not long, f"modules over 400 lines: {long}"
