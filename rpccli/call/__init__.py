"""``rpccli call NODE FUNCTION [ARG ...]``: one RPC call, for people and for pipelines.

The piped path imports neither rich, prompt_toolkit nor asyncio (docs/design.md#architecture):
pretty output and the fan-out table load rich only when they are shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import click

from protocol.errors import CallError, RequestError, RPCError, UsageError
from protocol.failures import shown
from protocol.wire import DEFAULT_BUFFER_SIZE, rpc_request
from rpccli import exitcodes
from rpccli.args import ARGUMENT_HELP, read_arguments
from rpccli.call.group import call_one
from rpccli.call.repeat import refuse_with_repeat, repeat_call, repeat_options
from rpccli.config import Config, default_node_text, is_node_word, load_config
from rpccli.numbers import MODIFIER
from rpccli.options import (
    buffer_option,
    buffer_warning,
    complete_call_function,
    complete_call_node,
    complete_file_argument,
    connection_options,
    group_options,
    local_option,
    output_options,
    settings_for,
    tls_options,
)
from rpccli.output import FORMATS, Printer, is_terminal

__all__ = ["call", "run_call"]


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


def _option_values(command: click.Command) -> set[str]:
    return {
        name
        for param in command.params
        if isinstance(param, click.Option) and not param.is_flag and not param.count
        for name in param.opts
    }


class CallCommand(click.Command):
    """``call`` stops parsing options at FUNCTION: every word after it is an ARG, so ``echo -1``
    sends ``-1`` (grpcurl and redis-cli pass such words through, too). Options go before FUNCTION.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._end_options_at_function(ctx, list(args)))

    def _end_options_at_function(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = _option_values(self)
        local = False
        positionals = 0
        needed = 2
        index = 0
        while index < len(args):
            word = args[index]
            if word == "--":
                return args  # the user ended the options already
            if word.startswith("-") and word != "-":
                name = word.split("=", 1)[0]
                local = local or name == "--local"
                if word.startswith("--"):
                    index += 1 if "=" not in word and name in takes_value else 0
                else:  # a cluster of short options: -vt 3, -t3
                    for pos, char in enumerate(word[1:], 1):
                        if f"-{char}" in takes_value:
                            index += 1 if pos == len(word) - 1 else 0
                            break
                index += 1
                continue
            if positionals == 0:
                try:
                    config = load_config()
                except RPCError:
                    if not ctx.resilient_parsing:
                        raise
                    config = Config()
                needed = 1 if _function_is_first(word, local, config) else 2
            positionals += 1
            if positionals == needed:
                rest = args[index + 1 :]
                if rest and rest[0] == "--":
                    return args
                return [*args[: index + 1], "--", *rest]
            index += 1
        return args


def _split_words(
    words: list[str], local: bool, config: Config
) -> tuple[str | None, str, list[str]]:
    """NODE, FUNCTION and the ARG words (NODE None: --local, or the default node)."""
    if local:
        if len(words) >= 2 and is_node_word(words[0], config):
            raise UsageError(
                f"--local calls in this process and takes no NODE ({words[0]!r}): "
                "rpccli call --local FILE.py FUNCTION [ARG ...]"
            )
        if not words:
            raise click.UsageError("missing FUNCTION")
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
        raise click.UsageError("missing NODE and FUNCTION")
    if len(words) == 1:
        if default_node_text(config) or is_node_word(words[0], config):
            raise click.UsageError("missing FUNCTION")
        raise click.UsageError(
            f"missing FUNCTION after NODE {words[0]!r}; to leave NODE out, set a default "
            "node (RPCCLI_NODE=HOST:PORT, or node under [defaults] in the config): then "
            f"'rpccli call {shown(words[0])}' or 'rpccli call . {shown(words[0])}'"
        )
    return words[0], words[1], words[2:]


def _output_option(json_flag: bool, output: str | None) -> str | None:
    if json_flag:
        if output not in (None, "json"):
            raise click.UsageError("--json and --output are exclusive")
        return "json"
    return output


@click.command(
    cls=CallCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=ARGUMENT_HELP
    + " Options go before FUNCTION: every word after it is an ARG (echo -1 sends '-1')."
    " NODE '.' is the default node (RPCCLI_NODE, else [defaults] node in the config); with a"
    " default node, NODE may be left out: 'rpccli call hello' when 'hello' is no node or"
    " profile. Exit codes: 0 ok, 1 no result, 2 usage (nothing sent), 3 cannot connect,"
    " 4 timeout, 5 protocol error, 6 some nodes of -s all failed (rpccli --help has more).",
)
@click.argument("node", metavar="NODE", required=False, shell_complete=complete_call_node)
@click.argument(
    "function", metavar="FUNCTION", required=False, shell_complete=complete_call_function
)
@click.argument("args", metavar="[ARG]...", nargs=-1, shell_complete=complete_file_argument)
@click.option("--raw", is_flag=True, help="Ask for the raw answer (modifier2 1, as nginx does).")
@click.option(
    "--modifier2",
    type=MODIFIER,
    default=None,
    metavar="N",
    help="Request modifier2 (0 packet, 1 raw; 4+ behave as raw).",
)
@connection_options
@buffer_option
@tls_options
@group_options(fan_out=True)
@output_options(
    FORMATS,
    auto="pretty on a terminal, exact bytes otherwise (JSON Lines for -s all)",
    json="One JSON object per call",
)
@click.option("-v", "--verbose", is_flag=True, help="Headers and timings on stderr.")
@click.option(
    "--dry-run", is_flag=True, help="Print the request as an annotated hexdump; send nothing."
)
@click.option("--explain", is_flag=True, help="--dry-run plus the nginx and uwsgi.rpc equivalents.")
@local_option
@repeat_options
def call(
    node: str | None,
    function: str | None,
    args: tuple[str, ...],
    raw: bool,
    modifier2: int | None,
    timeout: float | None,
    connect_timeout: float | None,
    max_response: int | None,
    buffer_size: int | None,
    strategy: str | None,
    retry_unsafe: bool,
    json_flag: bool,
    output: str | None,
    verbose: bool,
    dry_run: bool,
    explain: bool,
    local_file: str | None,
    repeat: int | None,
    interval: float,
) -> int:
    """Call FUNCTION on NODE with ARGs and print the result.

    \b
      rpccli call 127.0.0.1:3031 hello world
      rpccli call :3031 echo @photo.jpg | sha256sum
      rpccli call -v --json prod,10.0.0.3:3031 hello
    """
    words = [w for w in (node, function) if w is not None] + list(args)
    node, name, arg_words = _split_words(words, local_file is not None, load_config())
    if (dry_run or explain) and (json_flag or output == "json"):
        raise UsageError("--dry-run and --explain print text; they have no JSON form (drop --json)")
    return run_call(
        node,
        name,
        arg_words,
        raw=raw,
        modifier2=modifier2,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_response=max_response,
        strategy=strategy,
        retry_unsafe=retry_unsafe,
        output=_output_option(json_flag, output),
        buffer_size=buffer_size,
        verbose=verbose,
        dry_run=dry_run or explain,
        explain=explain,
        local_file=local_file,
        repeat=repeat,
        interval=interval,
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
    repeat: int | None = None,
    interval: float = 0.0,
    buffer_size: int | None = None,
) -> int:
    if repeat is not None:
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
