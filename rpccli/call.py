"""``rpccli call NODE FUNCTION [ARG ...]``: one RPC call, for people and for pipelines.

The piped path imports neither rich, prompt_toolkit nor asyncio (design section 1): pretty output
and the fan-out table load rich only when they are shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from protocol.client import CallResult
from protocol.errors import CallError, RequestError, RPCError
from protocol.wire import DEFAULT_BUFFER_SIZE, exceeds_default_buffer, rpc_request
from rpccli import exitcodes
from rpccli.args import ARGUMENT_HELP, read_arguments
from rpccli.call_common import (
    Settings,
    attempt_on,
    complete_node_lazily,
    connection_options,
    local_option,
    settings_for,
)
from rpccli.config import STRATEGIES
from rpccli.output import FORMATS, Printer

__all__ = ["call", "run_call"]


def _complete_function(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
    from rpccli.names import complete_function

    if ctx.params.get("node") == ".":
        ctx.params["node"] = None  # "." is the default node: let names find it
    return complete_function(ctx, param, incomplete)


def _remember(node: str, function: str) -> None:
    try:
        from rpccli.names import remember
    except ImportError:
        return
    remember(node, function)


def _modifier2(raw: bool, modifier2: int | None, mode: str) -> int:
    if modifier2 is not None:
        if modifier2 == 2:
            raise RequestError(
                "--modifier2 2 takes a vars (HTTP-style) request, not an RPC array; use uWSGI's "
                "--http-socket-modifier2 2 with an HTTP client instead",
                limit="modifier",
            )
        if modifier2 == 3:
            raise RequestError("--modifier2 3 (XML-RPC) is broken in uWSGI 2.0", limit="modifier")
        return modifier2
    return 1 if raw or mode == "raw" else 0


def _output_option(json_flag: bool, output: str | None) -> str | None:
    if json_flag:
        if output not in (None, "json"):
            raise click.UsageError("--json and --output are exclusive")
        return "json"
    return output


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=ARGUMENT_HELP
    + " Put -- before an ARG that starts with '-'. NODE '.' is the default node (RPCCLI_NODE,"
    " else [defaults] node in the config).",
)
@click.argument("node", metavar="NODE", required=False, shell_complete=complete_node_lazily)
@click.argument("function", metavar="FUNCTION", required=False, shell_complete=_complete_function)
@click.argument("args", metavar="[ARG]...", nargs=-1)
@click.option("--raw", is_flag=True, help="Ask for the raw answer (modifier2 1, as nginx does).")
@click.option(
    "--modifier2",
    type=click.IntRange(0, 255),
    default=None,
    metavar="N",
    help="Request modifier2 (0 packet, 1 raw; 4+ behave as raw).",
)
@connection_options
@click.option(
    "-s",
    "--strategy",
    type=click.Choice(STRATEGIES),
    default=None,
    help="How to use several nodes (default first, or the profile's).",
)
@click.option(
    "--retry-unsafe",
    is_flag=True,
    help="Fail over even when the request may have reached the node.",
)
@click.option("--json", "json_flag", is_flag=True, help="One JSON object per call (-o json).")
@click.option(
    "-o",
    "--output",
    type=click.Choice(FORMATS),
    default=None,
    help="auto: pretty on a terminal, exact bytes otherwise.",
)
@click.option("-v", "--verbose", is_flag=True, help="Headers and timings on stderr.")
@click.option(
    "--dry-run", is_flag=True, help="Print the request as an annotated hexdump; send nothing."
)
@click.option("--explain", is_flag=True, help="--dry-run plus the nginx and uwsgi.rpc equivalents.")
@local_option
def call(
    node: str | None,
    function: str | None,
    args: tuple[str, ...],
    raw: bool,
    modifier2: int | None,
    timeout: float | None,
    connect_timeout: float | None,
    max_response: int | None,
    strategy: str | None,
    retry_unsafe: bool,
    json_flag: bool,
    output: str | None,
    verbose: bool,
    dry_run: bool,
    explain: bool,
    local_file: str | None,
) -> int:
    """Call FUNCTION on NODE with ARGs and print the result.

    \b
      rpccli call 127.0.0.1:3031 hello world
      rpccli call :3031 echo @photo.jpg | sha256sum
      rpccli call -v --json prod,10.0.0.3:3031 hello
    """
    words = [w for w in (node, function) if w is not None] + list(args)
    if local_file is not None:
        node, words = None, words
    else:
        if not words:
            raise click.UsageError("missing NODE and FUNCTION")
        node, words = words[0], words[1:]
    if not words:
        raise click.UsageError("missing FUNCTION")
    return run_call(
        node,
        words[0],
        words[1:],
        raw=raw,
        modifier2=modifier2,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_response=max_response,
        strategy=strategy,
        retry_unsafe=retry_unsafe,
        output=_output_option(json_flag, output),
        verbose=verbose,
        dry_run=dry_run or explain,
        explain=explain,
        local_file=local_file,
    )


def run_call(
    node: str | None,
    function: str,
    words: Sequence[str],
    *,
    raw: bool = False,
    modifier2: int | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    max_response: int | None = None,
    strategy: str | None = None,
    retry_unsafe: bool = False,
    output: str | None = None,
    verbose: bool = False,
    dry_run: bool = False,
    explain: bool = False,
    local_file: str | None = None,
) -> int:
    if local_file is not None:
        from rpccli.config import load_config

        fmt = output or load_config().defaults.output
        settings = None
    else:
        settings = settings_for(
            node,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_response=max_response,
            strategy=strategy,
            output=output,
        )
        fmt = settings.output
    printer = Printer(fmt)
    args = read_arguments(list(words), stdin=sys.stdin.buffer)
    mode = settings.mode if settings else "packet"
    request = rpc_request(function, args, modifier2=_modifier2(raw, modifier2, mode))
    if exceeds_default_buffer(request):
        printer.warn(
            f"the request body is {len(request) - 4} bytes: a uWSGI server with the default "
            f"--buffer-size ({DEFAULT_BUFFER_SIZE}) rejects it"
        )
    if dry_run:
        # a local call has no node: show the equivalents for the usual one
        target = settings.spec.addresses[0] if settings else "127.0.0.1:3031"
        _dry_run(printer, request, target, explain)
        return exitcodes.OK
    if local_file is not None:
        return _call_local(printer, local_file, function, args, verbose)
    assert settings is not None
    if settings.strategy == "all" and not settings.spec.single:
        from rpccli.fanout import call_all

        return call_all(printer, settings, request, function, args, verbose=verbose)
    start = time.monotonic()
    try:
        result = _call_one(settings, request, function, retry_unsafe)
    except CallError as exc:
        printer.failure(
            exc,
            node=exc.node,
            function=function,
            args=args,
            elapsed=time.monotonic() - start,
        )
        raise
    except RPCError as exc:
        printer.failure(exc, node=settings.spec.label, function=function, args=args)
        raise
    if verbose:
        from rpccli.output_wire import verbose_lines

        for line in verbose_lines(result):
            printer.info(line)
    printer.result(result, function, args)
    _remember(settings.spec.label, function)
    return exitcodes.OK


def _call_one(settings: Settings, request: bytes, function: str, retry_unsafe: bool) -> CallResult:
    attempt = attempt_on(settings, request, function)
    if settings.spec.single:
        return attempt(settings.spec.addresses[0])
    from protocol.nodes import NodeGroup

    group = NodeGroup(
        settings.spec.addresses, strategy=settings.strategy, retry_unsafe=retry_unsafe
    )
    return group.call(attempt)


def _dry_run(printer: Printer, request: bytes, target: str, explain: bool) -> None:
    from protocol.wire import HEADER_SIZE, decode_array
    from rpccli.output_wire import annotate_request, nginx_location, uwsgi_rpc_call

    printer.text(annotate_request(request))
    if not explain:
        return
    items = decode_array(request[HEADER_SIZE:])
    printer.text("")
    printer.text("# the same call from nginx (facts 6):")
    printer.text(nginx_location(target, items[0], items[1:]))
    printer.text("")
    printer.text("# the same call from Python inside a uWSGI worker:")
    printer.text(uwsgi_rpc_call(target, items[0], items[1:]))


def _call_local(
    printer: Printer, path: str, function: str, args: Sequence[bytes], verbose: bool
) -> int:
    from rpccli.local import LocalFunctions

    functions = LocalFunctions(path, log=printer.info if verbose else None)
    try:
        body, elapsed = functions.call(function.encode("utf-8", "surrogateescape"), args)
    except CallError as exc:
        if verbose and functions.last_traceback:
            printer.info(functions.last_traceback.rstrip("\n"))
        printer.failure(exc, node=functions.node, function=function, args=args)
        raise
    if verbose:
        printer.info(f"* local call of {function} in {path}: {elapsed * 1000:.2f} ms")
    printer.body(body, node=functions.node, function=function, args=args, elapsed=elapsed)
    return exitcodes.OK
