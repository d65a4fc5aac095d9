"""Fixtures shared by every test package: the bundled server with demo and example functions, and
empty XDG directories for tests that run rpccli code; and how the suite is spread over processes.

The suite runs on several processes (pytest-xdist, ``--dist loadgroup`` in pyproject.toml): each
test goes to whichever process is free, except the modules in ``ONE_PROCESS``, whose tests all
run one after the other in a single process, the ``WAITING`` modules, which run in two such
lanes, the modules in ``ALONE``, whose tests run while no other test runs anywhere (see
``pytest_runtest_protocol``), and the tests of one parameter of a ``BY_PARAMETER`` module, which
run in one process.
"""

from __future__ import annotations

import fcntl
import gc
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import HealthCheck, settings

from protocol.server import BackgroundServer, serve_in_thread
from protocol.server.functions import FunctionTable

ROOT = Path(__file__).resolve().parent.parent

# The suite starts hundreds of rpccli processes: with PYTHONDONTWRITEBYTECODE set, each of them
# compiled the project's modules again (about 0.1 s of CPU a process) and every test process
# rewrote pytest's asserts again. The suite keeps its bytecode caches (git-ignored) whatever the
# variable says, for itself, its worker processes and every process a test starts.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
DEMO_FUNCTIONS = ROOT / "rpccli" / "demo_functions.py"
EXAMPLE_FUNCTIONS = ROOT / "examples" / "functions.py"

# property tests check what the code does, never how fast (no timed assertions): no per-example
# deadline, which a machine busy with the other test processes would miss, and no health check
# of how long the examples take to make (too_slow: timed too, and it failed a full run at load 8)
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


def _bundled_table() -> FunctionTable:
    table = FunctionTable()
    table.load_file(DEMO_FUNCTIONS)
    table.load_file(EXAMPLE_FUNCTIONS)
    return table


@pytest.fixture(scope="session")
def bundled_node() -> Iterator[str]:
    """Node of a bundled server on 127.0.0.1:<ephemeral> serving the demo functions AND
    examples/functions.py (examples win where names overlap), stopped at the end."""
    with serve_in_thread(_bundled_table(), ("127.0.0.1:0",)) as server:
        yield server.node


@pytest.fixture
def own_server() -> Iterator[BackgroundServer]:
    """A bundled server like ``bundled_node``'s for one test alone, so that what it is doing
    (``own_server.server.running()``) is that test's calls only."""
    with serve_in_thread(_bundled_table(), ("127.0.0.1:0",)) as server:
        yield server


@pytest.fixture
def xdg_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty XDG config and state directories, and none of the caller's rpccli variables (nor
    NO_COLOR): no test sees the developer's config, history or environment."""
    config = tmp_path / "config"
    state = tmp_path / "state"
    config.mkdir()
    state.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    for name in ("RPCCLI_CONFIG", "RPCCLI_NODE", "RPCCLI_TIMEOUT", "NO_COLOR", "RPCCLI_TRACEBACK"):
        monkeypatch.delenv(name, raising=False)
    return {"config": config, "state": state}


#: Modules whose tests run one after another in one process, each module in its own group:
#: those with an expensive module-scoped peer (real uWSGI, nginx, the docs' server in a network
#: namespace of its own), so that it starts once and not once per process.
ONE_PROCESS = {
    "tests/test_docs.py",
    "tests/interop/test_conformance.py",
    "tests/interop/test_library.py",
    "tests/interop/test_peers_call_serve.py",
    "tests/interop/test_serve_fast_path.py",
    "tests/interop/test_tls.py",
    "tests/interop/test_tls_serve_errors.py",
    "tests/interop/test_lua_files.py",
    "tests/interop/test_functions_uwsgi.py",
    "tests/interop/test_signal_uwsgi.py",
    "tests/interop/test_explain_uwsgi.py",
    "tests/interop/test_http_port.py",
    "tests/server/test_server.py",
    "tests/hostile/test_bad_input.py",
    "tests/hostile/test_state_files.py",
    "tests/cli/test_fanout_many.py",
    "tests/protocol/test_fanout_limit.py",
    "tests/interop/test_tls_max.py",
    "tests/cli/test_fast_path.py",
    "tests/test_forkcommand.py",
}
#: Modules whose tests run alone on the machine: none today. A test that fails on a busy machine
#: waits for a visible sign instead (the tmux tests wait for the empty prompt before a paste, the
#: serve-abuse tests for answers and descriptors); the lock stays for a test that cannot.
ALONE: set[str] = set()
#: Modules whose tests share a module-scoped fixture per parameter (an interactive shell of each
#: kind): the tests of one parameter run one after another in one process, so that it starts once.
BY_PARAMETER = {"tests/hostile/test_completion_hostile.py"}
_LOCKS = "PYTEST_RPCCLI_LOCKS"


#: After the ``WAITING`` lanes, the longest modules (real terminals, the docs' examples, real
#: peers) go first, so that the last test to start is a short one and no process is left with a
#: long tail while the others idle.
#: Then the other modules that keep to one process (a unit of several tests each), then every
#: other test; the ``ALONE`` modules go last: a test that waits for the machine to itself waits
#: for the tests running everywhere else (no new one starts meanwhile), and at the end of the
#: run those are the short ones, not a long unit such as the docs' examples that the run starts
#: with (in a run under load, an ALONE module taken early left five processes idle for 12 s
#: before it ran).
FIRST = (
    "tests/test_docs.py",
    "tests/hostile/test_completion_hostile.py",
    "tests/hostile/test_terminal_escape.py",
    "tests/test_bench.py",
    "tests/interop/",
    "tests/hostile/test_serve_abuse.py",
)


#: Modules whose tests mostly wait (for a deadline to pass, a peer to accept late, a bench's
#: paced calls) and use next to no CPU, in two lanes: the modules of a lane are one unit of work,
#: run one after the other by one process, and both lanes go first, so that two processes wait
#: through the run's first half while the other four keep the cores busy. Each module a unit of
#: its own, spread out among the other tests, they still met (tests handed out by count, not by
#: time): four processes waited at once for 10 s of a run (the machine 53 % busy; /proc/stat
#: sampled every 0.5 s), and a long one that started late was the run's tail. The lanes are
#: balanced by the modules' wall time (about 45 s each on the 2-core machine).
WAITING = {
    "tests/protocol/test_call_path.py": 1,
    "tests/protocol/test_aio_transport_path.py": 1,
    "tests/protocol/test_aio_poller.py": 1,
    "tests/protocol/test_close_grace.py": 1,
    "tests/protocol/test_early_read.py": 2,
    "tests/protocol/test_client_cases.py": 2,
    "tests/bench/test_bench_command.py": 2,
}


def rank(module: str) -> int:
    """Where the tests of ``module`` (a path from the repository's root) go in the run."""
    if module in ALONE:
        return len(FIRST) + 3
    if module in WAITING:
        return -1
    first = next((n for n, prefix in enumerate(FIRST) if module.startswith(prefix)), None)
    if first is not None:
        return first
    grouped = module in ONE_PROCESS or module in BY_PARAMETER
    return len(FIRST) + 1 if grouped else len(FIRST) + 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the tests by ``rank`` (a stable sort: a module's own order stays)."""
    modules = {item: item.path.relative_to(ROOT).as_posix() for item in items}
    items.sort(key=lambda item: rank(modules[item]))


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    """No garbage collection while the tests are collected: collection makes objects that live
    to the end of the run (``pytest_collection_finish``), and the collector walked them again
    and again as they grew (0.15 of a test process's 1.7 CPU-s of collection; gc.callbacks)."""
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection made (2,600 test items, every test module and what they import) lives to
    the end of the run: frozen out of the collector's way, the full collections that a test's
    garbage sets off no longer walk it each time: 0.09-0.16 CPU-s of full collections a test
    process instead of 0.2-0.7 (gc.callbacks, a whole run)."""
    gc.freeze()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadgroup`` with this suite's groups (``group_of``): all the tests of a
    ``ONE_PROCESS`` or ``ALONE`` module are one unit of work, run by one process, and so are
    those of one ``WAITING`` lane and those of one parameter of a ``BY_PARAMETER`` module; any
    other test is a unit of its own.
    The groups are read from the test's id here, in the main process: xdist's own way, an
    ``xdist_group`` mark that each worker writes into the test's id, is lost on pytest 9.2,
    whose ids cannot be rewritten, and then every module's peer starts once per process."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        """xdist's scheduler with the suite's units, and two costs of the main process gone:
        xdist counts a process's pending tests over every unit it was ever given, after every
        test, and finds each test it hands out by a search of the whole collection; both grow
        with the square of the number of tests (3 of the main process's 5 CPU-s in a run). Here
        a unit whose tests are all done leaves its process's workload, and the tests' places
        are looked up in a dictionary."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

        def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
            nodeid = self.registered_collections[node][item_index]
            workload = self.assigned_work[node]
            scope = self._split_scope(nodeid)
            unit = workload[scope]
            unit[nodeid] = True
            if False not in unit.values():
                del workload[scope]  # xdist reads a workload only for its pending tests
            self._reschedule(node)

        def _assign_work_unit(self, node: Any) -> None:
            scope, unit = self.workqueue.popitem(last=False)
            self.assigned_work.setdefault(node, {})[scope] = unit
            places = self._places
            if places is None:  # every process has the same collection (xdist checks it)
                places = self._places = {
                    nodeid: n for n, nodeid in enumerate(self.collection or ())
                }
            node.send_runtest_some([places[nodeid] for nodeid, done in unit.items() if not done])

        _places: dict[str, int] | None = None

    # the units in the order of the tests (``rank``), not xdist's own: by their number of tests,
    # which took the ALONE module (7 tests) early, while the long units still ran
    config.option.loadscopereorder = False
    return ModuleGroups(config, log)


def group_of(nodeid: str) -> str:
    """The unit of work of the test ``nodeid``: its ``WAITING`` lane, its module's path if the
    module's tests keep to one process (``ONE_PROCESS``, ``ALONE``), the module and the test's
    parameter for a ``BY_PARAMETER`` module, else the test itself."""
    module, _, test = nodeid.partition("::")
    if module in WAITING:
        return f"waiting lane {WAITING[module]}"
    if module in ONE_PROCESS or module in ALONE:
        return module
    if module in BY_PARAMETER and test.endswith("]"):
        return f"{module}[{test.rpartition('[')[2]}"
    return nodeid


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C tests need SIGINT: a run started in the background by a shell without job control
    ignores it, and so would every process a test starts. In the main process of a run: a
    directory for the locks its worker processes share."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # children start with SIG_DFL
    if not hasattr(config, "workerinput") and _LOCKS not in os.environ:
        locks = tempfile.mkdtemp(prefix="rpccli-tests-")
        os.environ[_LOCKS] = locks  # inherited by the worker processes, started after this

        def remove() -> None:
            shutil.rmtree(locks, ignore_errors=True)
            os.environ.pop(_LOCKS, None)

        config.add_cleanup(remove)


class _Machine:
    """This worker process's hold on the machine lock (see ``pytest_runtest_protocol``)."""

    def __init__(self) -> None:
        self.files: tuple[IO[str], IO[str]] | None = None  # (turnstile, machine) while held
        self.alone = False

    def hold(self, locks: str, *, alone: bool) -> None:
        if self.files is not None and self.alone == alone:
            return  # the next test of an ALONE module: the machine is still ours
        self.release()
        turnstile = open(Path(locks) / "turnstile", "a")  # noqa: SIM115 - held across tests
        machine = open(Path(locks) / "machine", "a")  # noqa: SIM115
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        self.files, self.alone = (turnstile, machine), alone

    def release(self) -> None:
        if self.files is not None:
            for file in reversed(self.files):
                fcntl.flock(file, fcntl.LOCK_UN)
                file.close()
            self.files = None


_MACHINE = _Machine()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """In a worker process: each test (its setup and teardown included) holds the machine lock
    shared; the tests of an ``ALONE`` module hold it exclusively, from the first to the last
    (the other processes wait once for the whole module, not once per test). A waiting
    exclusive holder holds the turnstile, so no new test starts before it (tests that run keep
    their shared lock)."""
    locks = os.environ.get(_LOCKS)
    if not hasattr(item.config, "workerinput") or locks is None:
        return (yield)
    alone = item.path.relative_to(ROOT).as_posix() in ALONE
    _MACHINE.hold(locks, alone=alone)
    try:
        return (yield)
    finally:
        if not (alone and nextitem is not None and nextitem.path == item.path):
            _MACHINE.release()
