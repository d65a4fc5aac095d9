"""A node word of the command line made nodes (docs/design.md#nodes): ``.`` or nothing
for the default node (``RPCCLI_NODE``, else the config's), a profile, a node, or a comma group of
those; and the one-line error for a word that is none of them, with the near miss it may be."""

from __future__ import annotations

import os
import re

from protocol.errors import AddressError
from rpccli.config import DEFAULT_NODE_WORD, FORBIDDEN_IN_NAMES, Config, NodeSpec

__all__ = ["default_node_text", "is_node_word", "resolve_nodes"]


def default_node_text(config: Config | None) -> str | None:
    """The default node: ``RPCCLI_NODE``, else ``node`` under [defaults] (when the config could
    be read)."""
    env = os.environ.get("RPCCLI_NODE", "").strip()
    if env or config is None:
        return env or None
    return config.defaults.node


def resolve_nodes(text: str | None, config: Config) -> NodeSpec:
    """Turn a node word (a node, a comma group, a profile, or None/"." for the default)."""
    if text is None or text.strip() == DEFAULT_NODE_WORD:
        default = default_node_text(config)
        if not default:
            raise AddressError(
                "no node given: name one (HOST:PORT, :PORT, a socket path, @NAME or a profile) "
                "or set RPCCLI_NODE"
            )
        if default.strip() == DEFAULT_NODE_WORD:
            raise AddressError("RPCCLI_NODE may not be '.'")
        return resolve_nodes(default, config)
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise AddressError("empty node; use HOST:PORT, :PORT, a socket path, @NAME or a profile")
    from protocol import parse_addresses  # on first use: a TAB may need none

    addresses: list[str] = []
    profiles = [config.profiles.get(part) for part in parts]
    for part, profile in zip(parts, profiles, strict=True):
        if profile is not None:
            found = profile.addresses
        else:
            try:
                found = [str(a) for a in parse_addresses(part)]
            except AddressError as exc:
                if _looks_like_name(part):
                    raise AddressError(_unknown_node(part, config)) from None
                raise exc from None
        addresses += [a for a in found if a not in addresses]
    single = profiles[0] if len(parts) == 1 else None
    return NodeSpec(
        label=text.strip(),
        addresses=addresses,
        strategy=single.strategy if single else None,
        profile=single,
    )


def is_node_word(text: str, config: Config) -> bool:
    """True when ``text`` names a node: ``.``, a profile, a node, a group of those -- or a URL,
    which is no node but is meant as one (resolving it gives the error that says so)."""
    from protocol import parse_address

    if text.strip() == DEFAULT_NODE_WORD or "://" in text:
        return True
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        return False
    for part in parts:
        if part in config.profiles:
            continue
        try:
            parse_address(part)
        except AddressError:
            return False
    return True


def _unknown_node(part: str, config: Config) -> str:
    where = f"in {config.path}" if config.path else "(no config file)"
    known = ", ".join(sorted(config.profiles))
    profiles = f"no profile of that name {where}" + (f" (profiles: {known})" if known else "")
    message = f"unknown node {part!r}: not HOST:PORT, :PORT, a socket path or @NAME, and {profiles}"
    from rpccli.nearmiss import near_node

    meant = near_node(part, config.profiles)
    if meant and meant not in config.profiles:  # a profile typo: the list above shows it
        message += f"; did you mean {meant}?"
    elif os.path.exists(part):
        message += f"; did you mean ./{part}?"
    return message


def _looks_like_name(part: str) -> bool:
    return not re.search(FORBIDDEN_IN_NAMES, part)
