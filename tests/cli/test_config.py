"""Config file, profiles, environment variables and XDG paths."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol.errors import AddressError
from rpccli.config import load_config
from rpccli.errors import ConfigError
from rpccli.node_words import resolve_nodes
from rpccli.paths import config_path, state_dir
from tests.cli.conftest import run_cli

Write = Callable[[str], Path]


def test_paths_follow_xdg(xdg_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_path() == xdg_dirs["config"] / "rpccli" / "config.toml"
    monkeypatch.setenv("RPCCLI_CONFIG", "/etc/x.toml")
    assert config_path() == Path("/etc/x.toml")
    path = state_dir()
    assert path == xdg_dirs["state"] / "rpccli" and path.is_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_relative_xdg_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path() == tmp_path / ".config" / "rpccli" / "config.toml"


def test_missing_file_is_empty_config() -> None:
    config = load_config()
    assert config.path is None and config.profiles == {} and config.defaults.timeout == 4.0


def test_explicit_missing_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPCCLI_CONFIG", "/nonexistent/rpccli.toml")
    with pytest.raises(ConfigError, match=r"config file /nonexistent/rpccli\.toml does not exist"):
        load_config()


def test_profiles_and_defaults(write_config: Write) -> None:
    path = write_config(
        "[defaults]\ntimeout = 2.5\nconnect_timeout = 1\nmode = 'raw'\njson = true\n"
        "node = 'prod'\n\n"
        "[nodes.prod]\naddress = ['10.0.0.2:3031', ':3032']\nstrategy = 'round-robin'\n"
        "functions = ['hello', 'hellolua']\nlist_function = 'rpc_list'\n\n"
        "[nodes.one]\naddress = '@app'\ntimeout = 9\n"
    )
    config = load_config()
    assert config.path == path
    d = config.defaults
    assert (d.timeout, d.connect_timeout, d.mode, d.output, d.node) == (
        2.5,
        1,
        "raw",
        "json",
        "prod",
    )
    prod = config.profiles["prod"]
    assert prod.addresses == ["10.0.0.2:3031", "127.0.0.1:3032"]
    assert (prod.strategy, prod.functions, prod.list_function) == (
        "round-robin",
        ["hello", "hellolua"],
        "rpc_list",
    )
    assert config.profiles["one"].addresses == ["@app"]
    spec = resolve_nodes(None, config)
    assert (spec.label, spec.strategy, spec.profile) == ("prod", "round-robin", prod)
    group = resolve_nodes("one,prod,:4000", config)
    assert group.addresses == ["@app", "10.0.0.2:3031", "127.0.0.1:3032", "127.0.0.1:4000"]
    assert group.profile is None and group.strategy is None


def test_env_overrides(write_config: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config("[defaults]\ntimeout = 2.5\nnode = 'a:1'\n")
    monkeypatch.setenv("RPCCLI_TIMEOUT", "0.75")
    monkeypatch.setenv("RPCCLI_NODE", ":9")
    config = load_config()
    assert config.defaults.timeout == 0.75
    assert resolve_nodes(".", config).addresses == ["127.0.0.1:9"]


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_bad_rpccli_timeout(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RPCCLI_TIMEOUT", value)
    with pytest.raises(ConfigError, match="RPCCLI_TIMEOUT must be a number of seconds"):
        load_config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults]\ntimeout = \n", "line 2, column 11: invalid value"),
        ("[defaults]\n\ntimeout = 'x'\n", "line 3: timeout must be a number of seconds above 0"),
        ("[defaults]\nmode = 'fast'\n", "line 2: mode must be one of packet, raw"),
        ("[defaults]\ncolour = 1\n", "line 2: unknown key 'colour' in [defaults]"),
        ("[nodes.a]\nstrategy = 'first'\n", "line 1: profile 'a' has no address"),
        ("[nodes.a]\naddress = 'x:99999'\n", "line 2: bad port in node 'x:99999'"),
        ("[nodes.a]\naddress = ':1'\nstrategy = 'fastest'\n", "line 3: strategy must be one of"),
        ('[nodes."a:b"]\naddress = ":1"\n', "line 1: profile name 'a:b' may not contain"),
        ("[nodes.a]\naddress = ':1'\nfunctions = 3\n", "line 3: functions must be a string or"),
    ],
)
def test_bad_file_names_file_and_line(write_config: Write, text: str, message: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config()
    assert str(info.value).startswith(f"bad config file {path}, ")
    assert message in str(info.value)


def test_bad_config_is_one_line_exit_2(write_config: Write) -> None:
    path = write_config("[defaults\n")
    result = run_cli("call", ":1", "hello")
    assert result.code == 2
    assert result.err.startswith(f"rpccli: bad config file {path}, line 1")
    assert result.err.count("\n") == 1


def test_unknown_name_mentions_the_config(write_config: Write) -> None:
    path = write_config("[nodes.prod]\naddress = ':1'\n")
    with pytest.raises(AddressError) as info:
        resolve_nodes("prdo", load_config())
    assert str(info.value) == (
        "unknown node 'prdo': not HOST:PORT, :PORT, a socket path or @NAME, "
        f"and no profile of that name in {path} (profiles: prod)"
    )


def test_profile_usable_everywhere(bundled_node: str, write_config: Write) -> None:
    write_config(f"[nodes.demo]\naddress = '{bundled_node}'\n")
    assert run_cli("call", "demo", "hello").out == b"Hello, world"
    assert run_cli("ping", "demo").code == 0
    result = run_cli("batch", "demo", "-o", "lines", input=b"hello a\n")
    assert (result.code, result.out) == (0, b"Hello, a\n")


def test_profile_timeout_and_mode(bundled_node: str, write_config: Write) -> None:
    write_config(f"[nodes.demo]\naddress = '{bundled_node}'\ntimeout = 0.3\nmode = 'raw'\n")
    assert run_cli("call", "demo", "sleep", "2").code == 4
    assert "< response: raw" in run_cli("call", "-v", "demo", "hello").err
    # the command line wins over the profile
    assert run_cli("call", "-t", "5", "demo", "sleep", "0.5").code == 0


def test_default_output_json(bundled_node: str, write_config: Write) -> None:
    write_config("[defaults]\noutput = 'json'\n")
    assert run_cli("call", bundled_node, "hello").out.startswith(b'{"node": ')


def test_config_file_mode_untouched(write_config: Write) -> None:
    path = write_config("")
    before = os.stat(path).st_mode
    load_config()
    assert os.stat(path).st_mode == before


def test_profile_typo_is_reported_as_an_unknown_key(write_config: Write) -> None:
    path = write_config('[nodes.a]\nadress = ":1"\n')
    result = run_cli("call", "a", "hello")
    assert (result.code, result.err) == (
        2,
        f"rpccli: bad config file {path}, line 2: unknown key 'adress' in [nodes.a]\n",
    )


def test_unknown_profile_lists_the_known_ones(write_config: Write) -> None:
    path = write_config('[nodes.prod]\naddress = ":1"\n[nodes.dev]\naddress = ":2"\n')
    result = run_cli("call", "prd", "hello")
    assert (result.code, result.err) == (
        2,
        "rpccli: unknown node 'prd': not HOST:PORT, :PORT, a socket path or @NAME, and no "
        f"profile of that name in {path} (profiles: dev, prod)\n",
    )
