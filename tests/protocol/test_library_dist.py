"""The library-only distribution (library/pyproject.toml, issue 17 item 6): the protocol package
with no third-party dependency, built from the same files as the rpccli distribution."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

from tests.peers import ROOT


def test_library_dist_installs_protocol_alone_with_no_dependency(tmp_path: Path) -> None:
    target = tmp_path / "site"
    # a copy with the links followed: the build writes build/ and *.egg-info next to the sources
    source = shutil.copytree(
        ROOT / "library", tmp_path / "library", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    (info,) = target.glob("rpccli_protocol-*.dist-info")
    metadata = Parser().parsestr((info / "METADATA").read_text())
    assert metadata["Name"] == "rpccli-protocol"
    assert metadata.get_all("Requires-Dist") is None  # no third-party dependency at all
    (version,) = re.findall(r'__version__ = "(.+)"', (ROOT / "rpccli" / "__init__.py").read_text())
    assert metadata["Version"] == version
    assert "protocol = protocol.pytest_plugin" in (info / "entry_points.txt").read_text()
    installed = {p.relative_to(target / "protocol").as_posix() for p in target.rglob("*.py")}
    shipped = {
        p.relative_to(ROOT / "protocol").as_posix() for p in (ROOT / "protocol").rglob("*.py")
    }
    assert installed == shipped and (target / "protocol" / "py.typed").is_file()
    assert sorted(p.name for p in target.iterdir()) == sorted([info.name, "protocol"])
    code = f"import sys; sys.path.insert(0, {str(target)!r}); import protocol.testing, protocol.aio"
    code += "; print(protocol.__file__)"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith(str(target))
