"""Pretty output for a terminal (rich): imported only when something is shown to a person."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.table import Table
from rich.text import Text

from protocol.visible import counted, json_visible, visible_parts
from rpccli.output.wire import hexdump

__all__ = [
    "ESCAPE_STYLE",
    "HEXDUMP_LIMIT",
    "is_binary",
    "make_console",
    "print_body",
    "print_table",
    "visible_text",
]

#: bytes of a binary answer shown as a hexdump on a terminal; the rest is summarised
HEXDUMP_LIMIT = 1024
_TEXT_CONTROLS = {9, 10, 13}
#: how an escape (``\x1b``, ``\u202e``) stands out from the text the node sent
ESCAPE_STYLE = "reverse"
#: a JSON ``\uXXXX`` escape in pretty JSON (of a control character, or one json_visible wrote)
_JSON_ESCAPE = re.compile(r"\\\\|\\u[0-9a-fA-F]{4}")


def make_console(file: IO[Any], *, stderr: bool = False) -> Console:
    # rich itself honours NO_COLOR and turns color off when the file is not a terminal
    return Console(
        file=file,
        stderr=stderr,
        highlight=False,
        soft_wrap=True,
        no_color=bool(os.environ.get("NO_COLOR")),
        # NO_COLOR: no escape sequences at all (rich would still send bold and dim)
        force_terminal=False if os.environ.get("NO_COLOR") else None,
    )


def is_binary(data: bytes) -> bool:
    """Not UTF-8, or holding control bytes (ESC and friends must never reach the terminal raw)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return any((ord(c) < 32 and ord(c) not in _TEXT_CONTROLS) or ord(c) == 127 for c in text)


def visible_text(text: str, *, keep: str = "", reversible: bool = True) -> Text:
    """Text from a node as rich Text: never read as markup, every control, bidi and invisible
    character escaped (see protocol.visible) in ESCAPE_STYLE; ``keep``: C0 characters kept.
    ``reversible=False`` for a message whose node parts were quoted already."""
    out = Text()
    for piece, escaped in visible_parts(text, keep=keep, reversible=reversible):
        out.append(piece, style=ESCAPE_STYLE if escaped else None)
    return out


def _as_json(text: str) -> Text | None:
    """Pretty JSON, as rich's JSON renderable draws it -- but a C1, bidi or format character
    that JSON decoding produced (``"\\u009b"``) is written back as its escape, not raw."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        data = json.loads(stripped)
    except ValueError:
        return None
    rendered = JSONHighlighter()(json_visible(json.dumps(data, indent=2, ensure_ascii=False)))
    for match in _JSON_ESCAPE.finditer(rendered.plain):
        if match.group() != "\\\\":  # an escaped backslash is JSON, not a hidden character
            rendered.stylize(ESCAPE_STYLE, match.start(), match.end())
    rendered.no_wrap = True
    rendered.overflow = None
    return rendered


def print_body(console: Console, data: bytes) -> None:
    if is_binary(data):
        console.print(Text(hexdump(data, limit=HEXDUMP_LIMIT)))
        console.print(
            Text(
                f"(binary response, {counted(len(data), 'byte')}, shown as a hexdump; "
                "pipe or redirect the output to get the raw bytes)",
                style="dim",
            )
        )
        return
    text = data.decode("utf-8")
    rendered = _as_json(text)
    if rendered is not None:
        console.print(rendered)
        return
    # a newline only for display: do not double the one the text already ends with
    console.print(visible_text(text[:-1] if text.endswith("\n") else text, keep="\n\t"))


def _binary_preview(data: bytes, limit: int = 16) -> str:
    """A short form of a binary answer for one table cell: its size and first bytes in hex."""
    more = " ..." if len(data) > limit else ""
    return f"({len(data)} binary bytes: {data[:limit].hex(' ')}{more})"


def print_table(
    console: Console, rows: Iterable[Mapping[str, Any]], *, title: str | None = None
) -> None:
    """One row per call of a fan-out (``--strategy all``): node, status, time, response."""
    table = Table(title=None if title is None else visible_text(title), show_lines=False)
    table.add_column("node")
    table.add_column("ok")
    table.add_column("ms", justify="right")
    table.add_column("response / error", overflow="fold")
    for row in rows:
        ok = bool(row.get("ok"))
        reversible = True
        if ok:
            response = row.get("response")
            if response is None or is_binary(response.encode()):
                cell = _binary_preview(base64.b64decode(row.get("response_base64") or ""))
            else:
                cell = response
        else:
            error = row.get("error") or {}
            cell = str(error.get("message", ""))
            reversible = False  # a message: its node parts are quoted already
        elapsed = row.get("elapsed_ms")
        table.add_row(
            visible_text(str(row.get("node", ""))),
            Text("ok", style="green") if ok else Text("FAIL", style="bold red"),
            f"{elapsed:.1f}" if isinstance(elapsed, int | float) else "",
            visible_text(cell, keep="\n\t", reversible=reversible),
        )
    console.print(table)
