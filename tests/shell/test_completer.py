"""The shell's completer, fed prompt_toolkit Documents: names with their source, meta-commands,
their arguments, and @file paths. No network: the names come from the local caches."""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from rpccli import names
from rpccli.config import load_config
from rpccli.shell.completer import ShellCompleter, quote
from rpccli.shell.session import Shell

NODE = "127.0.0.1:1"  # never contacted: a script shell fetches no listing


@pytest.fixture
def shell(xdg_dirs: dict[str, Path]) -> Shell:
    config_dir = xdg_dirs["config"] / "rpccli"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text(
        '[nodes.prod]\naddress = ["127.0.0.1:2", "127.0.0.1:3"]\nfunctions = ["deploy"]\n'
        '[nodes.staging]\naddress = "127.0.0.1:4"\n'
    )
    names.remember(NODE, "hello")
    names.store_listing(NODE, ["hello", "hellolua", "upper", "say_hello"])
    return Shell(load_config(), NODE, interactive=False)


def complete(shell: Shell, text: str) -> list[tuple[str, str, int]]:
    completer = ShellCompleter(shell)
    found = completer.get_completions(Document(text, len(text)), CompleteEvent(True))
    return [(c.text, c.display_meta_text, c.start_position) for c in found]


def test_function_names_show_their_sources(shell: Shell) -> None:
    assert complete(shell, "hel") == [
        ("hello", "learned, listing", -3),
        ("hellolua", "listing", -3),
        ("say_hello", "listing", -3),  # contains "hel": offered after the prefix matches
    ]


def test_empty_line_offers_every_known_name(shell: Shell) -> None:
    assert [c[0] for c in complete(shell, "")] == ["hello", "hellolua", "say_hello", "upper"]


def test_profile_names_are_merged(shell: Shell) -> None:
    shell.switch("prod")
    assert complete(shell, "dep") == [("deploy", "profile", -3)]


def test_meta_commands_complete_with_summaries(shell: Shell) -> None:
    found = complete(shell, ".ti")
    assert [(t, s) for t, _, s in found] == [(".timeout", -3), (".timing", -3)]
    assert "deadline" in found[0][1]


def test_meta_command_arguments(shell: Shell) -> None:
    assert [c[0] for c in complete(shell, ".mode ")] == ["packet", "raw"]
    assert [c[0] for c in complete(shell, ".json o")] == ["on", "off"]
    assert [c[0] for c in complete(shell, ".verbose of")] == ["off"]
    assert [c[0] for c in complete(shell, ".node ")][:2] == ["prod", "staging"]
    assert [c[0] for c in complete(shell, ".node st")] == ["staging"]
    assert [c[0] for c in complete(shell, ".help ti")] == ["timeout", "timing"]
    assert [c[0] for c in complete(shell, ".functions up")] == ["upper"]
    assert [c[0] for c in complete(shell, ".call hellol")] == ["hellolua"]
    assert complete(shell, ".mode raw ") == []  # one argument only


def test_bare_help_word_completes_like_the_meta_command(shell: Shell) -> None:
    assert [c[0] for c in complete(shell, "help node")] == ["node", "nodes"]


def test_file_paths_after_at(shell: Shell, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"x")
    (tmp_path / "pics").mkdir()
    (tmp_path / "my file.txt").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert complete(shell, "echo @p") == [("@photo.jpg", "file", -2), ("@pics/", "dir", -2)]
    assert complete(shell, "echo @my") == [("'@my file.txt'", "file", -3)]
    assert [c[0] for c in complete(shell, f"echo @{tmp_path}/ph")] == [f"@{tmp_path}/photo.jpg"]
    assert complete(shell, "echo @@p") == []
    assert complete(shell, "echo p") == []


def test_quoted_current_word_is_replaced_whole(shell: Shell) -> None:
    assert complete(shell, "'hel") == [
        ("hello", "learned, listing", -4),
        ("hellolua", "listing", -4),
        ("say_hello", "listing", -4),
    ]


def test_comment_line_completes_nothing(shell: Shell) -> None:
    assert complete(shell, "#hel") == []


def test_quote() -> None:
    assert quote("hello") == "hello"
    assert quote("a b") == "'a b'"
    assert quote("it's") == "'it'\\''s'"


def test_names_learned_by_rpccli_call_complete_in_the_shell(
    bundled_node: str, xdg_dirs: dict[str, Path]
) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "rpccli", "call", bundled_node, "argc", "x"],
        capture_output=True,
        check=True,
    )
    shell = Shell(load_config(), bundled_node, interactive=False)
    assert complete(shell, "arg") == [("argc", "learned", -3)]
