"""The order in which the suite hands out its units of work (tests/conftest.py, ``rank``): the
lanes of modules that mostly wait first, then the long modules, the modules that keep to one
process next, the ALONE modules last; and xdist keeps that order instead of sorting the units by
their number of tests."""

from __future__ import annotations

import pytest
from xdist.remote import Producer

import tests.conftest
from tests.conftest import ALONE, FIRST, ONE_PROCESS, ROOT, WAITING, rank


def _modules() -> list[str]:
    return sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").rglob("test_*.py"))


def test_the_alone_modules_go_last_and_the_long_ones_first(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = _modules()
    assert set(modules) >= ALONE
    # no module needs the machine to itself today: the rule is checked with one that would
    alone = ALONE or {"tests/hostile/test_shell_input.py"}
    monkeypatch.setattr(tests.conftest, "ALONE", alone)
    others = [module for module in modules if module not in alone and module not in WAITING]
    assert max(rank(module) for module in others) < min(rank(module) for module in alone)
    first = [m for m in others if any(m.startswith(prefix) for prefix in FIRST)]
    rest = [m for m in others if m not in first]
    assert max(rank(module) for module in first) < min(rank(module) for module in rest)
    grouped = [m for m in rest if m in ONE_PROCESS]
    single = [m for m in rest if m not in grouped]
    assert max(rank(module) for module in grouped) < min(rank(module) for module in single)


def test_the_modules_that_mostly_wait_go_first_in_two_lanes() -> None:
    modules = _modules()
    assert set(modules) >= set(WAITING)
    waiting = [rank(module) for module in WAITING]
    assert max(waiting) < min(rank(module) for module in modules if module not in WAITING)
    assert sorted(set(WAITING.values())) == [1, 2]


def test_xdist_hands_out_the_units_in_the_order_of_the_tests(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # xdist's default sorts the units by their number of tests: the ALONE module's 7 tests
    # came before the long single tests, at the start of the run
    monkeypatch.setattr(pytestconfig.option, "dist", "loadgroup")
    monkeypatch.setattr(pytestconfig.option, "tx", ["4*popen"])
    monkeypatch.setattr(pytestconfig.option, "loadscopereorder", True)
    log = Producer("test")
    scheduler = pytestconfig.hook.pytest_xdist_make_scheduler(config=pytestconfig, log=log)
    assert scheduler is not None
    assert pytestconfig.option.loadscopereorder is False
