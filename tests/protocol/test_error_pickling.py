"""Every error of the one tree pickles and copies with all its attributes (issue 17, item 2):
an error raised in a process pool job reaches the caller instead of breaking the pool."""

from __future__ import annotations

import copy
import inspect
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

import protocol
import protocol.server.functions  # (the server's errors join the tree too)
import protocol.server.listen
import rpccli.errors  # noqa: F401  (its errors join the tree walked below)
from protocol.errors import NoResult, RPCError

ARGUMENTS = {"node": "10.0.0.2:3031", "message": "no result from 10.0.0.2:3031"}
KEYWORDS = {"hint": "the likely cause", "limit": "item", "sent": False}


def tree() -> list[type[RPCError]]:
    found: list[type[RPCError]] = []
    todo: list[type[RPCError]] = [RPCError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def example(cls: type[RPCError]) -> RPCError:
    """An instance built through the class's own constructor, every optional attribute set."""
    params = inspect.signature(cls.__init__).parameters
    args = [
        ARGUMENTS[n]
        for n, p in params.items()
        if n in ARGUMENTS and p.kind == p.POSITIONAL_OR_KEYWORD
    ]
    if not args:
        args = [ARGUMENTS["message"]]
    kwargs = {
        n: KEYWORDS[n] for n, p in params.items() if p.kind == p.KEYWORD_ONLY and n in KEYWORDS
    }
    error = cls(*args, **kwargs)
    error.add_note("a note added on the way")
    return error


def test_the_walk_finds_the_whole_tree() -> None:
    names = {cls.__name__ for cls in tree()}
    assert set(protocol.errors.__all__) <= names
    assert {"FunctionFileError", "BindError", "ConfigError", "InputError", "Interrupted"} <= names


@pytest.mark.parametrize("cls", tree(), ids=lambda c: c.__name__)
def test_every_error_round_trips_through_pickle_and_copy(cls: type[RPCError]) -> None:
    error = example(cls)
    for name, twin in [
        ("pickle", pickle.loads(pickle.dumps(error))),
        ("pickle 0", pickle.loads(pickle.dumps(error, protocol=0))),
        ("copy", copy.copy(error)),
        ("deepcopy", copy.deepcopy(error)),
    ]:
        assert type(twin) is cls, name
        assert twin.args == error.args, name
        assert str(twin) == str(error), name
        assert vars(twin) == vars(error), name
        assert twin.kind == error.kind, name
    if isinstance(error, protocol.CallError):
        assert {"node", "detail", "hint"} <= set(vars(error))


def raise_no_result(n: int) -> int:
    if n == 1:
        raise NoResult("10.0.0.2:3031", "no result from 10.0.0.2:3031", hint="see the log")
    return n


def test_an_error_in_a_process_pool_job_leaves_the_pool_working() -> None:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        futures = [pool.submit(raise_no_result, n) for n in range(3)]
        error = futures[1].exception(timeout=10)
        assert isinstance(error, NoResult)
        assert (error.node, error.hint) == ("10.0.0.2:3031", "see the log")
        assert [futures[0].result(10), futures[2].result(10)] == [0, 2]
