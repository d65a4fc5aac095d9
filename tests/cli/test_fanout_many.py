"""Fan-out to a few hundred nodes (issue 16, last item): ``call -s all`` and ``ping`` of a group
run on one thread (protocol.fanout), every node answers exactly once, in the order of the group,
and what rpccli remembers per node stays bounded and costs no scan of its files per node.

The nodes are ONE ``rpccli serve`` process bound to NODES loopback ports (its own descriptors,
not the test's), serving ``tick``: the number of calls it has answered so far, so a fan-out's
answers are NODES consecutive numbers exactly when every node was called once.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rpccli import names
from tests.cli.conftest import Result
from tests.peers import ROOT, stop_process

pytestmark = pytest.mark.xdist_group("fanout_many")  # one server of NODES ports for the module
NODES = 300
TICK = (
    "import itertools\nimport uwsgi\n\n_count = itertools.count(1)\n"
    'uwsgi.register_rpc("tick", lambda *args: str(next(_count)).encode())\n'
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """NODES nodes: one rpccli serve bound to NODES ephemeral loopback ports."""
    functions = tmp_path_factory.mktemp("fleet") / "tick.py"
    functions.write_text(TICK)
    command = [sys.executable, "-m", "rpccli", "serve", "-q", "--threads", "0", "--no-demo"]
    command += [str(functions), *["--bind", "127.0.0.1:0"] * NODES]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    nodes: list[str] = []
    for line in proc.stderr:
        if found := re.match(r"rpccli serve: listening on (.+)$", line.strip()):
            nodes.append(found.group(1))
        if line.lstrip().startswith("try:"):
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    try:
        assert len(nodes) == NODES, "rpccli serve did not start"
        yield nodes
    finally:
        stop_process(proc, 15)


@pytest.fixture
def profile(fleet: list[str], write_config: Callable[[str], Path]) -> list[str]:
    """A config profile ``fleet`` of all the nodes (too long for one command-line word)."""
    write_config(f"[nodes.fleet]\naddress = {json.dumps(fleet)}\n")
    return fleet


def threads_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []
    start = threading.Thread.start

    def counted(self: threading.Thread) -> None:
        started.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    return started


def test_call_all_answers_once_per_node_in_order_on_one_thread(
    profile: list[str], cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threads_started(monkeypatch)
    result = cli("call", "-s", "all", "--json", "fleet", "tick")
    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["node"] for r in records] == profile  # every node, once, in the group's order
    assert all(r["ok"] for r in records)
    ticks = sorted(int(r["response"]) for r in records)
    assert ticks == list(range(ticks[0], ticks[0] + NODES))  # NODES calls in all: one per node
    assert started == []  # no thread pool: one thread drives every connection


def test_a_refused_node_is_its_own_record_and_the_exit_code_says_partial(
    profile: list[str], cli: Callable[..., Result], write_config: Any
) -> None:
    with socket.socket() as held:  # bound, never listening: refused, and its port stays taken
        held.bind(("127.0.0.1", 0))
        refused_node = f"127.0.0.1:{held.getsockname()[1]}"
        group = [*profile[:150], refused_node, *profile[150:]]
        write_config(f"[nodes.fleet]\naddress = {json.dumps(group)}\n")
        result = cli("call", "-s", "all", "-o", "bytes", "fleet", "tick")
    assert result.code == 6
    assert len(result.out.splitlines()) == NODES
    assert f"rpccli: cannot connect to {refused_node}: refused" in result.err
    assert f"rpccli: 1 of {NODES + 1} nodes failed" in result.err


def test_names_learned_stay_bounded_with_no_scan_per_node(
    profile: list[str],
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    xdg_dirs: dict[str, Path],
) -> None:
    monkeypatch.setattr(names, "MAX_NODES", 40)
    every = getattr(names, "PRUNE_EVERY", 1)
    stats: list[Path] = []
    stat = Path.stat

    def counted(self: Path, **kw: bool) -> object:
        if self.parent.name == "names":
            stats.append(self)
        return stat(self, **kw)

    monkeypatch.setattr(Path, "stat", counted)
    directory = xdg_dirs["state"] / "rpccli" / "names"
    for _ in range(3):
        assert cli("call", "-s", "all", "fleet", "tick").code == 0
        kept = list(directory.glob("*.json"))
        assert len(kept) <= names.MAX_NODES + every
    # what a prune costs (a stat per file) came at most once per run, never once per node
    assert len(stats) <= 3 * (names.MAX_NODES + every + 1)
    # the group as written and its first nodes know the name; later nodes are not written at all
    assert names.known_names("fleet") == {"tick": "learned"}
    assert names.known_names(profile[0]) == {"tick": "learned"}


def test_ping_of_the_group_reports_every_node_in_order(
    profile: list[str], cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threads_started(monkeypatch)
    result = cli("ping", "fleet")
    assert result.code == 0, result.err
    lines = result.text.splitlines()
    assert [line.split(": seq=")[0] for line in lines] == profile
    assert all(re.fullmatch(r".+: seq=1 time=\d+\.\d{3} ms ok", line) for line in lines)
    assert started == []
    records = [
        json.loads(line)
        for line in cli("ping", "--json", "-c", "2", "-i", "0.2", "fleet").out.splitlines()
    ]
    assert [(r["node"], r["seq"], r["ok"]) for r in records] == [
        (node, seq, True) for seq in (1, 2) for node in profile
    ]
