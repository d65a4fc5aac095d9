"""Every shell/completion test runs with its own empty XDG config and state directories."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """The xdg_dirs fixture of tests/conftest.py, for every test here."""
