"""How the suite is spread over processes (tests/conftest.py): each module of ``ONE_PROCESS`` and
``ALONE``, and each parameter of a ``BY_PARAMETER`` module, is one unit of work, so that its
expensive peer starts once, in one process; so is each lane of ``WAITING`` modules, so that
their waits hold one process each, not all of them at once."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadGroupScheduling

from tests.conftest import ALONE, BY_PARAMETER, ONE_PROCESS, ROOT, WAITING, _Machine


def test_a_one_process_module_is_one_unit_of_work(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as pyproject.toml runs the suite: --dist loadgroup on several processes
    monkeypatch.setattr(pytestconfig.option, "dist", "loadgroup")
    monkeypatch.setattr(pytestconfig.option, "tx", ["4*popen"])
    log = Producer("test")
    scheduler = pytestconfig.hook.pytest_xdist_make_scheduler(config=pytestconfig, log=log)
    # without the suite's own (in a process that does not hand out tests): xdist's, which the
    # suite's must replace, as on pytest 9.2 it sees no group in a test's id
    scheduler = scheduler or LoadGroupScheduling(pytestconfig, log)
    unit = scheduler._split_scope
    for module in sorted(ONE_PROCESS | ALONE):
        assert unit(f"{module}::test_a") == unit(f"{module}::test_b[README.md:12]") == module
    lanes = {module: unit(f"{module}::test_a[x]") for module in WAITING}
    for module, lane in WAITING.items():  # the modules of one lane are one unit, and no other's
        assert {m for m in WAITING if lanes[m] == lanes[module]} == {
            m for m, other in WAITING.items() if other == lane
        }
    for module in BY_PARAMETER:
        assert unit(f"{module}::test_a[bash]") == unit(f"{module}::test_b[bash]")
        assert unit(f"{module}::test_a[bash]") != unit(f"{module}::test_a[zsh]")
        assert unit(f"{module}::test_a") != unit(f"{module}::test_b")
    other = "tests/cli/test_call.py"
    assert unit(f"{other}::test_a") != unit(f"{other}::test_b")


def test_every_module_with_a_module_scoped_peer_keeps_to_one_process() -> None:
    # else each process that runs one of its tests starts the peer again
    fixture = re.compile(r'@pytest\.fixture\(\s*scope="module"')
    grouped = ONE_PROCESS | ALONE | BY_PARAMETER
    scoped = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if fixture.search(path.read_text())
    }
    assert scoped - grouped == set()


def test_an_alone_module_holds_the_machine_from_its_first_test_to_its_last(
    tmp_path: Path,
) -> None:
    alone, other = _Machine(), _Machine()
    alone.hold(str(tmp_path), alone=True)
    alone.hold(str(tmp_path), alone=True)  # its next test: still held, not taken again
    started = threading.Event()

    def another_test() -> None:
        other.hold(str(tmp_path), alone=False)
        started.set()
        other.release()

    thread = threading.Thread(target=another_test, daemon=True)
    thread.start()
    assert not started.wait(0.2)  # no other test starts while the module runs
    alone.release()
    assert started.wait(10)
    thread.join(10)
