"""Output of ``rpccli batch``: JSON Lines, lines, netstrings or pretty, written in rounds."""

from __future__ import annotations

import re
from binascii import b2a_base64
from collections.abc import Callable
from json.encoder import encode_basestring as _enc
from typing import Any, Protocol

from protocol.failures import shown
from protocol.visible import visible
from rpccli.batch.calls import Call
from rpccli.errors import Interrupted, describe
from rpccli.output import Printer, json_line, record

__all__ = ["CHUNK_DONE", "BatchWriter", "fast_ok_line", "ok_line"]


#: the bytes a JSON string escapes (json's encode_basestring: quote, backslash, controls)
_ESCAPED = re.compile(rb'[\x00-\x1f"\\]')
#: ASCII bytes JSON keeps as they are -> "a", any other -> NUL: a body whose translation is all
#: letters goes between quotes as it is (two C loops; the regex's charset test and isascii()
#: cost more than twice as much on a short answer)
_AS_IS = bytes(0x61 if b < 0x80 and _ESCAPED.match(bytes([b])) is None else 0 for b in range(256))
_NAMES: dict[str, bytes] = {}  # node and function names as JSON strings (bounded)
#: a batch lane's marker item, passed through the engine in order after the last result of a
#: chunk (rpccli.batch.lanes): BatchWriter.emit hands its chunk_done the output so far
CHUNK_DONE: dict[str, Any] = {"chunk_done": True}


def _json_name(name: str) -> bytes:
    found = _NAMES.get(name)
    if found is None:
        found = _enc(name).encode("utf-8", "surrogatepass")
        if len(_NAMES) < 1024:
            _NAMES[name] = found
    return found


def _json_text(data: bytes) -> bytes:
    """``data`` (UTF-8) as a JSON string, as json writes it; UnicodeDecodeError when not UTF-8.
    Text with nothing to escape is its own bytes between quotes: no str is built."""
    if not data.isascii():
        text = data.decode("utf-8")  # checks it is UTF-8
        if _ESCAPED.search(data) is None:
            return b'"%s"' % data
        return _enc(text).encode("utf-8")
    if _ESCAPED.search(data) is None:
        return b'"%s"' % data
    return _enc(data.decode("ascii")).encode("ascii")


def fast_ok_line(item: dict[str, Any], body: bytes) -> bytes | None:
    """``json_line(record(...))`` of a successful call, byte for byte, several times faster
    (the JSON of a batch is built once per call, straight as bytes); None when an arg or the
    body is not UTF-8. ``item["json"]``, when there, is the JSON of function and args that a
    plain line gave (rpccli.batch.plain)."""
    return ok_line(
        item["node"],
        item.get("json"),
        item["function"],
        item["args"],
        body,
        item["elapsed"],
        item["line"],
    )


def ok_line(
    node: str,
    head: bytes | None,
    function: str,
    args: list[bytes],
    body: bytes,
    seconds: float,
    number: int,
) -> bytes | None:
    """:func:`fast_ok_line` of its fields: ``head`` is the JSON of function and args when known
    (else made of ``function`` and ``args``), ``seconds`` the call's time."""
    try:
        if head is None:
            head = b'"function": %s, "args": [%s]' % (
                _json_name(function),
                b", ".join([_json_text(a) for a in args]),
            )
        if body.translate(_AS_IS).isalpha():  # the usual answer: nothing to escape
            line = _OK_LINE_PLAIN  # the quotes around it are in the template
            response = body
        else:
            line = _OK_LINE
            response = _json_text(body)
    except UnicodeDecodeError:
        return None
    ms = seconds * 1000
    if 0 <= ms < 1e9:
        # repr(round(ms, 3)) without its two conversions: below 1e9 the double nearest to
        # the 3-decimal value prints as that value, trailing zeros aside (a test compares)
        elapsed = (b"%.3f" % ms).rstrip(b"0")
        if elapsed[-1] == 0x2E:  # "2." -> "2.0"
            elapsed += b"0"
    else:
        elapsed = b"%a" % round(ms, 3)
    return line % (
        _NAMES.get(node) or _json_name(node),
        head,
        response,
        b2a_base64(body, newline=False),
        len(body),
        elapsed,
        number,
    )


_OK_LINE = (
    b'{"node": %s, %s, "ok": true, "response": %s, '
    b'"response_base64": "%s", "bytes": %d, "elapsed_ms": %s, "error": null, "line": %d}\n'
)
_OK_LINE_PLAIN = _OK_LINE.replace(b'"response": %s', b'"response": "%s"')


class Sink(Protocol):
    """Where results go: a Printer, or a batch lane's FrameSink."""

    def write(self, data: bytes) -> None: ...

    def info(self, text: str) -> None: ...


class BatchWriter:
    def __init__(
        self, printer: Sink, fmt: str, chunk_done: Callable[[bytes], None] | None = None
    ) -> None:
        self.printer = printer
        self.format = fmt
        #: a batch lane's end of chunk (CHUNK_DONE, passed in order with the results): called
        #: with the output not yet written, which goes with the chunk's end in one write; taken
        #: here so that a lane's emit is this method itself, not a wrapper around it (one
        #: Python call less per line)
        self.chunk_done = chunk_done
        self.calls = 0
        self.failures = 0
        self.cut = 0  # Ctrl-C came while the call waited for its answer (it may have run)
        self.unsent = 0  # Ctrl-C came before the call was sent
        self._out: list[bytes] = []
        self._size = 0

    def _put(self, data: bytes) -> None:
        # gathered and written once per engine round: one write per call would be a system call
        self._out.append(data)
        self._size += len(data)
        if self._size > 65536:
            self.flush()

    def flush(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._size = 0
            self.printer.write(data)

    def emit(self, item: dict[str, Any] | Call) -> None:
        """Write the record of ``item``: a call that is done (rpccli.batch.calls), or a dict (a
        bad line's record, a --local call's, or CHUNK_DONE)."""
        if item.__class__ is not dict:
            call: Call = item  # type: ignore[assignment]
            body = call.result
            if body.__class__ is not bytes:  # it failed: its record
                self._record(body)  # type: ignore[arg-type]
                return
            self.calls += 1  # the usual record, first
            if self.format == "json":
                fast = ok_line(
                    call.node, call.json, call.function, call.args, body, call.elapsed, call.line
                )
                if fast is not None:  # _put, inline: this runs once per call
                    self._out.append(fast)
                    self._size += len(fast)
                    if self._size > 65536:
                        self.flush()
                    return
            self._write(call.record(), body)
        elif item is CHUNK_DONE:
            if self.chunk_done is None:
                self.flush()
                return
            data = b"".join(self._out)
            self._out.clear()
            self._size = 0
            self.chunk_done(data)
        else:
            self._record(item)

    def _record(self, item: dict[str, Any]) -> None:
        """Write the record ``item`` (a dict)."""
        self.calls += 1
        body: bytes | None = item.get("body")
        if body is not None and self.format == "json":  # a --local call's answer
            fast = fast_ok_line(item, body)
            if fast is not None:
                self._put(fast)
                return
        self._write(item, body)

    def _write(self, item: dict[str, Any], body: bytes | None) -> None:
        """Write the record ``item`` (counted already) the full way."""
        ok = body is not None
        said = True  # a failure's stderr line: not for lines never sent (the summary counts them)
        if not ok:
            self.failures += 1
            error = item.get("error")
            if isinstance(error, Interrupted):
                if error.sent:
                    self.cut += 1
                else:
                    self.unsent += 1
                    said = False
        fmt = self.format
        if fmt == "json":
            rec = record(
                node=item["node"],
                function=item["function"],
                args=item["args"],
                body=body,
                error=item.get("error"),
                elapsed=item["elapsed"],
                line=item["line"],
            )
            self._put(json_line(rec))
        elif fmt == "lines":
            self._put((body or b"") + b"\n")
            if not ok and said:
                self.printer.info(f"rpccli: line {item['line']}: {describe(item['error'])}")
        elif fmt == "netstring":
            data = body or b""
            self._put(b"%d:%s," % (len(data), data))
            if not ok and said:
                self.printer.info(f"rpccli: line {item['line']}: {describe(item['error'])}")
        else:
            self._pretty(item, body)

    def _pretty(self, item: dict[str, Any], body: bytes | None) -> None:
        from rich.text import Text

        from rpccli.output import pretty as output_pretty
        from rpccli.output.pretty import is_binary

        assert isinstance(self.printer, Printer)  # pretty output never runs in a lane
        console = self.printer.console
        name = shown(item["function"]) if item["function"] else "?"
        head = Text(f"{item['line']:>4} {name}: ", style="bold")
        if body is None:
            head.append(visible(describe(item["error"]), reversible=False), style="red")
        elif is_binary(body):
            head.append(f"({len(body)} binary bytes)", style="dim")
        else:
            head.append(output_pretty.visible_text(body.decode("utf-8"), keep="\n\t"))
        console.print(head)
