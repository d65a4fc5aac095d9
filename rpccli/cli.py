"""The program's entry point, without click: a plain ``rpccli call`` runs without importing
it (rpccli.call.plain); every other command line goes to the click wiring in :mod:`rpccli.app`
(docs/design.md#start-up).

Every error that ends a command passes through :func:`main`, the one place that turns it into a
single stderr line and an exit code (see :mod:`rpccli.exitcodes`).
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

from protocol.errors import RPCError
from rpccli import exitcodes
from rpccli.errors import describe

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    # the click wiring lives in rpccli.app; `from rpccli.cli import app` keeps working
    if name in ("app", "COMMANDS", "SUMMARIES"):
        from rpccli import app as wiring

        return getattr(wiring, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _say(message: str) -> None:
    from rpccli.output import write_line  # only when a command ends badly

    write_line(sys.stderr, f"rpccli: {message}")


def _quiet_broken_pipe() -> None:
    # `rpccli call ... | head -c1`: the reader left; exit quietly, as cat does. Also after any
    # failed write: stdout then points at /dev/null so the interpreter's last flush cannot fail.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class _ClosedStdout(io.TextIOBase):
    """Stands in for a stdout that was closed (``rpccli ... >&-``): Python gives None, and
    every write must fail as a write to a closed descriptor would, not with AttributeError."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("standard output is closed")


def _stand_in_for_closed_streams() -> None:
    """A closed stdout or stderr: occupy descriptors 1 and 2 with /dev/null, so that no socket
    the command opens lands on them, and give Python stream objects that behave. Lines for a
    closed stderr are lost, but the exit code stays the command's."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
        if name == "stdout":
            sys.stdout = _ClosedStdout()
        else:
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115 -- lives as long as the process


#: a write to stdout that failed for one of these is an output failure, not a bug
_OUTPUT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EINVAL}
)


def _output_failed(exc: OSError) -> int:
    _quiet_broken_pipe()
    _say(f"cannot write the output: {exc.strerror or exc}")
    return exitcodes.OUTPUT


def _flush_stdout() -> None:
    stdout = sys.stdout
    if stdout is not None:
        stdout.flush()


def main(argv: Sequence[str] | None = None, *, prog_name: str = "rpccli") -> int:
    """Run the program; return the exit code instead of raising SystemExit."""
    args = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in args or os.environ.get("RPCCLI_TRACEBACK") == "1"
    _stand_in_for_closed_streams()
    try:
        try:
            result = _run(args, prog_name, program=argv is None)
        finally:
            _flush_stdout()  # text buffered by click or rich fails HERE, not at interpreter exit
    except KeyboardInterrupt:
        _say("interrupted")
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        _quiet_broken_pipe()
        return exitcodes.OK
    except RPCError as exc:
        if show_traceback:
            raise
        _say(describe(exc))
        return exitcodes.exit_code(exc)
    except OSError as exc:  # after RPCError: CallTimeout is a TimeoutError
        # nothing else reaches here as OSError: sockets, files and config wrap theirs in RPCError
        if show_traceback or exc.errno not in _OUTPUT_ERRNOS:
            raise
        return _output_failed(exc)
    except Exception as exc:  # click's own: no click error is any of the above
        code = _click_outcome(exc)
        if code is None:
            raise
        return code
    return result if isinstance(result, int) else exitcodes.OK


def _skip_exit_collections() -> None:
    """The command is done and its output written, and the process ends now: the garbage
    collections of its exit would walk every object of every module imported, a tenth of a cold
    call (docs/design.md#start-up). The two young generations are collected (some thousand objects
    at most: the cycles that the last imports left, such as socket's enums), the rest is frozen;
    a plain call or a quick TAB leaves no other garbage, so nothing with a finalizer is skipped
    (tests check it). Only when main() runs as the program: other code that called it goes on."""
    import gc

    gc.collect(1)
    gc.freeze()


def _run(args: list[str], prog_name: str, *, program: bool = False) -> Any:
    """A plain ``rpccli call`` line without click; every other line through click, whose
    parser stays the reference (docs/design.md#start-up). ``program``: main() runs as the
    program (the console script, ``python -m rpccli``), not called by other code."""
    instruction = os.environ.get("_RPCCLI_COMPLETE")
    if instruction:
        # TAB: the common answers without click (rpccli.completion.quick), else click's path,
        # with rpccli's completion classes (each value quoted for its shell) registered first
        from rpccli.completion.quick import answer

        text = answer(instruction)
        if text is not None and hasattr(sys.stdout, "buffer"):
            sys.stdout.buffer.write(text.encode() + b"\n")
            if program:
                _skip_exit_collections()
            return exitcodes.OK
        importlib.import_module("rpccli.completion.command")
    from rpccli.call.plain import Declined, plain_call

    plain = plain_call(args)
    if plain is not None:
        try:
            code = plain()
        except Declined:
            pass  # a word the plain path does not know: click's parser says what it means
        else:
            if program and code == exitcodes.OK:
                _skip_exit_collections()
            return code
    from rpccli.app import app

    code = app.main(args, prog_name=prog_name, standalone_mode=False)
    if program and code == exitcodes.OK and args[:1] == ["batch"]:
        # a batch that succeeded leaves no garbage with a finalizer either (its sockets, lanes
        # and pipes are closed; tests/cli/test_batch_start_up.py checks it): its exit skips the
        # collections over every module imported, as a plain call's does
        _skip_exit_collections()
    return code


def _click_outcome(exc: Exception) -> int | None:
    """The exit code of an error click raised (None: not click's)."""
    if "click" not in sys.modules:
        return None  # a plain call that never imported click
    import click

    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, click.BadParameter):
        # a bad value: one line naming the option, as every other error (not click's usage block)
        message = exc.format_message()
        _say(message[:1].lower() + message[1:])
        return exitcodes.USAGE
    if isinstance(exc, click.ClickException):
        exc.show()
        return exitcodes.USAGE
    if isinstance(exc, click.exceptions.Abort):
        _say("interrupted")
        return exitcodes.INTERRUPTED
    return None
