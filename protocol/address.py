"""Node addresses: parse every form of the node syntax and print it back.

Forms (docs/design.md#nodes): ``HOST:PORT`` (DNS name or IPv4 literal), ``[IPV6]:PORT``, ``:PORT``
(127.0.0.1), a unix socket path containing ``/`` (``/run/app.sock``, ``./app.sock``),
``unix:PATH``, and ``@NAME`` for a Linux abstract socket; ``tls:HOST:PORT`` (or nginx's
``suwsgi://HOST:PORT``) is TCP inside TLS (docs/tls.md). Parsing does no IO; resolving a DNS
name happens when connecting.
"""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING, Literal

from .errors import AddressError
from .record import Record

if TYPE_CHECKING:
    from ipaddress import IPv6Address

__all__ = ["Address", "parse_address", "parse_addresses"]

Kind = Literal["tcp", "unix", "abstract"]

_FORMS = (
    "HOST:PORT, [IPV6]:PORT, :PORT, tls:HOST:PORT, a socket path with a '/', unix:PATH or @NAME"
)


class Address(Record):
    """One node. ``host``/``port`` for tcp, ``path`` for unix, ``name`` (no '@') for abstract.
    A frozen value, as a frozen dataclass (protocol.record)."""

    __match_args__ = ("kind", "host", "port", "path", "tls")
    __slots__ = __match_args__
    kind: Kind
    host: str
    port: int
    path: str
    tls: bool  # TCP inside TLS (docs/tls.md)

    def __init__(
        self, kind: Kind, host: str = "", port: int = 0, path: str = "", tls: bool = False
    ) -> None:
        init = object.__setattr__
        init(self, "kind", kind)
        init(self, "host", host)
        init(self, "port", port)
        init(self, "path", path)
        init(self, "tls", tls)

    def __str__(self) -> str:
        if self.kind == "tcp":
            text = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
            return f"tls:{text}" if self.tls else text
        if self.kind == "abstract":
            return f"@{self.path}"
        return self.path if "/" in self.path else f"unix:{self.path}"

    @property
    def is_literal(self) -> bool:
        """True when connecting needs no DNS lookup (an IP literal or a socket)."""
        if self.kind != "tcp":
            return True
        return _ipv4_octets(self.host) is not None or _ipv6(self.host) is not None

    @property
    def is_loopback(self) -> bool:
        """True for sockets and loopback IPs; names other than 'localhost' are not resolved."""
        if self.kind != "tcp":
            return True
        if self.host == "localhost":
            return True
        octets = _ipv4_octets(self.host)
        if octets is not None:
            return octets[0] == "127"  # 127.0.0.0/8, as ipaddress says
        ipv6 = _ipv6(self.host)
        return ipv6 is not None and ipv6.is_loopback

    @property
    def family(self) -> socket.AddressFamily:
        if self.kind != "tcp":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def sockaddr(self) -> str | bytes | tuple[str, int]:
        """What ``socket.connect``/``bind`` take, for literals and sockets (no DNS).

        uWSGI binds and connects ``@NAME`` with the C string's trailing NUL counted in the
        address length, so its abstract names end in a NUL byte (``ss -xl`` shows ``@NAME@``);
        this is that form, which makes us reachable by (and able to reach) uWSGI.
        """
        if self.kind == "unix":
            return self.path
        if self.kind == "abstract":
            return b"\0" + self.path.encode("utf-8", "surrogateescape") + b"\0"
        return (self.host, self.port)

    @property
    def sockaddrs(self) -> list[str | bytes | tuple[str, int]]:
        """Every address worth a connect, best first: an abstract name is also tried without
        uWSGI's trailing NUL, the way most other programs bind it."""
        first = self.sockaddr
        if self.kind == "abstract":
            assert isinstance(first, bytes)
            return [first, first[:-1]]
        return [first]


def _ipv4_octets(host: str) -> list[str] | None:
    """The four octets of ``host`` when it is an IPv4 literal, exactly as ipaddress accepts one
    (four decimal octets 0..255, ASCII digits, no leading zero), else None. A host without ':'
    is no IPv6 address either, so the common nodes are told apart without importing ipaddress
    on every call (docs/design.md#start-up)."""
    octets = host.split(".")
    if len(octets) != 4:
        return None
    for octet in octets:
        if not (0 < len(octet) <= 3 and octet.isascii() and octet.isdigit()):
            return None
        if (octet[0] == "0" and len(octet) > 1) or int(octet) > 255:
            return None
    return octets


def _ipv6(host: str) -> IPv6Address | None:
    """``host`` as an ipaddress.IPv6Address (a %scope suffix accepted), else None."""
    if ":" not in host:  # every IPv6 literal has one: no import for names and IPv4
        return None
    import ipaddress

    try:
        return ipaddress.IPv6Address(host)
    except ValueError:
        return None


#: sun_path is 108 bytes on Linux: a path needs a NUL after it, an abstract name (uWSGI style)
#: a NUL before and after it
MAX_SOCKET_PATH = 107
MAX_ABSTRACT_NAME = 106


def _port(text: str, node: str) -> int:
    # isascii: str.isdigit() also accepts digits such as '²' that int() rejects
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 0 < int(text) < 65536:
        raise AddressError(f"bad port in node {node!r}: want a number from 1 to 65535")
    return int(text)


def parse_address(node: str, *, group: str = "") -> Address:
    """Parse one node string; raises :class:`AddressError` with the accepted forms (and, for a
    comma, ``group``: where several nodes go instead)."""
    text = node.strip()
    if not text:
        raise AddressError(f"empty node; use {_FORMS}")
    lowered = text[:9].lower()
    if lowered.startswith(("tls:", "suwsgi://")):
        rest = text[4:] if lowered.startswith("tls:") else text[9:].removesuffix("/")
        inner = parse_address(rest) if rest.strip() else None
        if inner is None or inner.kind != "tcp" or inner.tls:
            raise AddressError(f"bad node {node!r}: TLS goes over TCP; use tls:HOST:PORT")
        return Address("tcp", host=inner.host, port=inner.port, tls=True)
    if text.startswith("@"):
        if len(text) == 1:
            raise AddressError("abstract socket name is empty after '@'")
        return Address("abstract", path=_socket_path(text[1:], node, MAX_ABSTRACT_NAME))
    if text.startswith("unix:"):
        if len(text) == 5:
            raise AddressError("unix socket path is empty after 'unix:'")
        return Address("unix", path=_socket_path(text[5:], node))
    _refuse_urls(text, node)
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise AddressError(f"bad node {node!r}: write IPv6 as [ADDRESS]:PORT")
        if _ipv6(host) is None:  # a %scope suffix is accepted (fe80::1%eth0)
            raise AddressError(f"bad IPv6 address in node {node!r}")
        return Address("tcp", host=host, port=_port(port, node))
    if "/" in text:
        return Address("unix", path=_socket_path(text, node))
    if "," in text:
        also = f"; {group}" if group else ""
        raise AddressError(f"bad node {node!r}: a comma separates the nodes of a group{also}")
    host, sep, port = text.rpartition(":")
    if not sep:
        raise AddressError(f"not a node: {node!r}; use {_FORMS}")
    if ":" in host:
        raise AddressError(f"bad node {node!r}: write IPv6 in brackets, as [ADDRESS]:PORT")
    if not host:
        host = "127.0.0.1"
    elif not _valid_host(host):
        raise AddressError(f"bad host {host!r} in node {node!r}")
    return Address("tcp", host=host, port=_port(port, node))


#: HOST:PORT or [IPV6]:PORT followed by a path: a URL without its scheme. The patterns of this
#: module are compiled on first use (re caches them): a node such as 127.0.0.1:3031 needs
#: neither, and each compile costs a cold call 0.3M instructions (docs/design.md#start-up)
_HOST_PORT_PATH = r"(\[[^\]]*\]|[^/:\[]*):\d+/"


def _refuse_urls(text: str, node: str) -> None:
    """A URL or ``HOST:PORT/path`` is never a sane socket path, but would parse as one (it has a
    '/'): say what is wrong before anything connects. ``unix:PATH`` still forces a path."""
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        what = "HTTP" if scheme in ("http", "https") else "URLs"
        raise AddressError(
            f"bad node {node!r}: rpccli speaks the uwsgi protocol, not {what}; use HOST:PORT "
            "(or unix:PATH for a socket path)"
        )
    if "/" in text and re.match(_HOST_PORT_PATH, text):  # the pattern ends in a "/"
        raise AddressError(
            f"bad node {node!r}: a node has no path; use HOST:PORT (or unix:PATH for a socket path)"
        )


def _socket_path(path: str, node: str, limit: int = MAX_SOCKET_PATH) -> str:
    if len(path.encode("utf-8", "surrogateescape")) > limit:
        raise AddressError(f"socket path in node {node!r} is over {limit} bytes, the system limit")
    if "\0" in path:
        raise AddressError(f"socket path in node {node!r} contains a NUL byte")
    return path


#: what an (IDNA-encoded) host name may hold: ASCII letters and digits, '-', '.', '_'
_HOST_CHARS = r"[A-Za-z0-9._-]*"


def _valid_host(host: str) -> bool:
    if _ipv4_octets(host) is not None:
        return True  # passes every test below; no regex compiled for it
    if host.isascii():
        # what the IDNA codec does to an ASCII name, without importing it (and unicodedata) on
        # every call: the name as is, each label but the last 1-63 bytes, the last under 64
        ascii_host = host
        labels = host.split(".")
        if any(not 0 < len(label) < 64 for label in labels[:-1]) or len(labels[-1]) >= 64:
            return False
    else:
        try:
            # internationalised names are fine; what matters is their ASCII (IDNA) form
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    if len(ascii_host) > 253 or ascii_host.startswith(("-", ".")) or ".." in ascii_host:
        return False
    return re.fullmatch(_HOST_CHARS, ascii_host) is not None  # one regex, not a test per char


def parse_addresses(nodes: str) -> list[Address]:
    """Parse a comma-separated node group (a single node gives a list of one)."""
    parts = [p for p in (part.strip() for part in nodes.split(",")) if p]
    if not parts:
        raise AddressError(f"empty node; use {_FORMS}")
    return [parse_address(part) for part in parts]
