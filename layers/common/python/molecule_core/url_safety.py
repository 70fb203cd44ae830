"""Is an agent URL safe for the platform to call? One check, used at register and at external
create (SPEC §5.2).

Only http(s). The host — an IP literal in any spelling the C library accepts (decimal, hex, octal,
short forms like 127.1), an IPv6 literal (including IPv4-mapped, -compatible, NAT64 and 6to4 forms
that embed an IPv4 address), or a name that is resolved — must not point at loopback, link-local
(cloud metadata lives there), unspecified, multicast, reserved, documentation/TEST-NET, CGNAT or
benchmarking ranges, nor at the AWS IPv6 metadata address. Private ranges are blocked unless SaaS
mode allows them; loopback is allowed only in development so a laptop stack works.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from molecule_core.errors import InvalidInput
from molecule_core.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_ALWAYS_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified address"),
    ("169.254.0.0/16", "link-local / cloud metadata address"),
    ("100.64.0.0/10", "carrier-grade NAT address"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation (TEST-NET-1) address"),
    ("198.51.100.0/24", "documentation (TEST-NET-2) address"),
    ("203.0.113.0/24", "documentation (TEST-NET-3) address"),
    ("198.18.0.0/15", "benchmarking address"),
    ("224.0.0.0/4", "multicast address"),
    ("240.0.0.0/4", "reserved address"),
    ("::/128", "unspecified address"),
    ("fe80::/10", "link-local address"),
    ("fd00:ec2::254/128", "AWS IPv6 metadata address"),
    ("ff00::/8", "multicast address"),
    ("2001:db8::/32", "documentation address"),
    ("100::/64", "discard-only address"),
    ("fec0::/10", "site-local address"),
)
_LOOPBACK: tuple[tuple[str, str], ...] = (
    ("127.0.0.0/8", "loopback address"),
    ("::1/128", "loopback address"),
)
_PRIVATE: tuple[tuple[str, str], ...] = (
    ("10.0.0.0/8", "private address"),
    ("172.16.0.0/12", "private address"),
    ("192.168.0.0/16", "private address"),
    ("fc00::/7", "private (unique local) address"),
)


def _networks(
    entries: Iterable[tuple[str, str]],
) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    return [(ipaddress.ip_network(cidr), reason) for cidr, reason in entries]


_ALWAYS = _networks(_ALWAYS_BLOCKED)
_LOOP = _networks(_LOOPBACK)
_PRIV = _networks(_PRIVATE)
_IPV4_LITERAL = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)

Resolver = Callable[[str], list[str]]


def _system_resolver(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d),
    NAT64 (64:ff9b::/96) or 6to4 (2002::/16)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = address.packed
    if packed[:12] == bytes(12) and packed[12:] != bytes(4) and int(address) > 1:
        return ipaddress.IPv4Address(packed[12:])
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(packed[12:])
    return None


def blocked_reason(address: IPAddress, *, allow_loopback: bool, allow_private: bool) -> str | None:
    """Why the platform must not call this address, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        scoped = address.scope_id
        if scoped:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = blocked_reason(embedded, allow_loopback=allow_loopback, allow_private=allow_private)
            if inner:
                return f"{inner} (embedded in IPv6)"
    checks = list(_ALWAYS)
    if not allow_loopback:
        checks += _LOOP
    if not allow_private:
        checks += _PRIV
    for network, reason in checks:
        if address.version == network.version and address in network:
            return reason
    if address.version == 4 and address == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast address"
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """An IP literal in any spelling (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`, `[::1]`)."""
    candidate = host.strip("[]")
    try:
        return (
            ipaddress.ip_address(candidate.split("%", 1)[0])
            if ":" in candidate
            else ipaddress.ip_address(candidate)
        )
    except ValueError:
        pass
    if _IPV4_LITERAL.match(candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def check_agent_url(url: str, *, resolver: Resolver | None = None) -> None:
    """Raise InvalidInput (400) with the reason when the platform must not call `url`."""
    settings = get_settings()
    allow_loopback = settings.is_development
    allow_private = settings.saas_mode
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidInput(f"invalid agent url: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("invalid agent url: only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("invalid agent url: credentials in the URL are not allowed")
    host = parts.hostname
    if not host:
        raise InvalidInput("invalid agent url: a host is required")
    if port == 0:
        raise InvalidInput("invalid agent url: port 0 is not allowed")
    literal = parse_ip_literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            resolved = (resolver or _system_resolver)(host.rstrip("."))
        except OSError as exc:
            raise InvalidInput(f"invalid agent url: cannot resolve host {host!r}") from exc
        if not resolved:
            raise InvalidInput(f"invalid agent url: host {host!r} has no address")
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
    for address in addresses:
        reason = blocked_reason(address, allow_loopback=allow_loopback, allow_private=allow_private)
        if reason:
            raise InvalidInput(f"invalid agent url: {host} resolves to a blocked {reason}")
