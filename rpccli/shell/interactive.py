"""The prompt_toolkit side of the shell: prompt, toolbar, history, keys.

Keys: TAB completes; Ctrl-R searches the history; the right arrow (or Ctrl-E) accepts the grey
suggestion from history; Ctrl-C clears the line (or, during a call, cancels it: session.py);
Ctrl-D on an empty line leaves with exit code 0. A paste of several lines stays in the line until
Enter, which runs each line in order (as bash 5.1+ does with bracketed paste).
"""

from __future__ import annotations

from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory, Suggestion
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, get_common_complete_suffix
from prompt_toolkit.document import Document
from prompt_toolkit.filters import emacs_insert_mode, has_completions, vi_insert_mode
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style

from protocol.visible import visible
from rpccli.shell.completer import ShellCompleter
from rpccli.shell.history import MAX_HISTORY, ShellHistory, history_path
from rpccli.shell.keys import LONG_LINE, coalesce_typed, keys_kept
from rpccli.shell.session import Shell, ShellExit

__all__ = ["MAX_HISTORY", "ShellHistory", "history_path", "make_session", "run_interactive"]

_STYLE = Style.from_dict(
    {
        "prompt.node": "ansicyan bold",
        "bottom-toolbar": "noreverse bg:#303030 #d0d0d0",
        "bottom-toolbar.key": "#909090",
        "bottom-toolbar.ok": "ansigreen bold",
        "bottom-toolbar.fail": "ansired bold",
    }
)


def _state_dir_text() -> str:
    from rpccli.paths import state_dir

    return str(state_dir(create=False))


class _Suggestions(AutoSuggestFromHistory):
    """The grey suggestion from history, but none for a long line (it reads the whole line on
    every keystroke) and none that would make one (it is drawn on every keystroke)."""

    def get_suggestion(self, buffer: Buffer, document: Document) -> Suggestion | None:
        if len(document.text) > LONG_LINE:
            return None
        found = super().get_suggestion(buffer, document)
        if found is not None and len(document.text) + len(found.text) > LONG_LINE:
            return None
        return found


class _Session(PromptSession[str]):
    def _get_line_prefix(self, line_number: int, wrap_count: int, get_prompt_text_2: Any) -> Any:
        # A row after the first has no prefix here (one-line prompt, no continuation text), but
        # prompt_toolkit measures the prompt again for each: for a 64 KiB line, 550 rows, on
        # every redraw. Say "none" at once.
        if (line_number or wrap_count) and self.prompt_continuation is None and not self.multiline:
            return []
        return super()._get_line_prefix(line_number, wrap_count, get_prompt_text_2)


def _toolbar(shell: Shell, lines: int = 1) -> FormattedText:
    s = shell.settings
    parts: list[tuple[str, str]] = [
        ("class:bottom-toolbar.key", " node "),
        ("", shell.node),
        ("class:bottom-toolbar.key", "  mode "),
        ("", s.mode),
        ("class:bottom-toolbar.key", "  timeout "),
        ("", f"{s.timeout:g}s"),
    ]
    flags = [name for name in ("json", "timing", "verbose") if getattr(shell.flags, name)]
    if flags:
        parts += [("class:bottom-toolbar.key", "  on "), ("", ",".join(flags))]
    last = shell.last
    if last is not None:
        style = "class:bottom-toolbar.ok" if last.ok else "class:bottom-toolbar.fail"
        parts += [
            ("class:bottom-toolbar.key", "  last "),
            ("", f"{visible(last.function)} "),
            (style, last.status),
        ]
        if last.elapsed is not None:
            parts.append(("", f" {last.elapsed * 1000:.1f} ms"))
    count = len(shell.names.snapshot())
    parts += [("class:bottom-toolbar.key", "  names "), ("", f"{count}")]
    if shell.names.fetching:
        parts.append(("", " (fetching…)"))
    if lines > 1:  # a paste of several lines: say what Enter will do
        parts.append(("class:bottom-toolbar.key", f"   Enter runs these {lines} lines"))
    else:
        parts.append(("class:bottom-toolbar.key", "   .help  Ctrl-D quits"))
    return FormattedText(parts)


def _message(shell: Shell) -> FormattedText:
    return FormattedText([("class:prompt.node", shell.node), ("", "> ")])


def _key_bindings() -> KeyBindings:
    keys = KeyBindings()

    @keys.add("tab", filter=(emacs_insert_mode | vi_insert_mode) & ~has_completions)
    def _complete_now(event: KeyPressEvent) -> None:
        """TAB when no menu is up yet: complete NOW, as readline does.

        prompt_toolkit's own TAB starts a completion in a background task, which is dropped while
        the complete-while-typing task for the keys just before it is pending (they arrived in
        the same read: a paste, tmux send-keys, pexpect); the menu then showed the one candidate
        without inserting it. The completer reads only memory, so it can run right here.
        """
        buffer = event.current_buffer
        completer = buffer.completer
        if completer is None:
            return
        document = buffer.document
        found = list(completer.get_completions(document, CompleteEvent(completion_requested=True)))
        common = get_common_complete_suffix(document, found)
        if common:
            buffer.insert_text(common)  # complete-while-typing then shows what is left, if any
        elif len(found) == 1:
            buffer.apply_completion(found[0])  # e.g. a name that needs quotes
        elif found:
            buffer.start_completion(insert_common_part=True)  # the menu, as before

    return keys


def make_session(
    shell: Shell, *, input: Input | None = None, output: Output | None = None
) -> PromptSession[str]:
    history: History
    try:
        history = ShellHistory(history_path())
    except OSError as exc:
        # a read-only home, or XDG_STATE_HOME naming a file, must not keep anyone from the
        # shell: history lives in memory, and the reason is said once
        where = exc.filename or _state_dir_text()
        reason = exc.strerror or str(exc)
        shell.error(OSError(f"cannot keep history in {where} ({reason}); history is not saved"))
        history = InMemoryHistory()
    session: PromptSession[str] = _Session(
        message=lambda: _message(shell),
        history=history,
        auto_suggest=_Suggestions(),
        completer=ShellCompleter(shell),
        complete_while_typing=True,
        key_bindings=_key_bindings(),
        bottom_toolbar=lambda: _toolbar(shell, _line_count(session.default_buffer.text)),
        style=_STYLE,
        input=input,
        output=output,
        enable_suspend=True,
        include_default_pygments_style=False,
    )

    def changed() -> None:
        # called from the listing thread: invalidate() is thread-safe in prompt_toolkit
        app = session.app
        if app.is_running:
            app.invalidate()

    shell.on_change = changed
    coalesce_typed(session.app.input)
    return session


def _line_count(text: str) -> int:
    if "\n" not in text:
        return 1
    return sum(1 for line in text.split("\n") if line.strip())


def run_interactive(shell: Shell, *, banner: str = "", **io: Any) -> int:
    """Prompt until Ctrl-D or .quit (exit code 0). No error ends the loop."""
    session = make_session(shell, **io)
    if banner:
        shell.say(banner)
    # keys typed while a call runs wait, unchanged, for the next prompt (keys.py)
    with keys_kept(session.app.input) as kept:
        shell.ctrl_c_echoed = not kept
        while True:
            try:
                text = session.prompt()
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt: the line is dropped, as in bash
            except EOFError:
                return 0
            try:
                shell.run_lines(text)
            except ShellExit:
                return 0
            except KeyboardInterrupt:
                continue  # Ctrl-C while a meta-command printed
