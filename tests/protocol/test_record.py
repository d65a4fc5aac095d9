"""The library's values (protocol.record) behave as the frozen dataclasses they were, without
importing dataclasses when the library is imported (docs/design.md#start-up).

Each class is compared with its former definition, a real ``@dataclass(frozen=True,
slots=True)``, over everything a caller can see.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
import weakref
from dataclasses import dataclass
from typing import Any

import pytest

from protocol import Address, CallResult, PingResult, SignalResult, Timings
from protocol.reader import Response
from protocol.wire import Header


@dataclass(frozen=True, slots=True)
class AddressWas:
    kind: str
    host: str = ""
    port: int = 0
    path: str = ""
    tls: bool = False


@dataclass(frozen=True, slots=True)
class ResponseWas:
    body: bytes
    header: Any = None
    large: bool = False
    vars: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class CallResultWas:
    node: str
    request: bytes
    response: Any
    timings: Any
    tls: Any = None


@dataclass(frozen=True, slots=True)
class PingResultWas:
    node: str
    warning: str | None
    timings: Any


@dataclass(frozen=True, slots=True)
class SignalResultWas:
    node: str
    signal: int
    timings: Any


T = Timings(0.001, 0.002, 0.003)
CASES: list[tuple[type, type, tuple[Any, ...], dict[str, Any]]] = [
    (Address, AddressWas, ("tcp",), {"host": "h", "port": 3031}),
    (Address, AddressWas, ("unix", "", 0, "/run/x.sock", False), {}),
    (Response, ResponseWas, (b"body",), {"header": Header(173, 4, 0), "vars": ((b"a", b"b"),)}),
    (Response, ResponseWas, (b"",), {}),
    (CallResult, CallResultWas, ("n:1", b"req", Response(b"x"), T), {}),
    (PingResult, PingResultWas, ("n:1", None, T), {}),
    (PingResult, PingResultWas, ("n:1",), {"warning": "w", "timings": T}),
    (SignalResult, SignalResultWas, ("n:1", 17, T), {}),
]


def _shown(text: str, cls: type, was: type) -> str:
    return text.replace(was.__qualname__, cls.__qualname__)


def _error(action: Any) -> tuple[type, str]:
    with pytest.raises(Exception) as caught:
        action()
    return type(caught.value), str(caught.value)


@pytest.mark.parametrize(("cls", "was", "args", "kwargs"), CASES)
def test_a_record_is_its_dataclass(
    cls: type, was: type, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    new, old = cls(*args, **kwargs), was(*args, **kwargs)
    names = [f.name for f in dataclasses.fields(old)]
    assert [getattr(new, n) for n in names] == [getattr(old, n) for n in names]
    assert repr(new) == _shown(repr(old), cls, was)
    assert new == cls(*args, **kwargs)
    assert not new != cls(*args, **kwargs)  # noqa: SIM202 -- __ne__ itself
    assert (new == old) is False and new != object()
    assert hash(new) == hash(old) == hash(cls(*args, **kwargs))
    assert cls.__match_args__ == was.__match_args__  # type: ignore[attr-defined]
    assert not hasattr(new, "__dict__")
    for name in names:  # (another name: 3.11's slotted dataclass fails with a TypeError there)
        assert _error(lambda n=name: setattr(new, n, 1)) == _error(
            lambda n=name: setattr(old, n, 1)
        )
        assert _error(lambda n=name: delattr(new, n)) == _error(lambda n=name: delattr(old, n))
    assert _error(lambda: setattr(new, "other", 1))[0] is not None
    assert _error(lambda: weakref.ref(new))[0] is _error(lambda: weakref.ref(old))[0]
    for twin in (pickle.loads(pickle.dumps(new)), copy.copy(new), copy.deepcopy(new)):
        assert twin == new and type(twin) is cls
    assert new.__getstate__() == old.__getstate__()  # type: ignore[attr-defined]
    # the dataclasses module sees the same fields
    assert dataclasses.is_dataclass(new) and dataclasses.is_dataclass(cls)
    assert [(f.name, f.default) for f in dataclasses.fields(new)] == [
        (f.name, f.default) for f in dataclasses.fields(old)
    ]
    assert dataclasses.asdict(new) == dataclasses.asdict(old)
    assert dataclasses.astuple(new) == dataclasses.astuple(old)
    changed = dataclasses.replace(new, **{names[0]: args[0]})
    assert changed == new and type(changed) is cls
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize(("cls", "was"), [(Address, AddressWas), (CallResult, CallResultWas)])
def test_wrong_arguments_are_type_errors(cls: type, was: type) -> None:
    for args, kwargs in (((), {}), (("a",) * 7, {}), (("a",) * 4, {"nope": 1})):
        assert _error(lambda a=args, k=kwargs: cls(*a, **k))[0] is TypeError
        assert _error(lambda a=args, k=kwargs: was(*a, **k))[0] is TypeError


def test_match_by_position() -> None:
    match Address("tcp", "h", 1):
        case Address("tcp", host, port):
            assert (host, port) == ("h", 1)
        case _:
            pytest.fail("no match")


def test_importing_the_library_imports_no_dataclasses() -> None:
    code = (
        "import sys, protocol, protocol.client\n"
        "protocol.parse_address('127.0.0.1:1')\n"
        "print(' '.join(m for m in ('dataclasses', 'inspect') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == ""
