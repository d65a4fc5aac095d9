"""The public API of the library (docs/library.md#the-public-api) and rpccli's use of it.

rpccli is the library's first user: for client work it imports only the curated ``protocol``
package and the documented public modules; the bundled server (``protocol.server``) only where
it serves (``serve``, ``--local``, the shell without a node).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import protocol
from tests.peers import ROOT

#: the documented public modules beside the package itself
PUBLIC = {
    "protocol",
    "protocol.errors",
    "protocol.wire",
    "protocol.reader",
    "protocol.failures",
    "protocol.visible",
    "protocol.aio",
    "protocol.testing",
    "protocol.tls",
}
#: where rpccli runs the bundled server
SERVER_USERS = {"rpccli/serve.py", "rpccli/call/local.py", "rpccli/shell/__init__.py"}
RPCCLI = sorted((ROOT / "rpccli").rglob("*.py"))


def protocol_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of protocol in ``path``, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "protocol":
                    found.append((node.lineno, alias.name, []))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "protocol"
        ):
            found.append((node.lineno, str(node.module), [a.name for a in node.names]))
    return found


def test_the_walk_finds_rpccli_imports_of_protocol() -> None:
    modules = {m for path in RPCCLI for _, m, _ in protocol_imports(path)}
    assert {"protocol", "protocol.errors", "protocol.server"} <= modules


@pytest.mark.parametrize("path", RPCCLI, ids=lambda p: str(p.relative_to(ROOT)))
def test_rpccli_uses_only_the_public_api(path: Path) -> None:
    where = str(path.relative_to(ROOT))
    for line, module, names in protocol_imports(path):
        at = f"{where}:{line} imports {module}"
        if module == "protocol.server" or module.startswith("protocol.server."):
            assert where in SERVER_USERS, f"{at}: only {sorted(SERVER_USERS)} run the server"
            continue
        assert module in PUBLIC, f"{at}, an internal module: import it from protocol"
        public = importlib.import_module(module)
        for name in names:
            if f"{module}.{name}" in PUBLIC:  # from protocol import failures
                continue
            assert name in public.__all__, f"{at}: {name} is not in {module}.__all__"


def test_every_public_name_resolves_and_is_documented() -> None:
    docs = (ROOT / "docs" / "library.md").read_text()
    for name in protocol.__all__:
        assert getattr(protocol, name) is not None
        assert f"`{name}" in docs or f"{name}(" in docs or f".{name}" in docs, name
    for module in PUBLIC - {"protocol"}:
        assert f"`{module}`" in docs, f"docs/library.md does not name {module}"
        for name in importlib.import_module(module).__all__:
            assert not name.startswith("_")
