"""The checks of the config file's values (:mod:`rpccli.config` reads the file): numbers,
choices and strings, each refused with a :class:`ConfigError` that names the file and the line
of the key (tomllib reports the line of syntax errors only).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rpccli.errors import ConfigError
from rpccli.number_rules import SECONDS, BadNumber, Rule

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Doc", "choice", "number", "strings"]


class Doc:
    """The file's text, to point at the line of a key tomllib does not report."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, table: str, key: str | None = None) -> int | None:
        current = ""
        for number, line in enumerate(self.lines, 1):
            stripped = line.strip()
            header = re.match(r"\[\s*([^\[\]]+?)\s*\]", stripped)
            if header:
                current = re.sub(r"[\s\"']", "", header.group(1))
                if key is None and current == table:
                    return number
                continue
            if (
                key is not None
                and current == table
                and re.match(rf"\"?{re.escape(key)}\"?\s*=", stripped)
            ):
                return number
        return None

    def error(self, message: str, table: str, key: str | None = None) -> ConfigError:
        line = self.line_of(table, key)
        where = f"{self.path}, line {line}" if line else str(self.path)
        return ConfigError(f"bad config file {where}: {message}")


def number(doc: Doc, table: str, key: str, value: object, kind: Rule = SECONDS) -> Any:
    try:
        return kind.check(value, key)
    except BadNumber as exc:
        raise doc.error(str(exc), table, key) from None


#: what --tls-max and a profile's tls_max take (docs/tls.md#cost)
TLS_VERSIONS = ("1.2", "1.3")


def choice(doc: Doc, table: str, key: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise doc.error(f"{key} must be one of {', '.join(choices)}; not {value!r}", table, key)
    return str(value)


def strings(doc: Doc, table: str, key: str, value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise doc.error(f"{key} must be a string or a list of strings", table, key)
    return list(value)
