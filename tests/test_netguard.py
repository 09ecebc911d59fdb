"""Which hosts are public: every spelling the system's resolver reads as an address."""

from __future__ import annotations

import ipaddress
import random
import socket

import pytest

from pipeline.netguard import origin, parse_ip, refusal, source_origins


@pytest.mark.parametrize(("host", "address"), [
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0X7F000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0177.0000.0.01", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("[::1]", "::1"),
    ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ("[fe80::1%eth0]", "fe80::1%eth0"),
    ("example.com", None),
    ("127.0.0.1.example.com", None),
    ("0x7f.example", None),
    ("256.0.0.1", None),
    ("1.2.3.4.5", None),
    ("08.0.0.1", None),
    ("9" * 5000, None),  # int() would refuse 5000 digits; we never try
    ("", None),
])
def test_parse_ip_reads_what_resolvers_read(host: str, address: str | None) -> None:
    parsed = parse_ip(host)
    assert (str(parsed) if parsed is not None else None) == address


def test_parse_ip_agrees_with_the_system_inet_aton() -> None:
    """What the C library would connect to is what we check: on random numeric hosts,
    every address `inet_aton` reads (glibc's getaddrinfo reads numeric hosts with it),
    `parse_ip` reads the same."""
    rng = random.Random(12)
    for _ in range(20_000):
        parts = []
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.3:
                parts.append(str(rng.randint(0, 300)))
            elif kind < 0.5:
                parts.append("0" + oct(rng.randint(0, 300))[2:])
            elif kind < 0.7:
                parts.append(hex(rng.randint(0, 300)))
            elif kind < 0.85:
                parts.append(str(rng.randint(0, 2**32 + 5)))
            else:
                parts.append("".join(rng.choice("0189xa") for _ in range(rng.randint(1, 4))))
        host = ".".join(parts)
        try:
            system = str(ipaddress.IPv4Address(socket.inet_aton(host)))
        except OSError:
            system = None
        ours = parse_ip(host)
        if system is not None:
            assert str(ours) == system, host
        elif ours is not None and "0x" not in host.lower().split("."):
            # A bare "0x" is zero to the URL standard, not to inet_aton: read as 0.0.0.0,
            # such a host is refused, the safe side. Anything else must agree.
            pytest.fail(f"{host!r}: we read {ours}, the system reads no address")


@pytest.mark.parametrize(("address", "label"), [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("10.1.2.3", "private"),
    ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.0.1", "private"),
    ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"), ("100.64.0.1", "non-public"), ("::1", "loopback"),
    ("::", "unspecified"), ("fc00::1", "private"), ("fd12::1", "private"),
    ("fe80::1", "link-local"), ("ff02::1", "multicast"), ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"), ("64:ff9b::a00:1", "private"), ("::7f00:1", "loopback"),
    ("fec0::1", "private"),
    ("93.184.216.34", None), ("172.32.0.1", None), ("8.8.8.8", None),
    ("2606:4700::1111", None), ("::ffff:8.8.8.8", None),
])
def test_refusal_names_what_is_not_public(address: str, label: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == label


def test_origins_compare_host_and_port() -> None:
    assert origin("https://News.Example.com./feed") == ("news.example.com", 443)
    assert origin("http://127.0.0.1:8001/feed") == ("127.0.0.1", 8001)
    assert origin("http://2130706433:8001/x") == ("127.0.0.1", 8001)
    assert origin("http://[::1]:80/") == ("::1", 80)
    assert origin("ftp://example.com/") is None
    assert origin("http://[::1/") is None
    assert source_origins(["http://127.0.0.1:8001/a", "http://127.0.0.1:8001/b",
                           "mailto:x@y"]) == frozenset({("127.0.0.1", 8001)})
