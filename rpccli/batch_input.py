"""Input lines of ``rpccli batch``: shell-quoted words or JSON objects -> :class:`Job`."""

from __future__ import annotations

import base64
import binascii
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rpccli.args import read_argument
from rpccli.errors import InputError

__all__ = ["Job", "parse_line", "read_lines"]


@dataclass(frozen=True, slots=True)
class Job:
    line: int
    node: str | None  # None: the batch's NODE
    function: str
    args: list[bytes]


def parse_line(text: str, number: int) -> Job | None:
    """One input line -> a Job (None for blank and comment lines); InputError when malformed."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if stripped.startswith("{"):
        return _parse_json(stripped, number)
    try:
        # the common line has no quotes or escapes: str.split gives what shlex would, faster
        plain = not any(c in stripped for c in "\"'\\")
        words = stripped.split() if plain else shlex.split(stripped)
    except ValueError as exc:
        raise InputError(f"line {number}: {exc}") from None
    if not words:
        return None
    args = [read_argument(word, stdin=None) for word in words[1:]]
    return Job(number, None, words[0], args)


def _json_arg(value: object, number: int) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except binascii.Error:
            raise InputError(f"line {number}: bad base64 argument") from None
    raise InputError(f'line {number}: each arg must be a string or {{"base64": "..."}}')


def _parse_json(text: str, number: int) -> Job:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"line {number}: bad JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"line {number}: a JSON line must be an object")
    unknown = set(data) - {"function", "args", "node"}
    if unknown:
        raise InputError(f"line {number}: unknown key(s) {', '.join(sorted(unknown))}")
    function = data.get("function")
    if not isinstance(function, str) or not function:
        raise InputError(f'line {number}: "function" must be a non-empty string')
    raw_args = data.get("args", [])
    if not isinstance(raw_args, list):
        raise InputError(f'line {number}: "args" must be a list')
    node = data.get("node")
    if node is not None and not isinstance(node, str):
        raise InputError(f'line {number}: "node" must be a string')
    return Job(number, node, function, [_json_arg(a, number) for a in raw_args])


def read_lines(stream: Any) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, 1):
        yield number, raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
