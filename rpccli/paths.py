"""Where rpccli keeps its files (XDG base directories).

Only the standard library is imported here: completion and the call path load this module.
The ``*_text`` forms are the same places as plain strings, for the plain call path, which
imports no pathlib (with urllib.parse and ipaddress behind it) when it has no config file and
writes no state (docs/design.md#start-up).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["config_path", "default_config_text", "state_dir", "state_dir_text"]


def _home() -> str:
    # Path.home(): "~" expanded; pathlib refuses a home it cannot determine, and so does this
    home = os.path.expanduser("~")
    if home[:1] == "~":
        from pathlib import Path

        return str(Path.home())  # raises RuntimeError, as it always did
    return home


def _xdg_text(variable: str, fallback: str) -> str:
    # the XDG spec says a relative value is invalid and must be ignored
    value = os.environ.get(variable, "")
    if value and os.path.isabs(value):
        return value
    return os.path.join(_home(), fallback)


def config_path() -> Path:
    """``$RPCCLI_CONFIG``, else ``$XDG_CONFIG_HOME/rpccli/config.toml`` (~/.config by default)."""
    from pathlib import Path

    explicit = os.environ.get("RPCCLI_CONFIG", "")
    if explicit:
        return Path(explicit).expanduser()
    return Path(default_config_text())


def default_config_text() -> str:
    """:func:`config_path` without ``$RPCCLI_CONFIG``, as a string: the same file (``Path``
    of it is ``config_path()``), named without importing pathlib."""
    return os.path.join(_xdg_text("XDG_CONFIG_HOME", ".config"), "rpccli", "config.toml")


def state_dir(*, create: bool = True) -> Path:
    """``$XDG_STATE_HOME/rpccli`` (~/.local/state by default).

    With ``create``, it and any missing parent are created 0700, and an OSError says why it
    cannot hold state (see :func:`rpccli.statefile.private_dir`: a symlink, another user's).
    """
    from pathlib import Path

    path = Path(state_dir_text())
    if create:
        from rpccli.statefile import private_dir

        private_dir(path)
    return path


def state_dir_text() -> str:
    """:func:`state_dir` as a string, nothing created: named without importing pathlib."""
    return os.path.join(_xdg_text("XDG_STATE_HOME", ".local/state"), "rpccli")
