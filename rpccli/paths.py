"""Where rpccli keeps its files (XDG base directories).

Only the standard library is imported here: completion and the call path load this module.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_path", "state_dir"]


def _xdg(variable: str, fallback: str) -> Path:
    # the XDG spec says a relative value is invalid and must be ignored
    value = os.environ.get(variable, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_path() -> Path:
    """``$RPCCLI_CONFIG``, else ``$XDG_CONFIG_HOME/rpccli/config.toml`` (~/.config by default)."""
    explicit = os.environ.get("RPCCLI_CONFIG", "")
    if explicit:
        return Path(explicit).expanduser()
    return _xdg("XDG_CONFIG_HOME", ".config") / "rpccli" / "config.toml"


def state_dir(*, create: bool = True) -> Path:
    """``$XDG_STATE_HOME/rpccli`` (~/.local/state by default).

    With ``create``, it and any missing parent are created 0700, and an OSError says why it
    cannot hold state (see :func:`rpccli.statefile.private_dir`: a symlink, another user's).
    """
    path = _xdg("XDG_STATE_HOME", ".local/state") / "rpccli"
    if create:
        from rpccli.statefile import private_dir

        private_dir(path)
    return path
