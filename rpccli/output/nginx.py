"""The nginx ``location`` block that ``--explain`` prints for a call: nginx config tokens that
stand for exactly the call's bytes, an ``upstream`` for a node group, the ``uwsgi_ssl_*`` lines
for TLS, and a refusal for what nginx config cannot hold (docs/protocol.md#other-clients).
Pure functions from the call to text (no IO).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from protocol import Address, parse_address
from rpccli.errors import InputError

__all__ = ["DOLLAR_GEO", "DOLLAR_VARIABLE", "nginx_location"]

#: nginx's config parser turns these escapes back into the characters (and no others)
_NGINX_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\r": "\\r", "\n": "\\n"}
#: the helper variable that stands for a literal '$' in a value (see nginx_location)
DOLLAR_VARIABLE = "rpccli_dollar"
DOLLAR_GEO = f'geo ${DOLLAR_VARIABLE} {{ default "$"; }}'


def _nginx_string(data: bytes, *, value: bool) -> str:
    """One nginx config token that stands for exactly ``data``.

    Keys of ``uwsgi_param`` (and the location path) are literal; values are complex values in
    which ``$`` starts a variable, and nginx has no escape for it: a literal ``$`` in a value
    is written as the helper variable ``${rpccli_dollar}`` (a ``geo`` at http level)."""
    text = data.decode("utf-8", "surrogateescape")
    if text and all(c.isalnum() or c in "_-./:@" for c in text):
        return text
    escaped = "".join(_NGINX_ESCAPES.get(c, c) for c in text)
    if value:
        escaped = escaped.replace("$", "${" + DOLLAR_VARIABLE + "}")
    return f'"{escaped}"'


def _nginx_obstacle(data: bytes) -> str | None:
    """Why ``data`` is not written into the printed nginx config, or None.

    nginx's config syntax has escapes only for the tab, CR and LF (and quotes, backslash). A NUL,
    another control character or a byte that is not UTF-8 could only be written RAW -- real
    nginx does pass such raw bytes on -- but raw, they would corrupt the terminal showing the
    config and rarely survive copy and paste. So --explain never prints them."""
    why = "nginx config has no escape for it, and --explain writes no raw control bytes"
    if b"\0" in data:
        return f"contains a NUL byte (at offset {data.index(0)}): {why}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
            "nginx config has no escape for it, and --explain writes no raw bytes"
        )
    for offset, char in enumerate(text):
        code = ord(char)
        if (code < 32 and char not in "\t\r\n") or 0x7F <= code <= 0x9F:
            where = len(text[:offset].encode("utf-8"))
            return f"contains the control character {char!r} (at offset {where}): {why}"
    return None


#: bidi controls have no nginx escape and, printed raw, would reorder the config on the screen
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: how an ``upstream`` follows each rpccli strategy: lines inside it before the servers
_UPSTREAM_STRATEGY = {
    "first": ["    # -s first: the first node; the others (backup, in turn) only while it fails"],
    "round-robin": [],  # nginx's default
    "random": ["    random;"],
    "best": ["    # -s best: nginx's round-robin, which also skips a node that just failed"],
    "all": ["    # -s all calls every node; nginx sends each request to one of them"],
}


def _nginx_addresses(nodes: Sequence[str]) -> list[Address]:
    """The parsed nodes, refusing one whose text nginx config cannot hold (exit 2).

    Inside a quoted nginx string every character but the quote and backslash is literal (and
    those two are escaped), so ';', '{', '#', spaces and quotes in a socket path cannot start
    another directive. What stays is text with no escape at all: raw control bytes, bytes that
    are not UTF-8 and bidi controls, which would garble or disguise the printed block."""
    addresses = []
    for node in nodes:
        address = parse_address(node)
        if address.kind == "unix":
            raw = address.path.encode("utf-8", "surrogateescape")
            why = _nginx_obstacle(raw)
            if why is None and _BIDI.intersection(address.path):
                char = min(_BIDI.intersection(address.path), key=address.path.index)
                why = f"contains the bidi control {char!r}: nginx config has no escape for it"
            if why is not None:
                # repr: the node is shown with its control and bidi characters escaped
                raise InputError(
                    f"--explain cannot write node {node!r} into nginx config: its path {why}"
                )
        elif "%" in address.host:
            raise InputError(
                f"--explain cannot write node {node!r} into nginx config: nginx reads no "
                "IPv6 scope (the '%' suffix); use the address without it"
            )
        addresses.append(address)
    return addresses


def _pass_text(address: Address) -> str:
    """The address as ``uwsgi_pass`` and ``server`` take it (unquoted)."""
    if address.kind == "unix":
        return f"unix:{address.path}"
    if ":" in address.host:
        return f"[{address.host}]:{address.port}"
    # nginx resolves names with the system resolver, which wants their ASCII (IDNA) form
    return f"{address.host.encode('idna').decode('ascii')}:{address.port}"


def _upstream(addresses: Sequence[Address], strategy: str) -> tuple[list[str], str]:
    """An ``upstream`` block naming every node of a group, and its name for ``uwsgi_pass``.

    In ``server`` a '$' is literal (nginx reads no variables there), so paths are only quoted.
    The name is a digest of the block: the same group and strategy always give the same name,
    it holds only [a-z0-9_], and two different blocks (pasted into one config) do not clash."""
    servers = [
        f"    server {_nginx_string(_pass_text(a).encode('utf-8'), value=False)}"
        f"{' backup' if strategy == 'first' and i else ''};"
        for i, a in enumerate(addresses)
    ]
    inside = [*_UPSTREAM_STRATEGY.get(strategy, []), *servers]
    name = "rpccli_" + hashlib.sha256("\n".join(inside).encode("utf-8")).hexdigest()[:12]
    return [f"upstream {name} {{", *inside, "}"], name


def nginx_location(
    node: str | Sequence[str],
    function: bytes,
    args: Iterable[bytes],
    *,
    strategy: str = "first",
    tls: Any = None,
) -> str:
    """The nginx ``location`` block that sends the same call (docs/protocol.md#other-clients).

    nginx writes each ``uwsgi_param K V`` as the two items K, V. An RPC needs an odd number of
    args to fill the pairs; otherwise one empty item pads them, and it must NOT be the last item:
    uWSGI rejects a request ending with an empty item and skips an empty one elsewhere
    (docs/protocol.md#empty-items).
    So the padding goes right after the function name (``uwsgi_param hello ""; uwsgi_param a
    b;``), or, with no args, first (``uwsgi_param "" hello;``; checked on real uWSGI 2.0.21).

    ``node`` may be a node group (several nodes): they become an ``upstream`` block. A node
    nginx cannot name raises :class:`InputError`; an abstract socket gives one comment line.
    """
    nodes = [node] if isinstance(node, str) else list(node)
    addresses = _nginx_addresses(nodes)
    abstract = [a for a in addresses if a.kind == "abstract"]
    if abstract:
        return (
            f"# nginx cannot reach abstract sockets ({str(abstract[0])!r}): no nginx block; "
            "bind the uWSGI socket to a path or a port for nginx"
        )
    items = [function, *args]
    obstacles = [
        f"# {'the function name' if i == 0 else f'argument {i}'} {why}"
        for i, why in enumerate(map(_nginx_obstacle, items))
        if why is not None
    ]
    if obstacles:
        # no block at all: one with a line left out would send a different call
        return "\n".join(["# no nginx block printed for this call:", *obstacles])
    if len(items) % 2:
        # [name, ""] would end with the empty item: with no args the padding goes first
        items = [b"", function] if len(items) == 1 else [function, b"", *items[1:]]
    pairs = list(zip(items[::2], items[1::2], strict=True))
    params = [
        f"    uwsgi_param {_nginx_string(k, value=False)} {_nginx_string(v, value=True)};"
        for k, v in pairs
    ]
    # nginx cannot write a literal '$' in a value: a helper variable at http level stands in
    dollar = "a value" if any(b"$" in v for _, v in pairs) else ""
    http: list[str] = []
    secure = [a for a in addresses if a.tls]
    if secure and len(secure) != len(addresses):
        return "# no nginx block: one uwsgi_pass is either suwsgi:// (TLS) or not; split the group"
    ssl = _nginx_tls(tls, secure[0]) if secure else []
    if len(addresses) == 1:
        scheme = "suwsgi://" if secure else ""
        target = _nginx_string((scheme + _pass_text(addresses[0])).encode("utf-8"), value=True)
        if "$" in addresses[0].path:
            # a '$' anywhere in uwsgi_pass makes nginx read the whole value as variables
            dollar = dollar or "the socket path"
    else:
        upstream, target = _upstream(addresses, strategy)
        target = f"suwsgi://{target}" if secure else target
        http = [*upstream, ""]
    if dollar:
        http = [
            f"# {dollar} holds '$', which nginx cannot write literally: put this at http level",
            "# (outside any server block), once:",
            DOLLAR_GEO,
            "",
            *http,
        ]
    elif http:
        http = ["# put this at http level (outside any server block), once:", *http]
    path = _nginx_string(b"/" + function.strip(b"/"), value=False)
    return "\n".join(
        [
            *http,
            f"location = {path} {{",
            "    # raw mode: nginx cannot read uwsgi-framed answers, so the function must",
            "    # return a complete HTTP response",
            "    uwsgi_modifier1 173;",
            "    uwsgi_modifier2 1;",
            "    # no HTTP headers or body as extra items: only the params below",
            "    uwsgi_pass_request_headers off;",
            "    uwsgi_pass_request_body off;",
            *params,
            *ssl,
            f"    uwsgi_pass {target};",
            "}",
        ]
    )


def _nginx_tls(tls: Any, address: Address) -> list[str]:
    """The ``uwsgi_ssl_*`` lines for ``suwsgi://`` with the same TLS settings (docs/tls.md)."""

    def quoted(text: str) -> str:
        return _nginx_string(text.encode("utf-8", "surrogateescape"), value=False)

    name = (tls.server_name if tls is not None else None) or address.host
    lines = ["    # TLS, as rpccli checks it: nginx verifies nothing unless told to"]
    if tls is not None and tls.insecure:
        lines.append("    uwsgi_ssl_verify off;")
    else:
        ca = tls.cacert if tls is not None and tls.cacert else "/etc/ssl/certs/ca-certificates.crt"
        if address.is_literal and not (tls is not None and tls.server_name):
            lines.append(
                "    # nginx checks host names only, never IP addresses: name one the "
                "certificate holds (--server-name)"
            )
        lines += [
            "    uwsgi_ssl_verify on;",
            f"    uwsgi_ssl_trusted_certificate {quoted(ca)};",
            f"    uwsgi_ssl_name {quoted(name)};",
        ]
    lines += ["    uwsgi_ssl_server_name on;", "    uwsgi_ssl_session_reuse on;"]
    if tls is not None and tls.tls_max == "1.2":
        lines.append("    uwsgi_ssl_protocols TLSv1.2;")
    if tls is not None and tls.cert:
        lines.append(f"    uwsgi_ssl_certificate {quoted(tls.cert)};")
        lines.append(f"    uwsgi_ssl_certificate_key {quoted(tls.key or tls.cert)};")
    return lines
