"""The library-only distribution (library/pyproject.toml, issue 17 item 6): the protocol package
with no third-party dependency, built from the same files as the rpccli distribution."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from tests.peers import ROOT

# The build frontend's part, in one fresh interpreter: the build_wheel hook (PEP 517) of the
# backend library/pyproject.toml names, in the sources' directory. pip install runs the same
# hook, after its own start-up (its user agent alone runs lsb_release and rustc --version) and
# the metadata hook, each hook in a process of its own: 1.7 CPU-s where this takes 0.4.
BUILD = """
import importlib, sys, tomllib
with open("pyproject.toml", "rb") as file:
    backend = tomllib.load(file)["build-system"]["build-backend"]
importlib.import_module(backend).build_wheel(sys.argv[1])
"""


def test_library_dist_installs_protocol_alone_with_no_dependency(tmp_path: Path) -> None:
    target = tmp_path / "site"
    # a copy with the links followed: the build writes build/ and *.egg-info next to the sources
    source = shutil.copytree(
        ROOT / "library", tmp_path / "library", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-c", BUILD, str(dist)],
        cwd=source, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    (wheel,) = dist.glob("rpccli_protocol-*-py3-none-any.whl")  # pure Python, any platform
    with zipfile.ZipFile(wheel) as archive:
        # installing a wheel whose root is purelib and that has no .data directory is unpacking
        # it there (the binary distribution format, "Installing a wheel 'distribution-1.0-py32
        # -none-any.whl'"); what pip install --target would do, bytecode apart
        (wheel_file,) = (n for n in archive.namelist() if n.endswith(".dist-info/WHEEL"))
        assert "Root-Is-Purelib: true" in archive.read(wheel_file).decode()
        assert not [n for n in archive.namelist() if ".data/" in n]
        archive.extractall(target)
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
