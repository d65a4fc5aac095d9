"""The config file, profiles and environment variables (docs/design.md#config).

::

    [defaults]
    timeout = 4.0             # whole-call deadline, seconds (RPCCLI_TIMEOUT overrides it)
    connect_timeout = 4.0     # connect deadline (default: the timeout)
    mode = "packet"           # or "raw"
    output = "auto"           # auto | bytes | pretty | json  (json = true: output = "json")
    max_response = 67108864   # bytes, or a size: "64M"
    buffer_size = 4096        # the servers' --buffer-size: larger requests get a warning
    node = "prod"             # the default node (RPCCLI_NODE overrides it)

    [nodes.prod]
    address = ["10.0.0.2:3031", "10.0.0.3:3031"]   # or one string
    strategy = "round-robin"                        # first | round-robin | random | best | all
    functions = ["hello", "hellolua"]               # declared names, for completion
    list_function = "rpc_list"
    timeout = 2.0                                   # optional per-profile deadlines and mode
    buffer_size = 65535                             # this server's --buffer-size

Precedence: command-line option > environment variable > config file > built-in default.
A missing file is an empty config; a broken one is a :class:`ConfigError` naming file and line.
"""

# no `from __future__ import annotations`: the NamedTuples' field types must be objects, not
# strings, which typing would check with compile() -- its first call in a process costs a cold
# `rpccli call` 10M instructions (docs/design.md#start-up)

import os
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from protocol.errors import AddressError
from rpccli.config_values import TLS_VERSIONS, Doc, choice, number, strings
from rpccli.errors import ConfigError
from rpccli.number_rules import BUFFER_SIZE, SECONDS, SIZE, BadNumber
from rpccli.paths import config_path, default_config_text

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_NODE_WORD",
    "FORBIDDEN_IN_NAMES",
    "MODES",
    "OUTPUTS",
    "Config",
    "Defaults",
    "NodeSpec",
    "Profile",
    "load_config",
]

MODES = ("packet", "raw")
OUTPUTS = ("auto", "bytes", "pretty", "json")
#: the node word that means "the default node" (RPCCLI_NODE, else [defaults] node)
DEFAULT_NODE_WORD = "."

#: what a profile name may not hold, and so what tells a node from a name (rpccli.node_words);
#: compiled on first use (re caches it): only a config file or a bad node word needs it
FORBIDDEN_IN_NAMES = r"[\s:/,@\[\]]"


# NamedTuples, not dataclasses: a frozen dataclass costs about 0.5 ms to define at import, and
# this module is on the path of every `rpccli call`


class Defaults(NamedTuple):
    timeout: float = 4.0
    connect_timeout: float | None = None
    mode: str = "packet"
    output: str = "auto"
    max_response: int = 64 * 1024 * 1024
    node: str | None = None
    strategy: str = "first"
    buffer_size: int | None = None


class Profile(NamedTuple):
    name: str
    addresses: list[str]
    strategy: str = "first"
    functions: list[str] = []  # noqa: RUF012 -- never mutated; _profile always passes its own
    list_function: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    mode: str | None = None
    buffer_size: int | None = None
    #: TLS (docs/tls.md): cacert, cert, key, server_name, tls_max (str) and insecure (bool)
    tls: dict[str, Any] = {}  # noqa: RUF012 -- never mutated


class Config(NamedTuple):
    path: os.PathLike[str] | None = None  # a pathlib.Path (pathlib is not imported for the type)
    defaults: Defaults = Defaults()
    profiles: dict[str, Profile] = {}  # noqa: RUF012 -- never mutated
    #: the whole parsed document, for tables other modules own (e.g. [shell])
    raw: dict[str, Any] = {}  # noqa: RUF012 -- never mutated


class NodeSpec(NamedTuple):
    """What a node word on the command line stands for."""

    label: str  # as the user wrote it (or the default it came from)
    addresses: list[str]
    strategy: str | None = None  # the profile's strategy, when one profile was named
    profile: Profile | None = None

    @property
    def single(self) -> bool:
        return len(self.addresses) == 1


def _strategies() -> tuple[str, ...]:
    from protocol import STRATEGIES  # protocol.nodes: only for a file that names a strategy

    return STRATEGIES


def _defaults(doc: Doc, data: object) -> Defaults:
    table = "defaults"
    if not isinstance(data, dict):
        raise doc.error("[defaults] must be a table", table)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("timeout", "connect_timeout"):
            values[key] = number(doc, table, key, value)
        elif key == "mode":
            values[key] = choice(doc, table, key, value, MODES)
        elif key == "output":
            values[key] = choice(doc, table, key, value, OUTPUTS)
        elif key == "json":
            if not isinstance(value, bool):
                raise doc.error("json must be true or false", table, key)
            if value:
                values["output"] = "json"
        elif key == "max_response":
            values[key] = number(doc, table, key, value, SIZE)
        elif key == "buffer_size":
            values[key] = number(doc, table, key, value, BUFFER_SIZE)
        elif key == "node":
            if not isinstance(value, str) or not value.strip():
                raise doc.error("node must be a non-empty string", table, key)
            values[key] = value
        elif key == "strategy":
            values[key] = choice(doc, table, key, value, _strategies())
        else:
            raise doc.error(f"unknown key {key!r} in [defaults]", table, key)
    return Defaults(**values)


_PROFILE_KEYS = frozenset(
    {
        "address",
        "strategy",
        "functions",
        "list_function",
        "timeout",
        "connect_timeout",
        "mode",
        "buffer_size",
    }
)
_TLS_KEYS = frozenset({"cacert", "cert", "key", "server_name", "insecure", "tls_max"})


def _profile(doc: Doc, name: str, data: object) -> Profile:
    table = f"nodes.{name}"
    if re.search(FORBIDDEN_IN_NAMES, name) or not name or name == DEFAULT_NODE_WORD:
        raise doc.error(
            f"profile name {name!r} may not contain spaces or any of : / , @ [ ]", table
        )
    if not isinstance(data, dict):
        raise doc.error(f"[nodes.{name}] must be a table", table)
    values: dict[str, Any] = {}
    for key in data:
        if key not in _PROFILE_KEYS | _TLS_KEYS:  # a typo ("adress") says so, not "has no address"
            raise doc.error(f"unknown key {key!r} in [nodes.{name}]", table, key)
    if "address" not in data:
        raise doc.error(f"profile {name!r} has no address", table)
    for key, value in data.items():
        if key == "address":
            addresses = strings(doc, table, key, value)
            from protocol import parse_addresses  # on first use: a TAB may need none

            try:
                parsed = [a for text in addresses for a in parse_addresses(text)]
            except AddressError as exc:
                raise doc.error(str(exc), table, key) from None
            if not parsed:
                raise doc.error(f"profile {name!r} has an empty address list", table, key)
            values["addresses"] = [str(a) for a in parsed]
        elif key == "strategy":
            values[key] = choice(doc, table, key, value, _strategies())
        elif key == "functions":
            values[key] = strings(doc, table, key, value)
        elif key == "list_function":
            if not isinstance(value, str) or not value:
                raise doc.error("list_function must be a function name", table, key)
            values[key] = value
        elif key in ("timeout", "connect_timeout"):
            values[key] = number(doc, table, key, value)
        elif key == "mode":
            values[key] = choice(doc, table, key, value, MODES)
        elif key == "buffer_size":
            values[key] = number(doc, table, key, value, BUFFER_SIZE)
        elif key == "insecure":
            if not isinstance(value, bool):
                raise doc.error("insecure must be true or false", table, key)
            values.setdefault("tls", {})[key] = value
        elif key == "tls_max":
            values.setdefault("tls", {})[key] = choice(doc, table, key, value, TLS_VERSIONS)
        elif key in _TLS_KEYS:
            if not isinstance(value, str) or not value:
                raise doc.error(
                    f"{key} must be a file name"
                    if key != "server_name"
                    else "server_name must be a host name",
                    table,
                    key,
                )
            values.setdefault("tls", {})[key] = value
        else:
            raise doc.error(f"unknown key {key!r} in [nodes.{name}]", table, key)
    values.setdefault("functions", [])
    return Profile(name=name, **values)


def _env_timeout(defaults: Defaults) -> Defaults:
    text = os.environ.get("RPCCLI_TIMEOUT", "").strip()
    if not text:
        return defaults
    try:
        return defaults._replace(timeout=SECONDS.check(text, "RPCCLI_TIMEOUT"))
    except BadNumber as exc:
        raise ConfigError(str(exc)) from None


def load_config(path: "Path | str | None" = None) -> Config:
    """Read the config file (``config_path()`` by default) and apply RPCCLI_TIMEOUT.

    A missing file is an empty config, except one named explicitly by ``RPCCLI_CONFIG`` or
    ``path``: that must exist, so a typo in the name is not silently ignored.
    """
    explicit = path is not None or bool(os.environ.get("RPCCLI_CONFIG"))
    if not explicit:
        # the usual case, often without a file: looked for without importing pathlib (it and
        # what it imports are a tenth of a cold call, docs/design.md#start-up); the same file
        # as config_path(), which names it when it is there
        try:
            with open(default_config_text(), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return Config(path=None, defaults=_env_timeout(Defaults()))
        except OSError as exc:
            raise ConfigError(
                f"cannot read config file {config_path()}: {exc.strerror or exc}"
            ) from None
        return _parse(config_path(), data)
    from pathlib import Path

    file = Path(path).expanduser() if path is not None else config_path()
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    return _parse(file, data)


#: the last file parsed: (path, its bytes) -> (defaults, profiles, document). A command reads the
#: config more than once (the call's parser, then its settings); a profile of 10,000 nodes
#: costs 0.1 s to parse, so the same bytes are parsed once
_PARSED: dict[tuple[str, bytes], tuple[Defaults, dict[str, Profile], dict[str, Any]]] = {}


def _parse(file: "Path", data: bytes) -> Config:
    key = (str(file), data)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _parse_document(file, data)
        _PARSED.clear()
        _PARSED[key] = parsed
    defaults, profiles, doc_data = parsed
    return Config(path=file, defaults=_env_timeout(defaults), profiles=profiles, raw=doc_data)


def _parse_document(
    file: "Path", data: bytes
) -> tuple[Defaults, dict[str, Profile], dict[str, Any]]:
    import tomllib  # only when there is a file to read: keeps the call path light

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"bad config file {file}: not UTF-8 text") from None
    try:
        doc_data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line L, column C)": move the position to the front
        message = str(exc)
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if found:
            reason = message[: found.start()]
            raise ConfigError(
                f"bad config file {file}, line {found.group(1)}, column {found.group(2)}: "
                f"{reason[:1].lower()}{reason[1:]}"
            ) from None
        raise ConfigError(f"bad config file {file}: {message}") from None
    doc = Doc(file, text)
    defaults = _defaults(doc, doc_data.get("defaults", {}))
    nodes = doc_data.get("nodes", {})
    if not isinstance(nodes, dict):
        raise doc.error("nodes must be a table of [nodes.NAME] profiles", "nodes")
    profiles = {name: _profile(doc, name, value) for name, value in nodes.items()}
    return defaults, profiles, doc_data
