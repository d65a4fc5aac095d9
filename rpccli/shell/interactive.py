"""The prompt_toolkit side of the shell: prompt, toolbar, history, keys.

Keys: TAB completes; Ctrl-R searches the history; the right arrow (or Ctrl-E) accepts the grey
suggestion from history; Ctrl-C clears the line (or, during a call, cancels it: session.py);
Ctrl-D on an empty line leaves with exit code 0.
"""

from __future__ import annotations

from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, get_common_complete_suffix
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


def _toolbar(shell: Shell) -> FormattedText:
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
    session: PromptSession[str] = PromptSession(
        message=lambda: _message(shell),
        history=history,
        auto_suggest=AutoSuggestFromHistory(),
        completer=ShellCompleter(shell),
        complete_while_typing=True,
        key_bindings=_key_bindings(),
        bottom_toolbar=lambda: _toolbar(shell),
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
    return session


def run_interactive(shell: Shell, *, banner: str = "", **io: Any) -> int:
    """Prompt until Ctrl-D or .quit (exit code 0). No error ends the loop."""
    session = make_session(shell, **io)
    if banner:
        shell.say(banner)
    while True:
        try:
            line = session.prompt()
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt: the line is dropped, as in bash
        except EOFError:
            return 0
        try:
            shell.run_line(line)
        except ShellExit:
            return 0
        except KeyboardInterrupt:
            continue  # Ctrl-C while a meta-command printed
