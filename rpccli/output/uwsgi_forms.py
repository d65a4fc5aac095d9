"""The uWSGI side of ``--explain``: the same call as uWSGI's ``rpc`` hook and as its internal
routing action, in the exact text a user can paste (docs/protocol.md#other-clients).

Each form is printed only when these exact arguments survive uWSGI's parsing, as checked on real
uWSGI 2.0.21 (tests/interop/test_explain_uwsgi.py); otherwise one comment line says why.

- ``--hook-asap 'rpc:FUNC@NODE ARG ...'``: the value is split on spaces with quotes and
  backslashes honoured, so an item with spaces or quotes is written in double quotes with ``\\``
  before ``"``, ``\\`` and ``(`` -- the last keeps ``$(VAR)`` (an environment variable) and
  ``@(FILE)`` (a file's content), which uWSGI expands in every option value, from being expanded.
  The result goes to uWSGI's log: ``[rpc result from "FUNC@NODE"] RESULT``.
- ``--route-run 'rpc:FUNC@NODE ARG ...'``: the value is split on single spaces with no quoting,
  and ``$`` starts a routing variable (``${VAR}``, ``$1``): an item with a space, a tab or a
  ``$`` cannot be written. The result becomes the HTTP response body.
- In an ini file the same values follow ``hook-asap =`` / ``route-run =``, with ``%`` doubled
  (``%d`` and the like are ini magic variables).

Both take one node: an IPv4 literal with its port, a unix socket path or ``@NAME`` (no DNS, no
IPv6), and cut ``FUNC@NODE`` at the first ``@``, so a function name holding ``@`` cannot be
written. No form holds a NUL (uWSGI reads C strings), a control character or bytes that are not
UTF-8 (never printed raw).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from protocol import parse_address
from protocol.errors import AddressError

__all__ = ["uwsgi_forms"]

_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,:/=+%@-")


def _text(data: bytes) -> str | None:
    """``data`` as printable text, or None when it has no printable form here."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text and text.isprintable() else None


def _node(node: str) -> tuple[str | None, str]:
    """The node as uWSGI's rpc client names it, or None and why not."""
    try:
        address = parse_address(node)
    except AddressError:
        return None, "not a node uWSGI can name"
    if not address.path.isprintable():
        return None, "the node holds a control or format character, which no form can hold"
    if address.kind == "abstract":
        return f"@{address.path}", ""
    if address.kind == "unix":
        if ":" in address.path:
            return None, "a socket path with ':' reads as HOST:PORT there"
        return address.path, ""
    if not address.is_literal or ":" in address.host:
        return None, "uWSGI's rpc client takes IPv4 literals only (no DNS names, no IPv6)"
    return f"{address.host}:{address.port}", ""


def _hook_item(text: str) -> str:
    if all(c in _PLAIN for c in text):
        return text
    escaped = "".join("\\" + c if c in '"\\(' else c for c in text)
    return f'"{escaped}"'


def _route_obstacle(items: Sequence[str]) -> str:
    for index, item in enumerate(items):
        what = "the function and node" if index == 0 else f"argument {index}"
        if " " in item:
            return f"{what} holds a space, and routing splits on spaces with no quoting"
        if "$" in item:
            return f"{what} holds '$', which starts a routing variable (${{VAR}}, $1)"
        if "@(" in item:
            return f"{what} holds '@(', which uWSGI expands as a file's content"
    return ""


def _ini(key: str, value: str) -> str:
    return f"{key} = {value.replace('%', '%%')}"


def uwsgi_forms(node: str, function: bytes, args: Sequence[bytes], *, one: str = "") -> str:
    """The comment-led lines of the uWSGI forms for one call (``one``: a note that only the
    first node of a group is named)."""
    target, why = _node(node)
    texts = [_text(item) for item in (function, *args)]
    header = f"# the same call from uWSGI's own config{one}:"
    if target is None:
        return f"{header}\n# no uWSGI form: {why}"
    bad = next((i for i, t in enumerate(texts) if t is None), None)
    if bad is not None:
        what = "the function name" if bad == 0 else f"argument {bad}"
        return (
            f"{header}\n# no uWSGI form: {what} is empty, holds a control character or is "
            "not UTF-8 text, which uWSGI's config cannot hold"
        )
    name, words = texts[0] or "", [t or "" for t in texts[1:]]
    if "@" in name:
        return f"{header}\n# no uWSGI form: uWSGI cuts FUNC@NODE at the first '@' of the name"
    hook = " ".join(_hook_item(item) for item in [f"{name}@{target}", *words])
    lines = [
        header,
        "# at startup; the result goes to uWSGI's log as [rpc result from ...]",
        f"--hook-asap {shlex.quote('rpc:' + hook)}",
        _ini("hook-asap", f"rpc:{hook}"),
    ]
    obstacle = _route_obstacle([f"{name}@{target}", *words])
    if obstacle:
        lines.append(f"# no internal-routing form: {obstacle}")
    else:
        route = " ".join([f"rpc:{name}@{target}", *words])
        lines += [
            "# on every request, the result as the HTTP response body (needs --plugins rpc;",
            "# any route makes uWSGI parse uwsgi-socket requests as vars: RPC calls with an",
            "# even number of arguments then fail there)",
            f"--route-run {shlex.quote(route)}",
            _ini("route-run", route),
        ]
    return "\n".join(lines)
