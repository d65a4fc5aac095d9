"""Where function names come from, for the shell's completer and for TAB in bash/zsh/fish.

uWSGI cannot list its functions remotely (docs/protocol.md#server-side), so names come from three
local sources, merged:

- ``profile``: ``functions = [...]`` declared in the node's profile of the config file;
- ``learned``: functions that answered a successful call to that node (:func:`remember`);
- ``listing``: the last answer of the node's listing function (``rpc_list`` by default), stored by
  the shell with :func:`store_listing` after a background fetch.

Everything here is local: NOTHING in this module touches the network, because TAB must never wait
on a node. It imports only the standard library, rpccli.name_rule and rpccli.names_files (and
rpccli.paths/config lazily, inside functions), so that shell completion stays fast.

A name from any source -- a node's listing above all, which a stranger may write -- is kept, read
back and offered only when it passes the one rule of :mod:`rpccli.name_rule`.

Per node, one small JSON file lives in ``state_dir()/names/`` (:mod:`rpccli.names_files`),
written atomically with mode 0600 and bounded in size (:data:`MAX_LEARNED`, :data:`MAX_LISTING`);
about :data:`MAX_NODES` nodes keep one (at most MAX_NODES + :data:`PRUNE_EVERY` files between two
runs), and what a call or a fan-out learns costs O(1) per node: no scan of the directory.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rpccli.name_rule import MAX_NODE, is_offerable
from rpccli.names_files import file_name as _file_name
from rpccli.names_files import load as _load
from rpccli.names_files import locked as _locked
from rpccli.names_files import names_dir as _names_dir
from rpccli.names_files import names_dir_text as _names_dir_text
from rpccli.names_files import save as _save

if TYPE_CHECKING:
    from pathlib import Path

    import click
    from click.shell_completion import CompletionItem

    from rpccli.config import Config

__all__ = [
    "MAX_LEARNED",
    "MAX_LISTING",
    "MAX_NODES",
    "PRUNE_EVERY",
    "SOURCES",
    "complete_function",
    "complete_node",
    "function_choices",
    "known_names",
    "known_nodes",
    "listing_age",
    "name_sources",
    "node_choices",
    "node_key",
    "parse_listing",
    "remember",
    "remember_all",
    "store_listing",
]

#: the sources of a name, in the order they win when a name has several
SOURCES = ("profile", "learned", "listing")
#: at most this many learned names per node; the least recently learned go first
MAX_LEARNED = 1000
#: at most this many names kept from one listing answer
MAX_LISTING = 4096
#: at most this many nodes keep a names file; the least recently updated go first
MAX_NODES = 500
#: the names directory is pruned to MAX_NODES files once this many new ones were written since
#: the last prune (rpccli.names_files): a new node costs O(1), not a stat of every file
PRUNE_EVERY = 50


def node_key(node: str) -> str:
    """The canonical form of ``node`` under which its names are kept.

    ``:3031`` and ``127.0.0.1:3031`` are one node; a relative socket path is made absolute.
    Profile names and node groups are kept as written.
    """
    text = node.strip()
    if not text or "," in text:
        return text
    try:
        from protocol import parse_address

        address = parse_address(text)
    except Exception:
        return text  # a profile name, or something that is not a node: keep as is
    if address.kind == "unix":
        return os.path.abspath(address.path)
    return str(address)


def _path(node: str, *, create: bool = False) -> Path:
    return _names_dir(create) / _file_name(node_key(node))


def _update(node: str, change: Callable[[dict[str, Any]], bool]) -> None:
    """Read, change and atomically rewrite the names file of ``node``, under the lock."""
    _update_all([node_key(node)], change)


def _update_all(keys: Iterable[str], change: Callable[[dict[str, Any]], bool]) -> None:
    """:func:`_update` for several nodes (by :func:`node_key`) under ONE lock, with at most one
    prune at the end."""
    directory = _names_dir(create=True)
    with _locked(directory, keep=MAX_NODES, every=PRUNE_EVERY) as added:
        new = 0
        for key in keys:
            path = directory / _file_name(key)
            data = _load(path)
            is_new = not data  # absent (or unreadable, and now rewritten): a new file
            if change(data):
                new += is_new
                data["node"] = key
                _save(path, data)
        added(new)


def remember(node: str, function: str) -> None:
    """Record that ``function`` answered a call to ``node``. Cheap, and never raises."""
    remember_all([node], function)


def remember_all(nodes: Iterable[str], function: str) -> None:
    """Record that ``function`` answered each of ``nodes`` (a fan-out's), for the first
    :data:`MAX_NODES` of them: the cache keeps no more nodes than that, so writing more files
    would only make it throw the others away. Costs one small read per node, one write per node
    that did not know the name yet, and one lock in all. Never raises."""
    try:
        if not is_offerable(function):
            return
        keys: dict[str, None] = {}
        for node in nodes:
            if len(keys) >= MAX_NODES:
                break
            if key := node_key(node):
                keys[key] = None
        # already known: no lock, no write; a call's cost stays one small read (of the file
        # named as a string: no pathlib on the plain call path, docs/design.md#start-up)
        directory = _names_dir_text()
        todo = [
            k
            for k in keys
            if function not in _learned(_load(os.path.join(directory, _file_name(k))))
        ]
        if not todo:
            return

        def change(data: dict[str, Any]) -> bool:
            learned = _learned(data)
            if function in learned:
                return False
            learned[function] = int(time.time())
            if len(learned) > MAX_LEARNED:
                learned = dict(sorted(learned.items(), key=lambda kv: kv[1])[-MAX_LEARNED:])
            data["learned"] = learned
            return True

        _update_all(todo, change)
    except Exception:
        return


def _learned(data: dict[str, Any]) -> dict[str, Any]:
    learned = data.get("learned")
    return learned if isinstance(learned, dict) else {}


def parse_listing(body: bytes) -> list[str]:
    """The names in a listing function's answer: one per line, or a JSON array of strings.

    Each entry is decoded on its own and kept only when it passes the name rule: an entry that
    is not UTF-8 is dropped, never "repaired" into a name the node does not have.
    """
    parsed: object = None
    if body.lstrip().startswith(b"["):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    words: list[object] = parsed if isinstance(parsed, list) else []
    if not isinstance(parsed, list):
        for raw in body.split():
            try:
                words.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                continue
    seen: dict[str, None] = {}
    for word in words:
        if is_offerable(word) and len(seen) < MAX_LISTING:
            seen[str(word)] = None
    return list(seen)


def store_listing(node: str, names: list[str]) -> None:
    """Keep the names a node's listing function returned (replacing the previous listing)."""
    clean = [n for n in dict.fromkeys(names) if is_offerable(n)][:MAX_LISTING]

    def change(data: dict[str, Any]) -> bool:
        data.update(listing=clean, listing_at=int(time.time()))
        return True

    try:
        _update(node, change)
    except Exception:
        return


def listing_age(node: str) -> float | None:
    """Seconds since the stored listing of ``node`` was fetched, or None when there is none."""
    stamp = _load(_path(node)).get("listing_at")
    return max(0.0, time.time() - stamp) if isinstance(stamp, int | float) else None


def _config() -> Config | None:
    try:
        from rpccli.config import load_config

        return load_config()
    except Exception:  # a bad config must not break completion; `call` reports it
        return None


def _members(node: str, config: Config | None) -> tuple[list[str], list[str]]:
    """(declared function names, cache keys) for a node, a node group or a profile."""
    declared: list[str] = []
    keys = [node]
    profile = config.profiles.get(node.strip()) if config is not None else None
    if profile is not None:
        declared = list(profile.functions)
        keys += list(profile.addresses)
    elif "," in node:
        keys += [part for part in node.split(",") if part.strip()]
    return declared, keys


def name_sources(node: str, config: Config | None = None) -> dict[str, list[str]]:
    """Every known name of ``node`` with ALL its sources, in :data:`SOURCES` order."""
    if config is None:
        config = _config()
    declared, keys = _members(node, config)
    found: dict[str, list[str]] = {}

    def add(name: object, source: str) -> None:
        if is_offerable(name):
            sources = found.setdefault(str(name), [])
            if source not in sources:
                sources.append(source)

    for name in declared:
        add(name, "profile")
    files = [_load(_path(key)) for key in dict.fromkeys(node_key(k) for k in keys) if key]
    for data in files:
        learned = data.get("learned")
        for name in learned if isinstance(learned, dict) else ():
            add(name, "learned")
    for data in files:
        listing = data.get("listing")
        for name in listing if isinstance(listing, list) else ():
            add(name, "listing")
    for sources in found.values():
        sources.sort(key=SOURCES.index)
    return found


def known_names(node: str, config: Config | None = None) -> dict[str, str]:
    """name -> its main source ("profile" | "learned" | "listing"), sorted by name."""
    sources = name_sources(node, config)
    return {name: sources[name][0] for name in sorted(sources)}


def known_nodes() -> list[str]:
    """Nodes that have a names file (used before), most recently written first."""
    directory = _names_dir(create=False)
    try:
        entries = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []
    nodes: list[str] = []
    for entry in entries[:200]:
        node = _load(entry).get("node")
        if is_offerable(node, limit=MAX_NODE):  # the file is read back: it may have been edited
            nodes.append(str(node))
    return nodes


def node_choices(incomplete: str) -> list[tuple[str, str]]:
    """(node, help) for a NODE argument starting with ``incomplete``: profile names, then nodes
    used before. Local only, never raises; click-free, for TAB's quick path too."""
    choices: list[tuple[str, str]] = []
    try:
        config = _config()
        seen: set[str] = set()
        for name, profile in sorted(config.profiles.items()) if config else ():
            if name.startswith(incomplete) and is_offerable(name, limit=MAX_NODE):
                seen.add(name)
                choices.append((name, ", ".join(profile.addresses)))
        for node in known_nodes():
            if node.startswith(incomplete) and node not in seen:
                seen.add(node)
                choices.append((node, "used before"))
    except Exception:
        return choices
    return choices


def function_choices(node: str | None, incomplete: str) -> list[tuple[str, str]]:
    """(name, source) for the FUNCTION of ``node`` (None, "" or ".": the default node) starting
    with ``incomplete``. Local only, never raises; click-free, for TAB's quick path too."""
    try:
        config = _config()
        if not node or node.strip() == ".":  # "." is the default node, as in `rpccli call`
            from rpccli.node_words import default_node_text

            node = default_node_text(config)
        if not isinstance(node, str) or not node:
            return []
        return [
            (name, source)
            for name, source in known_names(node, config).items()
            if name.startswith(incomplete)
        ]
    except Exception:
        return []


def complete_node(
    ctx: click.Context | None, param: click.Parameter | None, incomplete: str
) -> list[CompletionItem]:
    """:func:`node_choices` for click's completion of a NODE argument."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(node, help=help) for node, help in node_choices(incomplete)]


def complete_function(
    ctx: click.Context | None, param: click.Parameter | None, incomplete: str
) -> list[CompletionItem]:
    """:func:`function_choices` of the NODE given earlier on the line, for click."""
    from click.shell_completion import CompletionItem

    node = ctx.params.get("node") if ctx is not None else None
    return [
        CompletionItem(name, help=source)
        for name, source in function_choices(node if isinstance(node, str) else None, incomplete)
    ]
