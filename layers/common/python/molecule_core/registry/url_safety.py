"""Is an agent URL safe for the platform to call? One rule, used at register and at external
create (SPEC §5.2, `check_agent_url`) and at every connection to an agent (SPEC §5.4 step 6,
`resolve_agent_host`: agents.service resolves the host once per connection with it and connects
to the address it checked, so DNS rebinding cannot answer differently in between).

Only http(s). The host — an IP literal in any spelling the C library accepts (decimal, hex, octal,
short forms like 127.1), an IPv6 literal (including IPv4-mapped, -translated, -compatible, NAT64,
6to4 and Teredo forms that embed an IPv4 address), or a name that is resolved — must not point at
loopback, link-local (cloud metadata lives there), unspecified, multicast, broadcast, reserved,
documentation/TEST-NET, CGNAT or benchmarking ranges, nor at the AWS IPv6 metadata address.
Private ranges are blocked unless SaaS mode allows them; loopback is allowed only in development so
a laptop stack works.

The host is normalised before it is judged, the way the HTTP client and the C resolver will see it:
one trailing dot is dropped (`127.0.0.1.` is 127.0.0.1), an internationalised name is IDNA-encoded
(full-width `１２７.０.０.１` is 127.0.0.1), and anything that is not a well-formed hostname or IP
literal (spaces, backslashes, percent-escapes, empty or over-long labels, a number that is no valid
IPv4 address such as `4294967296`) is rejected rather than handed to a resolver. A URL with control
characters or inner whitespace is rejected too: `urlsplit` silently drops tabs and newlines, so the
URL checked would not be the URL stored and called.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from molecule_core.platform.errors import InvalidInput
from molecule_core.platform.settings import get_settings

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
    ("3fff::/20", "documentation address"),
    ("2001:2::/48", "benchmarking address"),
    ("64:ff9b:1::/48", "local-use NAT64 address"),
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
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# C0 controls, space, DEL and C1 controls: never part of a URL the platform should call.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")

Resolver = Callable[[str], list[str]]


def _system_resolver(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 form carries: mapped (::ffff:a.b.c.d), translated
    (::ffff:0:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo
    (2001::/32, server and client)."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    packed = address.packed
    if packed[:12] == bytes(12) and packed[12:] != bytes(4) and int(address) > 1:
        return [ipaddress.IPv4Address(packed[12:])]
    if address in _NAT64 or address in _IPV4_TRANSLATED:
        return [ipaddress.IPv4Address(packed[12:])]
    return []


def blocked_reason(address: IPAddress, *, allow_loopback: bool, allow_private: bool) -> str | None:
    """Why the platform must not call this address, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        scoped = address.scope_id
        if scoped:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        for embedded in _embedded_ipv4(address):
            inner = blocked_reason(embedded, allow_loopback=allow_loopback, allow_private=allow_private)
            if inner:
                return f"{inner} (embedded in IPv6)"
    if address == _BROADCAST:
        return "broadcast address"
    checks = list(_ALWAYS)
    if not allow_loopback:
        checks += _LOOP
    if not allow_private:
        checks += _PRIV
    for network, reason in checks:
        if address.version == network.version and address in network:
            return reason
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """An IP literal in any spelling (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`, `[::1]`)."""
    candidate = host.strip("[]")
    if candidate.endswith(".") and ":" not in candidate:
        candidate = candidate[:-1]  # `127.0.0.1.` is still 127.0.0.1 to the resolver
    try:
        return ipaddress.ip_address(candidate.split("%", 1)[0]) if ":" in candidate else ipaddress.ip_address(candidate)
    except ValueError:
        pass
    if _IPV4_LITERAL.match(candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def _normalised_host(host: str) -> str:
    """The host as the resolver will see it, or InvalidInput when it is not a well-formed
    hostname or IP literal."""
    if ":" in host:  # only an IPv6 literal may contain a colon
        if parse_ip_literal(host) is None:
            raise InvalidInput(f"invalid agent url: malformed IPv6 host {host!r}")
        return host
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise InvalidInput(f"invalid agent url: malformed host name {host!r}") from exc
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(label) for label in name.split(".")):
        raise InvalidInput(f"invalid agent url: malformed host name {host!r}")
    if _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]) and parse_ip_literal(name) is None:
        # A name ending in a number is an IPv4 address to URL parsers; this one is not valid.
        raise InvalidInput(f"invalid agent url: malformed IPv4 address {host!r}")
    return name


def _parse_resolved(host: str, resolved: Iterable[str]) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
    except ValueError as exc:
        raise InvalidInput(f"invalid agent url: cannot resolve host {host!r}") from exc


class UnsafeAgentAddress(InvalidInput):
    """The host is, or resolves to, an address the platform must not call."""


def _check_address(host: str, address: IPAddress, *, resolved: bool) -> None:
    settings = get_settings()
    reason = blocked_reason(address, allow_loopback=settings.is_development, allow_private=settings.saas_mode)
    if reason:
        shown = f"{host} resolves to {address}, a" if resolved else f"{host} is a"
        raise UnsafeAgentAddress(f"invalid agent url: {shown} blocked {reason}")


def resolve_agent_host(host: str, *, resolver: Resolver | None = None) -> list[IPAddress]:
    """The addresses to connect to for `host` — resolved once, every one of them checked.
    UnsafeAgentAddress when any is blocked; InvalidInput when the host is malformed or does not
    resolve."""
    name = _normalised_host(host)
    literal = parse_ip_literal(name)
    if literal is not None:
        _check_address(host, literal, resolved=False)
        return [literal]
    try:
        resolved = (resolver or _system_resolver)(name)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"invalid agent url: cannot resolve host {host!r}") from exc
    addresses = _parse_resolved(host, resolved)
    if not addresses:
        raise InvalidInput(f"invalid agent url: host {host!r} has no address")
    for address in addresses:
        _check_address(host, address, resolved=True)
    return addresses


def check_agent_url(url: str, *, resolver: Resolver | None = None) -> None:
    """Raise InvalidInput (400) with the reason when the platform must not call `url`."""
    url = url.strip()
    if _CONTROL_OR_SPACE.search(url):
        raise InvalidInput("invalid agent url: control characters or whitespace are not allowed")
    try:
        parts = urlsplit(url)
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
    resolve_agent_host(host, resolver=resolver)
