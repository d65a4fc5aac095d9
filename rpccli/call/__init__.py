"""``rpccli call NODE FUNCTION [ARG ...]``: one RPC call, for people and for pipelines.

This package's ``__init__`` is the call itself, without click: the click command is
:mod:`rpccli.call.command`, and :mod:`rpccli.call.plain` runs a plain command line without
click (docs/design.md#start-up). The piped path imports neither rich, prompt_toolkit nor
asyncio (docs/design.md#architecture): pretty output and the fan-out table load rich only when
they are shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

from protocol.errors import CallError, RequestError, RPCError, UsageError
from protocol.failures import shown
from protocol.wire import DEFAULT_BUFFER_SIZE, rpc_request
from rpccli import exitcodes
from rpccli.args import read_arguments
from rpccli.call.group import call_one
from rpccli.config import Config
from rpccli.node_words import default_node_text, is_node_word
from rpccli.output import Printer, is_terminal
from rpccli.settings import buffer_warning, settings_for

__all__ = ["run_call"]


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


def _function_is_first(first: str, local: bool, config: Config) -> bool:
    """Whether the first word is the FUNCTION, not the NODE: with --local there is no node, and
    with a default node a first word that is no node (nor profile) is the function."""
    if local:
        return True
    return bool(default_node_text(config)) and not is_node_word(first, config)


def _click_usage(message: str) -> Exception:
    import click

    return click.UsageError(message)


def _split_words(
    words: list[str],
    local: bool,
    config: Config,
    usage: Callable[[str], Exception] = _click_usage,
) -> tuple[str | None, str, list[str]]:
    """NODE, FUNCTION and the ARG words (NODE None: --local, or the default node). A word
    missing is ``usage``'s error: click's usage error (its usage block), unless the caller
    has its own (rpccli.call.plain hands such a line to click instead)."""
    if local:
        if len(words) >= 2 and is_node_word(words[0], config):
            raise UsageError(
                f"--local calls in this process and takes no NODE ({words[0]!r}): "
                "rpccli call --local FILE.py FUNCTION [ARG ...]"
            )
        if not words:
            raise usage("missing FUNCTION")
        return None, words[0], words[1:]
    if words and _function_is_first(words[0], local, config):
        from rpccli.nearmiss import near_node

        meant = near_node(words[0], config.profiles)
        if meant and len(words) > 1:
            # with a default node this word would be sent as a function name, though it looks
            # like a node that is not there: say so as when there is no default node
            raise UsageError(
                f"{words[0]!r} is no node: did you mean {meant}? (to call a function of "
                f"that name on the default node: rpccli call . {shown(words[0])} ...)"
            )
        return None, words[0], words[1:]
    if not words:
        raise usage("missing NODE and FUNCTION")
    if len(words) == 1:
        if default_node_text(config) or is_node_word(words[0], config):
            raise usage("missing FUNCTION")
        raise usage(
            f"missing FUNCTION after NODE {words[0]!r}; to leave NODE out, set a default "
            "node (RPCCLI_NODE=HOST:PORT, or node under [defaults] in the config): then "
            f"'rpccli call {shown(words[0])}' or 'rpccli call . {shown(words[0])}'"
        )
    return words[0], words[1], words[2:]


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
    repeat: int | None = None,
    interval: float = 0.0,
    buffer_size: int | None = None,
) -> int:
    if repeat is not None:
        from rpccli.call.repeat import refuse_with_repeat

        refuse_with_repeat(local=local_file is not None, dry_run=dry_run, strategy=strategy)
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
            buffer_size=buffer_size,
        )
        fmt = settings.output
        if fmt == "auto" and settings.strategy == "all" and not settings.spec.single:
            # several answers in one byte stream could not be split again: piped, a fan-out
            # writes JSON Lines (as batch does) unless -o bytes is asked for
            fmt = "auto" if is_terminal(sys.stdout) else "json"
    printer = Printer(fmt)
    args = read_arguments(list(words), stdin=sys.stdin.buffer)
    mode = settings.mode if settings else "packet"
    request = rpc_request(function, args, modifier2=_modifier2(raw, modifier2, mode))
    warning = buffer_warning(
        request, settings.buffer_size if settings else buffer_size or DEFAULT_BUFFER_SIZE
    )
    if warning:
        printer.warn(warning)
    if dry_run:
        # a local call has no node: show the equivalents for the usual one
        targets = settings.spec.addresses if settings else ["127.0.0.1:3031"]
        from rpccli.call.explain import print_request

        print_request(printer, request, targets, explain, settings)
        return exitcodes.OK
    if local_file is not None:
        return _call_local(printer, local_file, function, args, verbose)
    assert settings is not None
    if settings.strategy == "all" and not settings.spec.single:
        from rpccli.call.fanout import call_all

        return call_all(printer, settings, request, function, args, verbose=verbose)
    if verbose:
        from rpccli.output.wire import resolved_lines

        for line in resolved_lines(settings.spec.addresses):
            printer.info(line)
    if repeat is not None:  # the loop and its summary
        from rpccli.call.repeat import repeat_call

        once = lambda: call_one(settings, request, function, retry_unsafe)  # noqa: E731
        label = settings.spec.label
        return repeat_call(once, printer, node=label, function=function, args=args,
                           repeat=repeat, interval=interval)  # fmt: skip
    start = time.monotonic()
    try:
        result = call_one(settings, request, function, retry_unsafe, printer if verbose else None)
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
        from rpccli.output.wire import verbose_lines

        for line in verbose_lines(result):
            printer.info(line)
    printer.result(result, function, args)
    _remember(settings.spec.label, function)
    if not settings.spec.single:
        _remember(result.node, function)  # the node that answered learns it too
    return exitcodes.OK


def _call_local(
    printer: Printer, path: str, function: str, args: Sequence[bytes], verbose: bool
) -> int:
    from rpccli.call.local import LocalFunctions

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
