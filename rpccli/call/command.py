"""The click command of ``rpccli call`` (:func:`rpccli.call.run_call` makes the call).

``call`` stops parsing options at FUNCTION; a plain command line takes the same way without
click (rpccli.call.plain, docs/design.md#start-up).
"""

from __future__ import annotations

import click

from protocol.errors import RPCError, UsageError
from rpccli.args import ARGUMENT_HELP
from rpccli.call import _function_is_first, _split_words, run_call
from rpccli.call.repeat import repeat_options
from rpccli.config import Config, load_config
from rpccli.numbers import MODIFIER
from rpccli.options import (
    buffer_option,
    complete_call_function,
    complete_call_node,
    complete_file_argument,
    connection_options,
    group_options,
    local_option,
    output_options,
    tls_options,
)
from rpccli.output import FORMATS

__all__ = ["CallCommand", "call"]


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
