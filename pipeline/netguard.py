"""Which addresses a fetch may reach: public ones, and the configured sources' own.

Pure: no sockets. A feed, a sitemap or a redirect can name any host, and a host written
`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1` or `[::ffff:127.0.0.1]` is 127.0.0.1 to
the system's resolver. `parse_ip` reads every such spelling (the WHATWG URL standard's IPv4
forms, which are also what `inet_aton` accepts, and IPv6 literals), `refusal` says why an
address is not public, and `origin` gives the (host, port) that configured sources are
compared by. The fetch stage resolves names and checks each address, then checks the peer
it actually connected to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Origin = tuple[str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # IPv4 addresses reached through NAT64
_MAX_PART = 40  # characters in one dotted part; longer is not a number anyone writes


def _ipv4_part(text: str) -> int | None:
    if not text or len(text) > _MAX_PART:
        return None
    base = 10
    if text[:2].lower() == "0x":
        text, base = text[2:], 16
        if not text:
            return 0  # "0x" alone is zero, as WHATWG and inet_aton read it
    elif len(text) > 1 and text[0] == "0":
        text, base = text[1:], 8
    try:
        return int(text, base) if text.isascii() and text.isalnum() else None
    except ValueError:
        return None


def _ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Dotted, decimal, hex, octal and short forms (127.1 → 127.0.0.1), as resolvers read them."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # one trailing dot
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_ipv4_part(part) for part in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for i, n in enumerate(head):
        number += n << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def parse_ip(host: str) -> IPAddress | None:
    """The IP address `host` spells (a URL's host, brackets allowed), or None for a name."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return _ipv4(host)


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped (::ffff:a.b.c.d), the
    deprecated IPv4-compatible form (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    number = int(address)
    if address in _NAT64 or (number >> 32 == 0 and number > 1):
        return ipaddress.IPv4Address(number & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public address ("loopback", "private" …), or None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            return refusal(embedded)
        if address.is_site_local:
            return "private"
    checks = (("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
              ("link-local", address.is_link_local), ("multicast", address.is_multicast),
              ("reserved", address.is_reserved), ("private", address.is_private))
    for label, hit in checks:
        if hit:
            return label
    if not address.is_global:
        return "non-public"  # shared (100.64/10), documentation, benchmarking ranges
    return None


def phrase(label: str) -> str:
    """"a loopback address", "an unspecified address" …"""
    return f"{'an' if label[0] in 'aeiou' else 'a'} {label} address"


def explain(host: str, address: IPAddress, label: str) -> str:
    """Why a URL's host is refused, in its own words: "10.0.0.5 is a private address",
    "2130706433 is 127.0.0.1, a loopback address"."""
    if normal_host(host) == str(address) and host.strip("[]").lower() == str(address):
        return f"{address} is {phrase(label)}"
    return f"{host} is {address}, {phrase(label)}"


def normal_host(host: str) -> str:
    """A host as origins are compared: lower case, no trailing dot, an IP in its usual form."""
    host = host.strip().lower().rstrip(".")
    ip = parse_ip(host)
    return str(ip) if ip is not None else host


def origin(url: str) -> Origin | None:
    """(host, port) of an http(s) URL, the port filled in from the scheme; None otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    if default is None or not parts.hostname:
        return None
    return normal_host(parts.hostname), port if port is not None else default


def source_origins(urls: Iterable[str]) -> frozenset[Origin]:
    """The origins that may be fetched whatever their address: the configured sources'."""
    return frozenset(o for o in (origin(url) for url in urls) if o is not None)
