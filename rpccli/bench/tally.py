"""What a bench run counts: calls by outcome, latency and connect-time histograms, per node.

A :class:`Tally` is what one process recorded in one second (a delta) or over the whole run;
tallies merge by adding, so the lanes' deltas sum to exact totals. Every call that was sent is
counted exactly once: as ``ok`` or under one error kind (``connect``, ``timeout``,
``no_result``, ``protocol``, ``interrupted`` for a call cut off by Ctrl-C while waiting).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rpccli.bench.histogram import Histogram

__all__ = ["KINDS", "NodeTally", "Tally"]

KINDS = ("connect", "timeout", "no_result", "protocol", "interrupted")


@dataclass
class NodeTally:
    ok: int = 0
    errors: int = 0
    latency: Histogram = field(default_factory=Histogram)

    def merge(self, other: NodeTally) -> None:
        self.ok += other.ok
        self.errors += other.errors
        self.latency.merge(other.latency)


@dataclass
class Tally:
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)  # kind -> its first message
    latency: Histogram = field(default_factory=Histogram)  # from the intended start
    connect: Histogram = field(default_factory=Histogram)
    nodes: dict[str, NodeTally] = field(default_factory=dict)
    lag_max: int = 0  # open loop: the longest a call started after its intended time (ns)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def calls(self) -> int:
        return self.ok + self.failed

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.first.setdefault(kind, message)

    def merge(self, other: Tally) -> None:
        self.ok += other.ok
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        for kind, message in other.first.items():
            self.first.setdefault(kind, message)
        self.latency.merge(other.latency)
        self.connect.merge(other.connect)
        for node, row in other.nodes.items():
            self.nodes.setdefault(node, NodeTally()).merge(row)
        self.lag_max = max(self.lag_max, other.lag_max)

    def __getstate__(self) -> dict[str, object]:
        # histograms travel as their bytes (36 KiB each): pickling arrays is slower
        return {
            "ok": self.ok,
            "errors": self.errors,
            "first": self.first,
            "latency": self.latency.to_bytes(),
            "connect": self.connect.to_bytes(),
            "nodes": {n: (r.ok, r.errors, r.latency.to_bytes()) for n, r in self.nodes.items()},
            "lag_max": self.lag_max,
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        self.ok = state["ok"]  # type: ignore[assignment]
        self.errors = state["errors"]  # type: ignore[assignment]
        self.first = state["first"]  # type: ignore[assignment]
        self.latency = Histogram.from_bytes(state["latency"])  # type: ignore[arg-type]
        self.connect = Histogram.from_bytes(state["connect"])  # type: ignore[arg-type]
        nodes: dict[str, tuple[int, int, bytes]] = state["nodes"]  # type: ignore[assignment]
        self.nodes = {
            n: NodeTally(ok, err, Histogram.from_bytes(data))
            for n, (ok, err, data) in nodes.items()
        }
        self.lag_max = state["lag_max"]  # type: ignore[assignment]
