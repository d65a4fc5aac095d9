"""The base of the library's small immutable values (Address, Response, CallResult, PingResult,
SignalResult): what ``@dataclass(frozen=True, slots=True)`` gives them, without importing
:mod:`dataclasses` when the library is imported.

Importing dataclasses (which imports inspect, ast, dis, tokenize) and compiling the methods of
five dataclasses cost a cold ``rpccli call`` more than everything else it imports
(docs/design.md#start-up). A subclass names its fields, in order, in ``__match_args__`` and
``__slots__``, and writes its own ``__init__`` (setting each field with ``object.__setattr__``,
as a frozen dataclass does); this base adds the rest, each as the dataclass would:
``__repr__``, ``__eq__`` and ``__hash__`` over the fields, assignment and deletion refused with
``dataclasses.FrozenInstanceError``, pickling and copying, and -- loaded on first use --
``__dataclass_fields__`` and ``__dataclass_params__``, so that ``dataclasses.fields``,
``asdict``, ``astuple``, ``replace`` and ``is_dataclass`` work on them as before
(tests/protocol/test_record.py compares each with a real dataclass).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Record"]


class _FromDataclass:
    """A dataclass attribute of a record class, taken from the dataclass it would be (built on
    first use: only code that asks for it pays for dataclasses)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type) -> Any:
        twin = owner.__dict__.get("_dataclass_twin")
        if twin is None:
            twin = _twin(owner)
            type.__setattr__(owner, "_dataclass_twin", twin)
        return getattr(twin, self.name)


def _twin(cls: type) -> type:
    import dataclasses

    names = cls.__match_args__  # type: ignore[attr-defined]
    defaults = cls.__init__.__defaults__ or ()  # type: ignore[misc]
    first_default = len(names) - len(defaults)
    spec = [
        (name, cls.__annotations__.get(name, Any))
        if index < first_default
        else (
            name,
            cls.__annotations__.get(name, Any),
            dataclasses.field(default=defaults[index - first_default]),
        )
        for index, name in enumerate(names)
    ]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True)


def _frozen(message: str) -> Exception:
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(message)


class Record:
    """A frozen, slotted value with the behaviour of a frozen dataclass (see the module)."""

    __slots__ = ()
    __match_args__: tuple[str, ...] = ()

    __dataclass_fields__ = _FromDataclass()
    __dataclass_params__ = _FromDataclass()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: object) -> None:
        raise _frozen(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise _frozen(f"cannot delete field {name!r}")

    def __getstate__(self) -> list[Any]:
        return list(self._values())

    def __setstate__(self, state: list[Any]) -> None:
        for name, value in zip(self.__match_args__, state, strict=False):
            object.__setattr__(self, name, value)
