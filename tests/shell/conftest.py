"""Every shell/completion test runs with its own empty XDG config and state directories."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def xdg_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    config = tmp_path / "config"
    state = tmp_path / "state"
    config.mkdir()
    state.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    for name in ("RPCCLI_CONFIG", "RPCCLI_NODE", "RPCCLI_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return {"config": config, "state": state}
