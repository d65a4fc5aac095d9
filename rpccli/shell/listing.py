"""The shell's view of a node's function names, refreshed in the BACKGROUND.

uWSGI has no remote listing (docs/protocol.md#server-side), so a node may export one (``rpc_list``
by default, or the profile's ``list_function``). The shell fetches it in a daemon thread when it
connects and on
``.refresh``: the completer only ever reads the in-memory snapshot, so typing never waits on the
network and a node that is down leaves the shell fully usable.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from protocol.errors import NoResult, RPCError
from protocol.visible import counted
from rpccli import names
from rpccli.errors import describe
from rpccli.name_rule import is_offerable

__all__ = ["DEFAULT_LIST_FUNCTION", "NameIndex"]

DEFAULT_LIST_FUNCTION = "rpc_list"


class NameIndex:
    """Known names of one node: profile + learned + listing, merged (see rpccli.names)."""

    def __init__(
        self,
        node: str,
        *,
        list_function: str,
        fetch: Callable[[str], bytes],
        on_change: Callable[[], None] | None = None,
        persist: bool = True,
    ) -> None:
        self.node = node
        #: False for the throw-away demo server: its names are kept in memory only
        self.persist = persist
        self.list_function = list_function
        self._fetch = fetch
        self._on_change = on_change
        self._lock = threading.Lock()
        self._generation = 0
        self._sources: dict[str, list[str]] = {}
        self.fetching = False
        #: what the last listing fetch gave, for the toolbar and `.functions`
        self.status = "not fetched"
        #: the same for scripts: "listed", "none" (no result: the node exports no listing),
        #: "failed" (could not ask), or "not fetched"; ``error`` holds the failure
        self.outcome = "not fetched"
        self.error: RPCError | None = None
        self._reload()

    def _reload(self, listing: list[str] | None = None) -> None:
        if not self.persist:
            if listing is not None:
                with self._lock:
                    for name in listing:
                        found = self._sources.setdefault(name, [])
                        if "listing" not in found:
                            found.append("listing")
            return
        sources = names.name_sources(self.node)
        with self._lock:
            self._sources = sources

    def snapshot(self) -> dict[str, str]:
        """name -> its sources joined ("learned, listing"), sorted by name. No IO."""
        with self._lock:
            return {name: ", ".join(self._sources[name]) for name in sorted(self._sources)}

    def sources(self) -> dict[str, list[str]]:
        with self._lock:
            return {name: list(found) for name, found in sorted(self._sources.items())}

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._sources

    def learn(self, function: str) -> None:
        """A call to ``function`` succeeded: persist the name and show it at once."""
        if not is_offerable(function):
            return  # a name the menus and TAB must not show (rpccli.name_rule)
        if self.persist:
            names.remember(self.node, function)
        with self._lock:
            found = self._sources.setdefault(function, [])
            if "learned" not in found:
                found.append("learned")
                found.sort(key=names.SOURCES.index)

    def refresh(self) -> threading.Thread:
        """Fetch the listing in a daemon thread; an older fetch still running is ignored."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self.fetching = True
            self.status = f"fetching {self.list_function}"
        thread = threading.Thread(
            target=self._run, args=(generation,), name="rpccli-listing", daemon=True
        )
        thread.start()
        return thread

    def _run(self, generation: int) -> None:
        error: RPCError | None = None
        try:
            body = self._fetch(self.list_function)
        except NoResult as exc:
            status = f"{self.list_function} gave no result (the node exports no listing)"
            found, outcome, error = None, "none", exc
        except RPCError as exc:
            status = f"{self.list_function} failed: {describe(exc)}"
            found, outcome, error = None, "failed", exc
        except Exception as exc:  # a thread must not die noisily under the prompt
            status = f"{self.list_function} failed: {exc!r}"
            found, outcome = None, "failed"
        else:
            found = names.parse_listing(body)
            status = f"{counted(len(found), 'name')} from {self.list_function}"
            outcome = "listed"
        with self._lock:
            if generation != self._generation:
                return  # the node changed or a newer refresh started meanwhile
        if found is not None:
            if self.persist:
                names.store_listing(self.node, found)
            self._reload(found)
        with self._lock:
            if generation == self._generation:
                self.fetching = False
                self.status = status
                self.outcome, self.error = outcome, error
        if self._on_change is not None:
            with contextlib.suppress(Exception):
                self._on_change()
