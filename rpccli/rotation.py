"""Where ``round-robin`` and ``best`` start, remembered across one-shot ``rpccli call`` runs.

Within one process (batch, the shell) :class:`protocol.nodes.NodeGroup` rotates by itself. A
one-shot ``rpccli call -s round-robin A,B`` is a new process every time, so without memory it
would always start at A. Here the order of the next call is decided from one small JSON
file, ``state_dir()/strategy.json`` (mode 0600, rewritten atomically under a lock):

- ``round-robin``: per node group, the index the next call starts at; each call moves it on by
  one, whichever node answered (as the in-process rotation does);
- ``best``: per node group, when each node was last chosen; a call starts at the node chosen
  least recently -- uWSGI's old ``cluster_best_node()`` (docs/protocol.md#server-side) -- and marks
  it chosen now.
  A node that then refused is still marked, so the next call starts elsewhere.

Only these two strategies come here; ``first`` (the default) never touches the file. Nothing here
raises: an unreadable or unwritable state falls back to a random start for round-robin and the
given order for best. Standard library only (the call path imports it).
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rpccli.statefile import locked, open_read, replace

__all__ = ["MAX_GROUPS", "answered_by", "starting_order"]

T = TypeVar("T")

#: at most this many node groups are remembered per strategy; the least recently used go first
MAX_GROUPS = 256
_MAX_FILE = 1024 * 1024
_FILE = "strategy.json"


def starting_order(strategy: str, nodes: Sequence[T]) -> list[T]:
    """``nodes`` in the order this call should try them; remembers the choice for the next."""
    nodes = list(nodes)
    if strategy not in ("round-robin", "best") or len(nodes) < 2:
        return nodes
    key = ",".join(str(node) for node in nodes)
    try:
        from rpccli.paths import state_dir

        directory = state_dir()
        with _locked(directory):
            path = directory / _FILE
            data = _load(path)
            order = _choose(data, strategy, key, nodes)
            _save(path, data)
        return order
    except Exception:  # never let remembering break the call
        if strategy == "round-robin":
            start = random.randrange(len(nodes))
            return nodes[start:] + nodes[:start]
        return nodes


def answered_by(strategy: str, nodes: Sequence[T], node: T) -> None:
    """After a failover: ``node`` answered, not the first of :func:`starting_order`. The next
    call starts after it (round-robin) and it counts as chosen now (best), so that a node that
    is down does not hand its turns to the node after it: with the first of three down, the
    two live nodes share the calls evenly, not 2:1."""
    nodes = list(nodes)
    if strategy not in ("round-robin", "best") or node not in nodes:
        return
    key = ",".join(str(n) for n in nodes)
    try:
        from rpccli.paths import state_dir

        directory = state_dir()
        with _locked(directory):
            path = directory / _FILE
            data = _load(path)
            groups = data.get(strategy)
            entry = groups.get(key) if isinstance(groups, dict) else None
            if not isinstance(groups, dict) or not isinstance(entry, dict):
                return
            if strategy == "round-robin":
                entry["next"] = (nodes.index(node) + 1) % len(nodes)
            elif isinstance(entry.get("chosen"), dict):
                entry["chosen"][str(node)] = time.time()
            _save(path, data)
    except Exception:  # never let remembering break the call
        return


def _choose(data: dict[str, Any], strategy: str, key: str, nodes: list[T]) -> list[T]:
    now = time.time()
    groups = data.get(strategy)
    if not isinstance(groups, dict):
        groups = data[strategy] = {}
    entry = groups.pop(key, None)  # re-inserted last: dicts keep the most recent use at the end
    if not isinstance(entry, dict):
        entry = {}
    if strategy == "round-robin":
        start = entry.get("next", 0)
        start = start % len(nodes) if isinstance(start, int) else 0
        order = nodes[start:] + nodes[:start]
        entry = {"next": (start + 1) % len(nodes)}
    else:
        stored = entry.get("chosen")
        chosen: dict[str, Any] = stored if isinstance(stored, dict) else {}

        def last(node: T) -> float:
            value = chosen.get(str(node), 0.0)
            return float(value) if isinstance(value, int | float) else 0.0

        order = sorted(nodes, key=last)  # stable: never-chosen nodes keep the given order
        times = {str(node): last(node) for node in nodes}
        times[str(order[0])] = now
        entry = {"chosen": times}
    groups[key] = entry
    while len(groups) > MAX_GROUPS:
        del groups[next(iter(groups))]
    return order


def _load(path: Path) -> dict[str, Any]:
    try:
        with open_read(path) as fh:  # a symlink in its place reads as absent, never followed
            raw = fh.read(_MAX_FILE + 1)
        data = json.loads(raw) if len(raw) <= _MAX_FILE else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, data: dict[str, Any]) -> None:
    # atomic, 0600, and a symlink in its place is replaced, not followed
    replace(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer at a time across rpccli processes (flock), so two calls never share a start."""
    with locked(directory / ".strategy.lock"):
        yield
