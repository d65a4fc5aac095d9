"""The shell's engine: state (node, settings, names) and what one input line does.

No prompt_toolkit here: the same engine serves the interactive prompt (interactive.py) and a script
on standard input (``rpccli shell NODE < script``). Every error of one line becomes one message and
a status; nothing a line does can end the shell except ``.quit``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from protocol.errors import NoResult, RPCError
from protocol.visible import counted, visible
from protocol.wire import rpc_request
from rpccli import exitcodes, names
from rpccli.args import read_argument
from rpccli.config import Config, NodeSpec
from rpccli.errors import InputError, describe
from rpccli.options import Settings, settings_for
from rpccli.output import Printer, color_allowed, is_terminal, write_line
from rpccli.output.wire import timing_line, verbose_lines
from rpccli.shell import calls
from rpccli.shell.commands import BARE, PREFIX, REGISTRY, find
from rpccli.shell.listing import DEFAULT_LIST_FUNCTION, NameIndex
from rpccli.words import Word, split_line

__all__ = ["WAIT_NOTICE", "Flags", "LastCall", "Shell", "ShellExit"]

#: seconds a call may take before the shell says it is waiting (and how to cancel)
WAIT_NOTICE = 1.0


#: the toolbar's word for each kind of error (protocol.errors ``kind``)
_STATUS = {
    "no_result": "no result",
    "connect": "connect failed",
    "timeout": "timed out",
    "protocol": "bad answer",
    "usage": "usage error",
}


class ShellExit(Exception):
    """``.quit``: leave the shell."""


@dataclass(slots=True)
class Flags:
    """Output switches of the shell (`.json`, `.timing`, `.verbose`)."""

    json: bool = False
    timing: bool = False
    verbose: bool = False
    #: piped output: each call's result and a newline, an empty line for a failed call
    #: (``--raw-output``, as ``rpccli batch --raw-output``), so N calls give N lines
    lines: bool = False


@dataclass(frozen=True, slots=True)
class LastCall:
    """What the toolbar shows about the last call."""

    function: str
    ok: bool
    status: str
    elapsed: float | None


class Shell:
    """One shell session: the node it talks to, its settings, and its known names."""

    def __init__(
        self,
        config: Config,
        node: str | None,
        *,
        interactive: bool,
        options: dict[str, Any] | None = None,
        flags: Flags | None = None,
        stdout: IO[Any] | None = None,
        stderr: IO[str] | None = None,
        console: Any = None,
        on_change: Callable[[], None] | None = None,
        demo_node: str | None = None,
        demo_reasons: calls.DemoReasons | None = None,
        screen: IO[str] | None = None,
    ) -> None:
        self.config = config
        #: the bundled demo server's node: a throw-away port whose names are not persisted
        self.demo_node = demo_node
        #: why the demo server gave no result (it runs in this process and knows)
        self.demo_reasons = demo_reasons
        self.interactive = interactive
        self.stdout = stdout if stdout is not None else sys.stdout
        #: where the interface's own text goes (banner, .help, confirmations): stdout, or the
        #: terminal when stdout is a pipe (``rpccli shell NODE | tee log``: results only there)
        self.screen = screen if screen is not None else self.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.console = console
        self.on_change = on_change
        #: settings given on the command line or with meta-commands; they outlive `.node`
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        self.last: LastCall | None = None
        #: the line of a script (or of a pasted block) being run, named in error messages
        self.line_number = 0
        #: whether the terminal shows ^C when Ctrl-C cancels a call (not while keys are kept
        #: for the next prompt: no echo then, see keys.py)
        self.ctrl_c_echoed = True
        self.settings: Settings
        self.names: NameIndex
        self._connect(node)
        self.flags = flags or Flags(json=self.settings.output == "json")

    # -- node and settings ------------------------------------------------------------------
    @property
    def node(self) -> str:
        return self.settings.spec.label

    @property
    def spec(self) -> NodeSpec:
        return self.settings.spec

    def _connect(self, node: str | None) -> None:
        # settings_for is call's own resolver: the same precedence of options, env and profile
        self.settings = settings_for(node, config=self.config, **self.options)
        profile = self.spec.profile
        list_function = (profile.list_function if profile else None) or DEFAULT_LIST_FUNCTION
        self.names = NameIndex(
            self.spec.label,
            list_function=list_function,
            fetch=self._fetch_listing,
            on_change=self._changed,
            persist=self.spec.label != self.demo_node,
        )
        if self.interactive:
            self.names.refresh()  # for completion; a script has no TAB to feed

    def switch(self, text: str) -> None:
        """Talk to another node from now on (a usage error leaves the current one)."""
        self._connect(text)
        self.last = None

    def set_option(self, key: str, value: Any) -> None:
        """Change a connection setting (timeout, mode, ...) for the rest of the session."""
        options = {**self.options, key: value}
        self.settings = settings_for(self.spec.label, config=self.config, **options)
        self.options = options

    def _fetch_listing(self, function: str) -> bytes:
        # runs in the listing thread: a short deadline, so a dead node is noticed soon
        request = rpc_request(function, (), modifier2=calls.modifier2(self.settings))
        timeout = min(self.settings.timeout, 3.0)
        return calls.call(self.settings, request, function, timeout=timeout).body

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def node_choices(self) -> list[tuple[str, str]]:
        """Profiles and nodes used before, for `.node` completion."""
        found = {name: ", ".join(p.addresses) for name, p in sorted(self.config.profiles.items())}
        for node in names.known_nodes():
            found.setdefault(node, "used before")
        return list(found.items())

    # -- output -----------------------------------------------------------------------------
    def printer(self) -> Printer:
        fmt = "json" if self.flags.json else "auto"
        printer = Printer(fmt, stdout=self.stdout, stderr=self.stderr, console=self.console)
        if printer.format == "pretty" and self.console is None:
            self.console = printer.console  # one rich console for the whole session
        return printer

    def say(self, text: str) -> None:
        """Information a command was asked for (`.functions`, `.help`): on stdout."""
        self.screen.write(visible(text, keep="\n\t", reversible=False) + "\n")
        self.screen.flush()

    def note(self, text: str) -> None:
        """A confirmation ("timeout is now 10 s"): shown to a person, kept out of piped output."""
        stream = self.screen if self.interactive else self.stderr
        if self.interactive or self.flags.verbose:
            stream.write(visible(text, keep="\n\t", reversible=False) + "\n")
            stream.flush()

    def error(self, error: BaseException) -> None:
        where = f"line {self.line_number}: " if self.line_number else ""
        text = visible(f"rpccli: {where}{describe(error)}", keep="\n\t", reversible=False)
        if self.interactive and is_terminal(self.stderr) and color_allowed():
            text = f"\x1b[31m{text}\x1b[0m"
        write_line(self.stderr, text, styled=True)

    # -- lines ------------------------------------------------------------------------------
    def run_lines(self, text: str) -> int:
        """Run what was entered at the prompt: one command, or each line of a pasted block.

        Each line is one command, as in a script and in ``rpccli batch`` (a quote never spans
        lines), run in order. A line that cannot be split stops the block before anything is
        sent; Ctrl-C during a line drops the lines after it. Raises only ShellExit.
        """
        lines = text.split("\n")
        if len(lines) > 1 and not lines[-1]:
            lines.pop()  # the newline that ended the last line
        if len(lines) == 1:
            return self.run_line(lines[0])
        for number, line in enumerate(lines, 1):
            try:
                split_line(line)
            except InputError as exc:
                self.error(
                    InputError(f"line {number} of {len(lines)}: {exc}; none of the lines was run")
                )
                return exitcodes.USAGE
        status = exitcodes.OK
        try:
            for number, line in enumerate(lines, 1):
                self.line_number = number
                code = self.run_line(line)
                if code == exitcodes.INTERRUPTED:
                    left = sum(1 for rest in lines[number:] if rest.strip())
                    if left:
                        self.line_number = 0
                        self.error(
                            InputError(
                                f"the {counted(left, 'line')} after line {number} "
                                f"{'was' if left == 1 else 'were'} not run"
                            )
                        )
                    return code
                if code != exitcodes.OK:
                    status = code
        finally:
            self.line_number = 0
        return status

    def run_line(self, line: str) -> int:
        """Run one input line; return its status (an exit code). Raises only ShellExit."""
        try:
            words = split_line(line)
            if not words:
                return exitcodes.OK
            return self._dispatch(words)
        except ShellExit:
            raise
        except RPCError as exc:
            self.error(exc)
            return exitcodes.exit_code(exc)
        except OSError as exc:  # e.g. a terminal that went away while printing
            self.error(exc)
            return exitcodes.PROTOCOL

    def _dispatch(self, words: list[Word]) -> int:
        first = words[0]
        meta = None
        if not first.quoted:
            meta = find(first.text)
            bare = BARE.get(first.text)
            if meta is None and bare is not None and first.text not in self.names:
                meta = REGISTRY[bare]
            if meta is None and first.text.startswith(PREFIX) and len(first.text) > 1:
                raise InputError(
                    f"unknown meta-command {first.text}; .help lists them "
                    f"(.call {first.text} ... calls a function of that name)"
                )
        if meta is not None:
            if meta.handler is None:  # .call: the words stay bytes
                if len(words) < 2:
                    raise InputError(f"usage: {PREFIX}{meta.name} {meta.usage}")
                return self.call(words[1].value, words[2:])
            args = [w.text for w in words[1:]]
            if len(args) > meta.max_args:
                usage = f" {meta.usage}" if meta.usage else ""
                raise InputError(f"usage: {PREFIX}{meta.name}{usage}")
            return meta.handler(self, args)
        return self.call(first.value, words[1:])

    def call(self, function: bytes, words: list[Word]) -> int:
        """Call ``function`` with the argument words (``@FILE`` and ``@@`` as in `rpccli call`)."""
        args = [self._argument(w) for w in words]
        settings = self.settings
        request = rpc_request(function, args, modifier2=calls.modifier2(settings))
        name = function.decode("utf-8", "surrogateescape")
        printer = self.printer()
        warning = calls.buffer_warning(request, settings.buffer_size)
        if warning:
            printer.warn(warning)
        if settings.strategy == "all" and not settings.spec.single:
            return self._fan_out(printer, request, name, args)
        start = time.monotonic()
        try:
            result = self.run_cancellable(
                lambda: calls.call(settings, request, name), f"{name} on {self.node}"
            )
        except KeyboardInterrupt:
            self.last = LastCall(name, False, "cancelled", time.monotonic() - start)
            return self.cancelled(name)
        except RPCError as exc:
            if isinstance(exc, NoResult) and self.demo_reasons and self.node == self.demo_node:
                exc = self.demo_reasons.explain(exc, function)
            elapsed = time.monotonic() - start
            self.last = LastCall(name, False, _STATUS.get(exc.kind, "failed"), elapsed)
            node = getattr(exc, "node", self.node)
            printer.failure(exc, node=node, function=name, args=args, elapsed=elapsed)
            if self.flags.lines and printer.format == "bytes":
                printer.write(b"\n")  # a real result is never empty (docs/protocol.md#failures)
            raise exc from None
        finally:
            self._changed()
        self.last = LastCall(name, True, "ok", result.timings.total)
        self.names.learn(name)
        if self.flags.verbose:
            for line in verbose_lines(result):
                printer.info(line)
        if self.flags.lines and printer.format == "bytes":
            printer.write(result.body + b"\n")
        else:
            printer.result(result, name, args)
        if self.flags.timing and not self.flags.verbose:
            printer.info(timing_line(result))
        return exitcodes.OK

    def _fan_out(self, printer: Printer, request: bytes, name: str, args: list[bytes]) -> int:
        # `rpccli call`'s own fan-out and output; on the main thread, so Ctrl-C waits for the
        # nodes' deadlines instead of leaving threads that print later
        from rpccli.call.fanout import call_all

        start = time.monotonic()
        code = call_all(printer, self.settings, request, name, args, verbose=self.flags.verbose)
        status = (
            "ok" if code == exitcodes.OK else "failed" if code != exitcodes.PARTIAL else "partial"
        )
        self.last = LastCall(name, code == exitcodes.OK, status, time.monotonic() - start)
        if code in (exitcodes.OK, exitcodes.PARTIAL):
            self.names.learn(name)
        return code

    def _argument(self, word: Word) -> bytes:
        # The @FILE syntax is C's, shared with `call`; a quoted word is still read the same way,
        # as the shell quoting of `rpccli call` never reaches it either. @- would read the
        # terminal (or the script itself), so it is refused here.
        if word.value.startswith(b"@"):
            return read_argument(word.text, stdin=None)
        return word.value

    def cancelled(self, what: str) -> int:
        """Ctrl-C stopped ``what`` (a call, a ping): one line, then the prompt again."""
        if self.ctrl_c_echoed:
            self.stderr.write("\n")  # the terminal echoed ^C without a newline
        self.error(InputError(f"{what} cancelled (Ctrl-C); its answer will be ignored"))
        return exitcodes.INTERRUPTED

    def run_cancellable(self, work: Callable[[], Any], waiting: str = "") -> Any:
        """Run ``work``; interactively in a worker thread, so Ctrl-C returns to the prompt.

        The blocking client cannot be interrupted inside recv(); the worker is abandoned (a daemon
        thread bounded by the call's own deadline) and its answer dropped.
        """
        if not self.interactive:
            return work()
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["result"] = work()
            except BaseException as exc:
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, name="rpccli-call", daemon=True).start()
        # a lock wait: SIGINT interrupts it with KeyboardInterrupt
        if not done.wait(WAIT_NOTICE) and waiting:
            self.stderr.write(f"(waiting for {waiting}; Ctrl-C cancels)\n")
            self.stderr.flush()
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["result"]

    # -- a script on stdin ------------------------------------------------------------------
    def run_script(self, lines: IO[str]) -> int:
        """Every line of ``lines``; the exit code is that of the LAST line that failed, else 0."""
        status = exitcodes.OK
        for number, line in enumerate(lines, 1):
            self.line_number = number
            try:
                code = self.run_line(line.rstrip("\r\n"))
            except ShellExit:
                break
            if code != exitcodes.OK:
                status = code
        return status
