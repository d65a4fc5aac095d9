"""``rpccli batch [NODE]``: one call per line of stdin, results in input order, for pipelines.

Input lines (UTF-8; blank lines and lines starting with ``#`` are skipped):

- words ``FUNCTION ARG ...`` in the shell's syntax (:mod:`rpccli.words`: quotes, backslashes,
  ``$'\\x41'`` escapes; ``@PATH`` and ``@@`` as for call), or
- a JSON object ``{"function": "hello", "args": ["a", {"base64": "AAE="}], "node": ":3032"}``
  (``args`` and ``node`` optional), recognised by its leading ``{``, or
- a JSON array ``["hello", "a", {"base64": "AAE="}]`` (the function, then the args), recognised by
  its leading ``[``. A line starting with ``{`` or ``[`` is JSON or an error, never words.

Output (``-o``): ``json`` (JSON Lines, one object per input line with its ``line`` number; the
default when piped), ``lines`` (each result followed by a newline; a failed call prints an empty
line -- a real result is never empty, docs/protocol.md#failures -- so output line N answers input
line N as long as results hold no newline), ``netstring`` (``LEN:BYTES,`` per line, ``0:,`` for a
failure; binary safe), ``pretty`` (the default on a terminal).

Up to ``-c`` calls are in flight at once (on one thread: :mod:`rpccli.batch.engine`); results
are written in input order through a reorder window of a few times the concurrency, so memory
stays constant however many lines stream through. A bad line or a failed call is an error
record, not the end of the batch. Exit 0 when every call succeeded, 6 otherwise; a summary
(calls, failures, rate) goes to stderr.

Ctrl-C takes no more input and sends nothing more, but loses no record: answers that have
arrived are written, each call still waiting for its answer gets an ``interrupted`` record (it
was sent: the node may have run it), all in input order, and stderr says how many lines were
answered and after which line input stopped; exit 130 (:mod:`rpccli.batch.stop`). A second
Ctrl-C ends at once.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import click

from protocol import Client, Health, NodeGroup
from protocol.errors import RPCError, UsageError
from protocol.visible import counted
from protocol.wire import DEFAULT_BUFFER_SIZE, HEADER_SIZE, RequestEncoder, rpc_request
from rpccli import exitcodes
from rpccli.batch.calls import Call, answer_record, failure_record
from rpccli.batch.input import MAX_LINE, Job, LineReader, parse_raw
from rpccli.batch.lanes import CHUNK_END, ChunkSource, FrameSink, LaneFailed, run_lanes
from rpccli.batch.ordered import SKIP, run
from rpccli.batch.output import CHUNK_DONE as _CHUNK_DONE
from rpccli.batch.output import BatchWriter
from rpccli.batch.plain import PlainLines
from rpccli.batch.stop import Counts, Stop, counts_of, interrupted_line, not_sent, sigint_stops
from rpccli.config import Config, load_config
from rpccli.errors import InputError
from rpccli.node_words import resolve_nodes
from rpccli.numbers import CONCURRENCY, LANES
from rpccli.options import (
    Settings,
    buffer_option,
    buffer_warning,
    client_for,
    command_settings,
    complete_node_lazily,
    connection_options,
    group_options,
    local_option,
    output_options,
    tls_for,
    tls_options,
)
from rpccli.output import Printer

__all__ = ["Nodes", "batch"]

BATCH_OUTPUTS = ("auto", "json", "lines", "netstring", "pretty")


class Nodes:
    """Node words -> the clients to try for one call, and the group's health; cached, bounded."""

    def __init__(self, settings: Settings | None, config: Config, retry_unsafe: bool) -> None:
        self.settings = settings
        self.config = config
        self.retry_unsafe = retry_unsafe
        self._cache: OrderedDict[str | None, tuple[list[Client], NodeGroup | None]] = OrderedDict()

    def clients(self, node: str | None) -> tuple[list[Client], Health | None, bool]:
        """The clients in the order this call tries them (the strategy decides), the group's
        health, and whether a failover picks again (strategy best)."""
        found = self._cache.get(node)
        if found is None:
            found = self._resolve(node)
            self._cache[node] = found
            if len(self._cache) > 256:
                self._cache.popitem(last=False)
        clients, group = found
        if group is None:
            return clients, None, False
        by_node = {c.node: c for c in clients}
        order = [by_node[str(a)] for a in group.order()]
        return order, group.health, group.strategy == "best"

    def _resolve(self, node: str | None) -> tuple[list[Client], NodeGroup | None]:
        settings = self.settings
        if node is None:
            if settings is None:
                raise UsageError("no node: give NODE to batch, set RPCCLI_NODE, or add a node key")
            spec = settings.spec
            strategy = settings.strategy
        else:
            spec = resolve_nodes(node, self.config)
            strategy = spec.strategy or (settings.strategy if settings else "first")
        timeout = settings.timeout if settings else self.config.defaults.timeout
        connect = settings.connect_timeout if settings else timeout
        max_response = settings.max_response if settings else self.config.defaults.max_response
        tls = tls_for(spec.profile)
        clients = [
            client_for(a, tls, timeout=timeout, connect_timeout=connect, max_response=max_response)
            for a in spec.addresses
        ]
        if len(clients) == 1:
            return clients, None
        if strategy == "all":
            raise UsageError("--strategy all is for call; batch sends each line once")
        return clients, NodeGroup(spec.addresses, strategy=strategy)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("node", metavar="[NODE]", required=False, shell_complete=complete_node_lazily)
@click.option(
    "-c",
    "--concurrency",
    type=CONCURRENCY,
    default=1,
    show_default=True,
    help="Calls in flight at once.",
)
@click.option("--raw", is_flag=True, help="Ask for raw answers (modifier2 1).")
@connection_options
@buffer_option
@tls_options
@group_options(fan_out=False)
@output_options(BATCH_OUTPUTS, auto="pretty on a terminal, JSON Lines otherwise", json="JSON Lines")
@click.option("--raw-output", is_flag=True, help="Each result and a newline (-o lines).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@click.option(
    "--lanes",
    type=LANES,
    default=None,
    help="Processes sharing the calls, 1 to 64 (default: 2 on a multi-core machine with -c 4 "
    "or more and piped input, else 1; pretty output and --local use 1).",
)
@local_option
def batch(
    node: str | None,
    concurrency: int,
    raw: bool,
    timeout: float | None,
    connect_timeout: float | None,
    max_response: int | None,
    buffer_size: int | None,
    strategy: str | None,
    retry_unsafe: bool,
    output: str | None,
    json_flag: bool,
    raw_output: bool,
    quiet: bool,
    lanes: int | None,
    local_file: str | None,
) -> int:
    """Run one call per line of stdin (JSON Lines out when piped).

    \b
    A line is one of:
      FUNCTION ARG ...            words as in `rpccli shell`: 'quotes', "quotes",
                                  backslashes, $'\\x41' escapes; @PATH, @@TEXT as for call
      {"function": F, "args": [...], "node": N}    a JSON object (args, node optional)
      ["FUNCTION", "ARG", ...]    a JSON array of strings
    A JSON arg may be {"base64": "..."} for binary data. Blank lines and # lines are
    skipped; a line starting with { or [ is JSON or an error.

    \b
      printf 'hello a\\nupper "b c"\\n' | rpccli batch :3031
      rpccli batch -c 16 prod < calls.jsonl | jq .response
    """
    config = load_config()
    settings: Settings | None = None
    local = None
    if local_file is not None:
        if node is not None:
            raise UsageError("--local calls in this process: give no NODE")
        from rpccli.call.local import LocalFunctions

        local = LocalFunctions(local_file)
    try:
        settings = command_settings(node, config=config)
    except UsageError:
        if node is not None:
            raise  # a bad NODE argument is the whole command's error
    if settings is not None and settings.strategy == "all" and not settings.spec.single:
        raise UsageError("--strategy all is for call; batch sends each line once")
    chosen = "json" if json_flag else "lines" if raw_output else output
    fmt = chosen or config.defaults.output
    if fmt in ("auto", "bytes"):
        fmt = "pretty" if sys.stdout.isatty() else "json"
    printer = Printer("json" if fmt == "json" else "bytes")  # json: escaped on a terminal
    nodes = Nodes(settings, config, retry_unsafe)
    modifier2 = 1 if raw or (settings and settings.mode == "raw") else 0

    lines = LineReader(sys.stdin.buffer, raw=True)  # bytes: parse_raw takes plain lines as is
    encode = RequestEncoder()  # a batch calls a few functions many times: names encoded once
    # the common plain line the short way; --local calls in this process, from parsed lines
    plain = PlainLines(modifier2, json=fmt == "json") if local is None else None
    if not quiet and sys.stdin.isatty():
        # as psql and sqlite3 do: a silent wait on a terminal looks like a hang
        printer.info("rpccli: reading calls from the terminal, one per line; Ctrl-D ends")

    taken = [0]  # the last input line the engine took (each has its record)
    limit = settings.buffer_size if settings else buffer_size or config.defaults.buffer_size
    warned = [False]  # once per run: one line for a file of big requests, not one per line
    # a request longer than this is over the server's buffer (buffer_warning's own test)
    warn_above = (limit or DEFAULT_BUFFER_SIZE) + HEADER_SIZE

    def warn_once(request: bytes) -> None:
        warning = buffer_warning(request, limit or DEFAULT_BUFFER_SIZE)
        if warning and not warned[0]:
            warned[0] = True
            printer.warn(warning)

    # the batch NODE's clients once known to be one node (a group's order changes per call)
    single: list[tuple[list[Client], Health | None, bool]] = []
    spare: list[Call] = []  # calls whose records are written, to renew (rpccli.batch.ordered)

    def jobs(source: LineReader | ChunkSource) -> Iterator[Call | dict[str, Any] | object]:
        # the lines split off at once, as one list: no Python step per line to get it
        blocks: Iterator[tuple[Iterator[tuple[int, Any]], bytes | None]] = source.blocks()
        for block, data in blocks:
            take = plain.for_block(data) if plain is not None else None  # (batch/plain.py)
            for number, text in block:
                if text is CHUNK_END:  # a lane's chunk is over (rpccli.batch.lanes)
                    yield _CHUNK_DONE
                    continue
                taken[0] = number
                function: str | None = None  # known once the line is parsed: a bad line's record
                try:
                    if text is None:
                        raise InputError(f"the line is over {MAX_LINE} bytes")
                    fast = take(text) if take is not None else None
                    if fast is not None:  # FUNCTION ARG ...: no parser, no encoder (batch/plain.py)
                        function, args, request, head = fast  # head: what the JSON line writes
                        if single:
                            clients, health, best = single[0]
                        else:
                            clients, health, best = nodes.clients(None)
                            if health is None:
                                single.append((clients, health, best))
                    else:
                        job = parse_raw(text, number)
                        if job is None:
                            yield SKIP  # lets the engine look at the network before the next line
                            continue
                        function, args, head = job.function, job.args, None
                        if local is not None:
                            yield _local_call(local, job, number)
                            continue
                        clients, health, best = nodes.clients(job.node)
                        request = encode(function, args, modifier2=modifier2)
                    if len(request) > warn_above and not warned[0]:
                        warn_once(request)
                except RPCError as exc:
                    node = getattr(exc, "node", None)  # a bad line: no node, nothing sent
                    known = args if function is not None else []
                    yield failure_record(node, exc, None, number, function, known)
                    continue
                if spare:  # a call whose record is written (rpccli.batch.ordered)
                    call = spare.pop()
                    call.renew(
                        clients, request, function, number, args, head, health, retry_unsafe, best
                    )
                    yield call
                else:
                    yield Call(
                        clients, request, function, number, args, head, health, retry_unsafe, best
                    )

    def one_lane(
        source: LineReader | ChunkSource,
        writer: BatchWriter,
        in_flight: int,
        emit: Callable[[dict[str, Any] | Call], None],
        stop: Stop,
    ) -> bool:
        try:
            return run(
                jobs(source),
                emit,
                concurrency=in_flight,
                window=max(in_flight * 4, 16),
                flush=writer.flush,
                input_ready=source.ready,
                input_fd=source.fd,
                stop=stop,
                spare=spare,
            )
        finally:
            writer.flush()

    def lane(number: int, source: ChunkSource, sink: FrameSink, stop: Stop) -> Counts:
        writer = BatchWriter(sink, fmt, chunk_done=sink.chunk_done)  # it takes _CHUNK_DONE
        share = concurrency // count + (number < concurrency % count)  # -c split, all of it
        if not one_lane(source, writer, share, writer.emit, stop):
            sink.stopped(taken[0])
        return counts_of(writer)

    count = _lanes(lanes, concurrency, fmt, local)
    started = time.monotonic()
    if count > 1:
        try:
            counts = run_lanes(
                count,
                lines,
                printer,
                lane,
                chunk_lines=max(concurrency // count * 8, 16),
                not_sent=lambda entries: not_sent(entries, fmt),
            )
        except LaneFailed as exc:
            printer.info(f"rpccli: {exc}: the results of its calls are lost")
            return exitcodes.PARTIAL
    else:
        writer = BatchWriter(printer, fmt)
        stop = Stop()
        try:
            with sigint_stops(stop):
                finished = one_lane(lines, writer, concurrency, writer.emit, stop)
        finally:
            stop.close()
        counts = counts_of(writer, None if finished else taken[0])
    if counts.stopped_after is not None:
        printer.info(f"rpccli: {interrupted_line(counts)}")
        return exitcodes.INTERRUPTED
    calls, failures = counts.calls, counts.failures
    elapsed = time.monotonic() - started
    if not quiet:
        rate = calls / elapsed if elapsed > 0 else 0.0
        on = f", {count} lanes" if count > 1 else ""
        summary = (
            f"{counted(calls, 'call')}, {failures} failed, {rate:.0f} calls/s ({elapsed:.2f} s{on})"
        )
        printer.info(f"rpccli: {summary}")
    return exitcodes.PARTIAL if failures else exitcodes.OK


def _lanes(asked: int | None, concurrency: int, fmt: str, local: object) -> int:
    """How many processes share the calls: ``asked`` (None: two when they pay -- a second core,
    at least 4 calls in flight, input from a pipe or file). The terminal's pretty output and
    --local (one process's functions) always run in this one process."""
    if fmt == "pretty" or local is not None:
        return 1
    if asked:
        return min(asked, concurrency)  # every lane has a call in flight, and -c still holds
    try:
        piped = not os.isatty(sys.stdin.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        piped = False  # no file descriptor (an in-process test's stdin): stay in one process
    return 2 if piped and concurrency >= 4 and (os.cpu_count() or 1) >= 2 else 1


def _local_call(local: Any, job: Job, number: int) -> dict[str, Any]:
    if job.node is not None:
        raise UsageError("no 'node' with --local")
    rpc_request(job.function, job.args)  # the same limits as on the wire
    name = job.function.encode("utf-8", "surrogateescape")
    try:
        body, elapsed = local.call(name, job.args)
    except RPCError as exc:
        return failure_record(local.node, exc, None, number, job.function, job.args)
    return answer_record(local.node, body, elapsed, number, job.function, job.args)
