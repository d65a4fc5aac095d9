"""The one place that writes results: raw bytes, pretty (rich) or JSON Lines.

Formats (``-o/--output``; ``--json`` is ``-o json``):

- ``bytes``: the response bytes exactly, nothing added -- the default when stdout is not a terminal,
  so ``rpccli call ... | sha256sum`` hashes exactly what the function returned.
- ``pretty``: for people -- text as text, JSON highlighted, binary as a hexdump with a note, a
  newline added only for display. The default on a terminal. rich is imported only here, lazily.
- ``json``: one object per call on one line, with the fields of :func:`record`.

Everything except the pretty path imports the standard library only, so a piped ``rpccli call``
stays fast (docs/design.md#architecture: "the call path stays light").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any, BinaryIO

from protocol import CallResult
from protocol.errors import RPCError
from protocol.visible import json_visible, visible
from rpccli.errors import describe

__all__ = [
    "FORMATS",
    "Printer",
    "choose_format",
    "color_allowed",
    "error_record",
    "is_terminal",
    "json_line",
    "record",
    "text_of",
    "write_line",
]

FORMATS = ("auto", "bytes", "pretty", "json")


def is_terminal(stream: IO[Any] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, AttributeError):
        return False


def choose_format(option: str | None, stream: IO[Any] | None = None) -> str:
    """``auto`` (or None) becomes ``pretty`` on a terminal and ``bytes`` otherwise."""
    if option in (None, "auto"):
        return "pretty" if is_terminal(stream if stream is not None else sys.stdout) else "bytes"
    if option not in FORMATS:
        raise ValueError(f"unknown output format {option!r}")
    return option


def text_of(data: bytes) -> str | None:
    """The text of ``data`` when it is valid UTF-8, else None."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _b64(data: bytes) -> str:
    import base64  # only JSON output needs it; keep the piped call path lean

    return base64.b64encode(data).decode("ascii")


def _arg_json(arg: bytes) -> str | dict[str, str]:
    text = text_of(arg)
    return text if text is not None else {"base64": _b64(arg)}


def record(
    *,
    node: str,
    function: str,
    args: Sequence[bytes],
    body: bytes | None = None,
    elapsed: float | None = None,
    error: RPCError | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One call as JSON: the design's fields, plus ``extra`` ones (batch adds ``line``).

    ``args`` are strings, or ``{"base64": ...}`` for an argument that is not UTF-8;
    ``response`` is the text when the bytes are valid UTF-8, else null.
    """
    ok = error is None and body is not None
    return {
        "node": node,
        "function": function,
        "args": [_arg_json(a) for a in args],
        "ok": ok,
        "response": text_of(body) if body is not None else None,
        "response_base64": _b64(body) if body is not None else None,
        "bytes": len(body) if body is not None else None,
        "elapsed_ms": round(elapsed * 1000, 3) if elapsed is not None else None,
        "error": error_record(error) if error is not None else None,
        **extra,
    }


def error_record(error: RPCError) -> dict[str, str]:
    return {"type": error.kind, "message": describe(error)}


def json_line(rec: Mapping[str, Any]) -> bytes:
    import json

    return (json.dumps(rec, ensure_ascii=False, separators=(", ", ": ")) + "\n").encode()


def _binary(stream: IO[Any]) -> BinaryIO:
    buffer = getattr(stream, "buffer", None)
    return buffer if buffer is not None else stream  # type: ignore[return-value]


class Printer:
    """Writes results in one format. ``console`` lets the shell pass its own rich console."""

    def __init__(
        self,
        fmt: str = "auto",
        *,
        stdout: IO[Any] | None = None,
        stderr: IO[str] | None = None,
        console: Any = None,
    ) -> None:
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.format = choose_format(fmt, self.stdout)
        self._console = console

    # -- results ---------------------------------------------------------------------------
    def result(self, result: CallResult, function: str, args: Sequence[bytes]) -> None:
        self.body(
            result.body,
            node=result.node,
            function=function,
            args=args,
            elapsed=result.timings.total,
        )

    def body(
        self,
        data: bytes,
        *,
        node: str = "",
        function: str = "",
        args: Sequence[bytes] = (),
        elapsed: float | None = None,
        **extra: Any,
    ) -> None:
        if self.format == "json":
            rec = record(
                node=node, function=function, args=args, body=data, elapsed=elapsed, **extra
            )
            self.write(json_line(rec))
        elif self.format == "pretty":
            from rpccli.output import pretty as output_pretty

            output_pretty.print_body(self.console, data)
        else:
            self.write(data)

    def failure(
        self,
        error: RPCError,
        *,
        node: str,
        function: str,
        args: Sequence[bytes],
        elapsed: float | None = None,
        **extra: Any,
    ) -> None:
        """A failed call: a JSON record in json format; nothing otherwise (main says the line)."""
        if self.format == "json":
            rec = record(
                node=node, function=function, args=args, error=error, elapsed=elapsed, **extra
            )
            self.write(json_line(rec))

    # -- low level -------------------------------------------------------------------------
    @property
    def console(self) -> Any:
        if self._console is None:
            from rpccli.output import pretty as output_pretty

            self._console = output_pretty.make_console(self.stdout)
        return self._console

    def write(self, data: bytes) -> None:
        if self.format == "json" and is_terminal(self.stdout):
            data = _json_for_terminal(data)
        out = _binary(self.stdout)
        try:
            out.write(data)
            out.flush()
        except BrokenPipeError:
            _reader_left()

    def text(self, text: str) -> None:
        """Plain text on stdout (``--dry-run``), a newline added."""
        if is_terminal(self.stdout):
            text = visible(text, keep="\n\t", reversible=False)
        self.write((text + "\n").encode("utf-8", "surrogateescape"))

    def info(self, text: str) -> None:
        """A line on stderr (``-v``, summaries): never mixed into the result bytes."""
        write_line(self.stderr, text)

    def warn(self, text: str) -> None:
        self.info(f"rpccli: warning: {text}")


def _json_for_terminal(data: bytes) -> bytes:
    """JSON Lines for a person: C1, bidi and format characters as ``\\uXXXX`` (the same JSON;
    piped JSON keeps them raw, as before)."""
    return json_visible(data.decode("utf-8", "surrogatepass")).encode("utf-8", "surrogatepass")


def write_line(stream: IO[str], text: str, *, styled: bool = False) -> None:
    """``text`` and a newline on a text stream (stderr), flushed at once. A reader that left or
    a closed stream costs the line, never the command.

    A message may quote a node (an error, a warning): every control, bidi and format character
    in it is escaped (a message is never data, piped or not). ``styled``: the caller escaped
    the text already and added its own colour sequences."""
    if not styled:
        text = visible(text, keep="\n\t", reversible=False)
    try:
        stream.write(text + "\n")
        stream.flush()
    except (BrokenPipeError, ValueError):
        pass


def _reader_left() -> None:
    """``rpccli ... | head -c1``: the reader left. End quietly with 0, as cli.main intends.

    click (non-standalone) would turn the EPIPE into a silent exit 1, so leave through
    click's own Exit with stdout pointed at /dev/null (so the final flush cannot fail again).
    """
    import click

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    raise click.exceptions.Exit(0)


def color_allowed() -> bool:
    """NO_COLOR (https://no-color.org): any non-empty value turns color off."""
    return not os.environ.get("NO_COLOR")
