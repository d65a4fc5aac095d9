"""Every form of the node syntax (docs/design.md#nodes): parsed, printed back, or refused
clearly."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.address import Address, parse_address, parse_addresses
from protocol.errors import AddressError, UsageError

GOOD = [
    # (node, Address, str())
    ("127.0.0.1:3031", Address("tcp", "127.0.0.1", 3031), "127.0.0.1:3031"),
    ("10.0.0.2:1", Address("tcp", "10.0.0.2", 1), "10.0.0.2:1"),
    ("localhost:65535", Address("tcp", "localhost", 65535), "localhost:65535"),
    ("app-1.example.com:80", Address("tcp", "app-1.example.com", 80), "app-1.example.com:80"),
    ("under_score.local.:80", Address("tcp", "under_score.local.", 80), "under_score.local.:80"),
    ("[::1]:3031", Address("tcp", "::1", 3031), "[::1]:3031"),
    ("[2001:db8::7]:9", Address("tcp", "2001:db8::7", 9), "[2001:db8::7]:9"),
    ("[fe80::1%lo]:3031", Address("tcp", "fe80::1%lo", 3031), "[fe80::1%lo]:3031"),
    (":3031", Address("tcp", "127.0.0.1", 3031), "127.0.0.1:3031"),
    ("/run/app.sock", Address("unix", path="/run/app.sock"), "/run/app.sock"),
    ("./app.sock", Address("unix", path="./app.sock"), "./app.sock"),
    ("sub/app.sock", Address("unix", path="sub/app.sock"), "sub/app.sock"),
    ("unix:app.sock", Address("unix", path="app.sock"), "unix:app.sock"),
    ("unix:/run/a.sock", Address("unix", path="/run/a.sock"), "/run/a.sock"),
    ("unix:a:b", Address("unix", path="a:b"), "unix:a:b"),
    ("@uwsgi", Address("abstract", path="uwsgi"), "@uwsgi"),
    ("@with/slash:1", Address("abstract", path="with/slash:1"), "@with/slash:1"),
    ("  127.0.0.1:3031 ", Address("tcp", "127.0.0.1", 3031), "127.0.0.1:3031"),
]


@pytest.mark.parametrize(("node", "address", "text"), GOOD)
def test_every_form_parses_and_prints_back(node: str, address: Address, text: str) -> None:
    parsed = parse_address(node)
    assert parsed == address
    assert str(parsed) == text
    assert parse_address(str(parsed)) == parsed  # str() is a node again


def test_properties_for_connecting() -> None:
    v4, v6, name = parse_address(":1"), parse_address("[::1]:1"), parse_address("example.org:1")
    unix, abstract = parse_address("/a.sock"), parse_address("@a")
    assert (v4.family, v6.family, unix.family) == (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)
    assert v4.sockaddr == ("127.0.0.1", 1) and unix.sockaddr == "/a.sock"
    assert abstract.sockaddr == b"\0a\0"  # uWSGI's form: the trailing NUL is part of the name
    assert abstract.sockaddrs == [b"\0a\0", b"\0a"]
    assert v4.sockaddrs == [v4.sockaddr]
    assert v4.is_literal and v6.is_literal and unix.is_literal and not name.is_literal
    assert v4.is_loopback and parse_address("localhost:1").is_loopback
    assert not name.is_loopback and not parse_address("10.0.0.2:1").is_loopback


def _by_ipaddress(host: str) -> tuple[bool, bool]:
    # what is_literal and is_loopback said when they asked ipaddress for every host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False, host == "localhost"
    return True, ip.is_loopback


TRICKY_HOSTS = [
    "127.0.0.1",
    "127.255.255.255",
    "128.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3.0",
    "0.0.0.00",
    "1.2.3",
    "1.2.3.4.5",
    "1..3.4",
    "1.2.3.4.",
    "1.2.3.+4",
    "1.2.3. 4",
    "1.2.3.\u0664",
    "1.2.3.\u00b2",
    "1234.1.1.1",
    "localhost",
    "::1",
    "::ffff:127.0.0.1",
    "fe80::1%lo",
    "2001:db8::7",
    "1:2",
    "::",
    "example.org",
    "",
]


@pytest.mark.parametrize("host", TRICKY_HOSTS)
def test_literal_and_loopback_agree_with_ipaddress(host: str) -> None:
    # they tell IPv4 apart without importing ipaddress (docs/design.md#start-up)
    address = Address("tcp", host, 1)
    assert (address.is_literal, address.is_loopback) == _by_ipaddress(host)


@given(st.text(alphabet="0123456789.:af%x\u0664 ", max_size=18))
def test_literal_and_loopback_agree_with_ipaddress_on_any_host(host: str) -> None:
    address = Address("tcp", host, 1)
    assert (address.is_literal, address.is_loopback) == _by_ipaddress(host)


def test_comma_groups() -> None:
    group = parse_addresses("127.0.0.1:1, [::1]:2,/a.sock,@b,unix:c, ")
    assert [str(a) for a in group] == ["127.0.0.1:1", "[::1]:2", "/a.sock", "@b", "unix:c"]
    assert parse_addresses(":5") == [Address("tcp", "127.0.0.1", 5)]
    with pytest.raises(AddressError, match="empty node"):
        parse_addresses(" , ,")
    with pytest.raises(AddressError, match="bad port"):
        parse_addresses("127.0.0.1:1,127.0.0.1:0")


BAD = [
    ("", "empty node"),
    ("   ", "empty node"),
    ("localhost", "not a node"),
    ("app.sock", "not a node"),
    ("127.0.0.1:", "bad port"),
    ("127.0.0.1:0", "bad port"),
    ("127.0.0.1:65536", "bad port"),
    ("127.0.0.1:abc", "bad port"),
    ("127.0.0.1:-1", "bad port"),
    ("127.0.0.1:+80", "bad port"),
    ("127.0.0.1:\u00b2", "bad port"),
    ("127.0.0.1:000000080", "bad port"),
    (":", "bad port"),
    ("::1:3031", "write IPv6 in brackets"),
    ("fe80::1", "write IPv6 in brackets"),
    ("[::1]", "write IPv6 as [ADDRESS]:PORT"),
    ("[::1]:", "bad port"),
    ("[::1]:0", "bad port"),
    ("[not-v6]:80", "bad IPv6 address"),
    ("[1.2.3.4]:80", "bad IPv6 address"),
    ("@", "empty after '@'"),
    ("unix:", "empty after 'unix:'"),
    ("bad host:80", "bad host"),
    ("a$b:80", "bad host"),
    ("-lead:80", "bad host"),
    (".lead:80", "bad host"),
    ("a..b:80", "bad host"),
    ("a:1,b:2", "a comma separates"),
    ("/" + "p" * 107, "over 107 bytes"),
    ("@" + "n" * 107, "over 106 bytes"),
    ("unix:/a\0b", "NUL"),
]


@pytest.mark.parametrize(("node", "fragment"), BAD)
def test_bad_nodes_give_one_clear_address_error(node: str, fragment: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(node)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert isinstance(info.value, UsageError) and isinstance(info.value, ValueError)


def test_socket_path_at_the_system_limit() -> None:
    assert parse_address("/" + "p" * 106).path == "/" + "p" * 106
    assert parse_address("@" + "n" * 106).path == "n" * 106
