"""The URL-safety corpus (SPEC §5.2): URLs the platform must refuse to call, and URLs it must accept.

Each case names what it probes. A case whose host is a name carries the fake resolution the test
resolver answers with, keyed by the name the resolver must be asked for (lower-case, trailing dot
dropped, IDNA-encoded) — so tests never touch DNS and a wrong normalisation shows up as a failed
lookup. Hostile cases also carry `reason`: a fragment the 400 message must contain, so a URL that is
rejected for the wrong reason (a literal sent to the resolver, say) still fails its test.

Unless a test changes the environment these hold in the default mode: MOLECULE_ENV is not
`development` (loopback blocked) and MOLECULE_SAAS_MODE is off (private ranges blocked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class UrlCase:
    id: str
    url: str
    probes: str
    resolves: Mapping[str, list[str]] = field(default_factory=dict)
    reason: str = ""


LOOPBACK = "loopback address"
METADATA = "link-local / cloud metadata address"
PRIVATE = "private address"
EMBEDDED = "(embedded in IPv6)"
SCHEME = "only http and https"
CREDENTIALS = "credentials in the URL"
NO_HOST = "a host is required"
MALFORMED = "malformed host name"

HOSTILE: tuple[UrlCase, ...] = (
    # --- loopback, in every spelling an address can take -------------------------------------
    UrlCase("loopback-dotted", "http://127.0.0.1/", "plain dotted-quad loopback", reason=LOOPBACK),
    UrlCase("loopback-port-path", "http://127.0.0.1:8080/a2a", "port and path do not hide it", reason=LOOPBACK),
    UrlCase("loopback-top", "http://127.255.255.254/", "the whole of 127/8, not only .1", reason=LOOPBACK),
    UrlCase("loopback-decimal", "http://2130706433/", "one decimal number", reason=LOOPBACK),
    UrlCase("loopback-hex", "http://0x7f000001/", "one hex number", reason=LOOPBACK),
    UrlCase("loopback-hex-dotted", "http://0x7f.0.0.1/", "hex first octet", reason=LOOPBACK),
    UrlCase("loopback-hex-upper", "http://0X7F.0.0.1/", "upper-case hex prefix", reason=LOOPBACK),
    UrlCase("loopback-octal-dotted", "http://0177.0.0.1/", "octal first octet", reason=LOOPBACK),
    UrlCase("loopback-octal", "http://017700000001/", "one octal number", reason=LOOPBACK),
    UrlCase("loopback-short-2", "http://127.1/", "two-part short form", reason=LOOPBACK),
    UrlCase("loopback-short-3", "http://127.0.1/", "three-part short form", reason=LOOPBACK),
    UrlCase("loopback-hex-short", "http://0x7f.1/", "hex short form", reason=LOOPBACK),
    UrlCase("loopback-trailing-dot", "http://127.0.0.1./", "IP literal with a trailing dot", reason=LOOPBACK),
    UrlCase("loopback-hex-trailing-dot", "http://0x7f.1./", "hex short form, trailing dot", reason=LOOPBACK),
    UrlCase("loopback-upper-scheme", "HTTP://127.0.0.1/", "upper-case scheme is still http", reason=LOOPBACK),
    UrlCase(
        "loopback-fullwidth",
        "http://１２７.０.０.１/",
        "full-width digits IDNA-map to 127.0.0.1",
        reason=LOOPBACK,
    ),
    UrlCase("loopback-v6", "http://[::1]/", "IPv6 loopback", reason=LOOPBACK),
    UrlCase("loopback-v6-long", "http://[0:0:0:0:0:0:0:1]/", "IPv6 loopback, uncompressed", reason=LOOPBACK),
    UrlCase("loopback-mapped", "http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback", reason=EMBEDDED),
    UrlCase("loopback-mapped-hex", "http://[::ffff:7f00:1]/", "IPv4-mapped loopback in hex", reason=EMBEDDED),
    UrlCase("loopback-compatible", "http://[::127.0.0.1]/", "IPv4-compatible loopback", reason=EMBEDDED),
    UrlCase(
        "loopback-translated",
        "http://[::ffff:0:127.0.0.1]/",
        "IPv4-translated (SIIT) loopback",
        reason=EMBEDDED,
    ),
    UrlCase("loopback-nat64", "http://[64:ff9b::127.0.0.1]/", "NAT64 well-known prefix", reason=EMBEDDED),
    UrlCase("loopback-6to4", "http://[2002:7f00:1::]/", "6to4 prefix carrying 127.0.0.1", reason=EMBEDDED),
    UrlCase(
        "loopback-teredo",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "Teredo address whose (obfuscated) client is 127.0.0.1",
        reason=EMBEDDED,
    ),
    # --- unspecified -------------------------------------------------------------------------
    UrlCase("unspecified", "http://0.0.0.0/", "0.0.0.0 reaches the local host", reason="unspecified address"),
    UrlCase("unspecified-short", "http://0/", "0 is 0.0.0.0", reason="unspecified address"),
    UrlCase("unspecified-0-8", "http://0.1.2.3/", "the rest of 0/8", reason="unspecified address"),
    UrlCase("unspecified-v6", "http://[::]/", "IPv6 unspecified", reason="unspecified address"),
    UrlCase("unspecified-mapped", "http://[::ffff:0.0.0.0]/", "IPv4-mapped 0.0.0.0", reason=EMBEDDED),
    # --- cloud metadata and link-local -------------------------------------------------------
    UrlCase("metadata", "http://169.254.169.254/latest/meta-data/", "EC2/GCP/Azure metadata", reason=METADATA),
    UrlCase("metadata-decimal", "http://2852039166/", "metadata as one decimal number", reason=METADATA),
    UrlCase("metadata-hex", "http://0xa9fea9fe/", "metadata as one hex number", reason=METADATA),
    UrlCase("metadata-octal", "http://0251.0376.0251.0376/", "metadata in dotted octal", reason=METADATA),
    UrlCase(
        "metadata-ecs",
        "http://169.254.170.2/v2/credentials",
        "ECS task credentials endpoint",
        reason=METADATA,
    ),
    UrlCase("metadata-mapped", "http://[::ffff:169.254.169.254]/", "IPv4-mapped metadata", reason=EMBEDDED),
    UrlCase("metadata-mapped-hex", "http://[::ffff:a9fe:a9fe]/", "IPv4-mapped metadata in hex", reason=EMBEDDED),
    UrlCase("metadata-nat64", "http://[64:ff9b::a9fe:a9fe]/", "NAT64 metadata", reason=EMBEDDED),
    UrlCase("metadata-6to4", "http://[2002:a9fe:a9fe::1]/", "6to4 metadata", reason=EMBEDDED),
    UrlCase("metadata-aws-v6", "http://[fd00:ec2::254]/", "AWS IPv6 metadata", reason="AWS IPv6 metadata"),
    UrlCase("link-local-v6", "http://[fe80::1]/", "IPv6 link-local", reason="link-local address"),
    UrlCase("link-local-v6-scoped", "http://[fe80::1%25eth0]/", "link-local with a zone id", reason="link-local"),
    # --- special-purpose ranges --------------------------------------------------------------
    UrlCase("cgnat-low", "http://100.64.0.1/", "bottom of CGNAT 100.64/10", reason="carrier-grade NAT"),
    UrlCase("cgnat-high", "http://100.127.255.254/", "top of CGNAT 100.64/10", reason="carrier-grade NAT"),
    UrlCase("test-net-1", "http://192.0.2.1/", "TEST-NET-1", reason="TEST-NET-1"),
    UrlCase("test-net-2", "http://198.51.100.7/", "TEST-NET-2", reason="TEST-NET-2"),
    UrlCase("test-net-3", "http://203.0.113.9/", "TEST-NET-3", reason="TEST-NET-3"),
    UrlCase("doc-v6", "http://[2001:db8::1]/", "IPv6 documentation 2001:db8::/32", reason="documentation"),
    UrlCase("doc-v6-3fff", "http://[3fff::1]/", "IPv6 documentation 3fff::/20 (RFC 9637)", reason="documentation"),
    UrlCase("benchmarking", "http://198.18.0.1/", "benchmarking 198.18/15", reason="benchmarking"),
    UrlCase("benchmarking-v6", "http://[2001:2::1]/", "IPv6 benchmarking 2001:2::/48", reason="benchmarking"),
    UrlCase("ietf-assignment", "http://192.0.0.8/", "IETF protocol assignments 192.0.0/24", reason="IETF"),
    UrlCase("multicast", "http://224.0.0.1/", "IPv4 multicast", reason="multicast"),
    UrlCase("multicast-ssdp", "http://239.255.255.250:1900/", "SSDP multicast", reason="multicast"),
    UrlCase("multicast-v6", "http://[ff02::1]/", "IPv6 all-nodes multicast", reason="multicast"),
    UrlCase("reserved", "http://240.0.0.1/", "reserved 240/4", reason="reserved"),
    UrlCase("broadcast", "http://255.255.255.255/", "limited broadcast", reason="broadcast"),
    UrlCase("site-local-v6", "http://[fec0::1]/", "deprecated IPv6 site-local", reason="site-local"),
    UrlCase("discard-v6", "http://[100::1]/", "IPv6 discard-only 100::/64", reason="discard-only"),
    UrlCase("nat64-local-use", "http://[64:ff9b:1::a00:1]/", "local-use NAT64 64:ff9b:1::/48", reason="NAT64"),
    # --- private ranges (blocked unless SaaS mode) -------------------------------------------
    UrlCase("private-10", "http://10.0.0.5/", "10/8", reason=PRIVATE),
    UrlCase("private-10-top", "http://10.255.255.255/", "top of 10/8", reason=PRIVATE),
    UrlCase("private-10-octal", "http://012.0.0.1/", "octal 012 is 10", reason=PRIVATE),
    UrlCase("private-172-16", "http://172.16.0.1/", "bottom of 172.16/12", reason=PRIVATE),
    UrlCase("private-172-31", "http://172.31.255.254/", "top of 172.16/12", reason=PRIVATE),
    UrlCase("private-192-168", "http://192.168.1.1/", "192.168/16", reason=PRIVATE),
    UrlCase("private-fc00", "http://[fc00::1]/", "unique local fc00::/7 (fc half)", reason="unique local"),
    UrlCase("private-fd", "http://[fd12:3456:789a::1]/", "unique local fc00::/7 (fd half)", reason="unique local"),
    UrlCase("private-mapped", "http://[::ffff:10.0.0.1]/", "IPv4-mapped private", reason=EMBEDDED),
    UrlCase("private-mapped-hex", "http://[::ffff:c0a8:101]/", "IPv4-mapped 192.168.1.1 in hex", reason=EMBEDDED),
    # --- schemes -----------------------------------------------------------------------------
    UrlCase("scheme-file", "file:///etc/passwd", "local file read", reason=SCHEME),
    UrlCase("scheme-ftp", "ftp://8.8.8.8/", "ftp to a public host", reason=SCHEME),
    UrlCase("scheme-gopher", "gopher://8.8.8.8:70/_payload", "gopher request smuggling", reason=SCHEME),
    UrlCase("scheme-javascript", "javascript:alert(1)", "script URL", reason=SCHEME),
    UrlCase("scheme-remote", "remote://x", "unknown scheme", reason=SCHEME),
    UrlCase("scheme-data", "data:text/html,hi", "data URL", reason=SCHEME),
    UrlCase("scheme-ws", "ws://8.8.8.8/", "websocket scheme", reason=SCHEME),
    UrlCase(
        "scheme-http-unix",
        "http+unix://%2Fvar%2Frun%2Fdocker.sock/",
        "unix socket via http+unix",
        reason=SCHEME,
    ),
    UrlCase("scheme-relative", "//8.8.8.8/", "scheme-relative URL", reason=SCHEME),
    UrlCase("scheme-missing", "8.8.8.8", "bare address, no scheme", reason=SCHEME),
    # --- credentials -------------------------------------------------------------------------
    UrlCase("creds-user-pass", "http://user:pass@8.8.8.8/", "user and password", reason=CREDENTIALS),
    UrlCase("creds-user", "http://user@8.8.8.8/", "user only", reason=CREDENTIALS),
    UrlCase(
        "creds-host-confusion",
        "http://8.8.8.8@127.0.0.1/",
        "userinfo that looks like a host",
        reason=CREDENTIALS,
    ),
    UrlCase(
        "creds-backslash",
        "http://127.0.0.1\\@8.8.8.8/",
        "backslash before @ (parser confusion)",
        reason=CREDENTIALS,
    ),
    # --- missing or malformed host and port --------------------------------------------------
    UrlCase("host-missing-path", "http:///path", "no authority at all", reason=NO_HOST),
    UrlCase("host-missing", "http://", "empty authority", reason=NO_HOST),
    UrlCase("host-missing-port", "http://:8080/", "port without host", reason=NO_HOST),
    UrlCase("port-zero", "http://8.8.8.8:0/", "port 0", reason="port 0"),
    UrlCase("port-too-big", "http://8.8.8.8:65536/", "port out of range", reason="out of range"),
    UrlCase("port-not-number", "http://8.8.8.8:http/", "non-numeric port", reason="Port"),
    UrlCase("v6-unclosed", "http://[::1/", "unclosed IPv6 bracket", reason="IPv6"),
    UrlCase("v4-in-brackets", "http://[127.0.0.1]/", "IPv4 inside IPv6 brackets", reason="brackets"),
    UrlCase("host-space", "http://exa mple.com/", "space inside the host", reason="whitespace"),
    UrlCase(
        "host-newline",
        "http://8.8.8.8\n.internal.example/",
        "newline urlsplit would silently drop, changing the host",
        reason="control characters",
    ),
    UrlCase("host-tab", "http://127.0.0.1\t/", "tab inside the URL", reason="control characters"),
    UrlCase("host-percent", "http://%31%32%37.0.0.1/", "percent-encoded 127.0.0.1", reason=MALFORMED),
    UrlCase("host-backslash", "http://127.0.0.1\\.evil.example/", "backslash inside the host", reason=MALFORMED),
    UrlCase("host-long-label", "http://" + "a" * 64 + ".example/", "label over 63 chars", reason=MALFORMED),
    UrlCase("host-empty-label", "http://bad..example/", "empty label", reason=MALFORMED),
    UrlCase("host-leading-dot", "http://.example/", "leading dot", reason=MALFORMED),
    UrlCase("host-number-overflow", "http://4294967296/", "decimal beyond 32 bits", reason="malformed IPv4"),
    UrlCase("host-bad-v4", "http://1.2.3.256/", "octet over 255", reason="malformed IPv4"),
    # --- names that resolve to blocked addresses ---------------------------------------------
    UrlCase("name-localhost", "http://localhost/", "localhost", {"localhost": ["127.0.0.1"]}, LOOPBACK),
    UrlCase(
        "name-localhost-dot",
        "http://localhost./",
        "trailing-dot name",
        {"localhost": ["127.0.0.1"]},
        LOOPBACK,
    ),
    UrlCase("name-localhost-upper", "http://LOCALHOST/", "upper-case name", {"localhost": ["::1"]}, LOOPBACK),
    UrlCase(
        "name-metadata",
        "http://metadata.google.internal/computeMetadata/v1/",
        "GCP metadata name",
        {"metadata.google.internal": ["169.254.169.254"]},
        METADATA,
    ),
    UrlCase(
        "name-metadata-v6",
        "http://ec2-metadata.example/",
        "name resolving to the AWS IPv6 metadata address",
        {"ec2-metadata.example": ["fd00:ec2::254"]},
        "AWS IPv6 metadata",
    ),
    UrlCase(
        "name-one-good-one-bad",
        "http://rebind.example/",
        "one public and one loopback address: every address is checked",
        {"rebind.example": ["93.184.216.34", "127.0.0.1"]},
        LOOPBACK,
    ),
    UrlCase(
        "name-one-good-one-bad-v6",
        "https://dual.example/",
        "public IPv4 plus link-local IPv6",
        {"dual.example": ["93.184.216.34", "2606:4700::1111", "fe80::1"]},
        "link-local",
    ),
    UrlCase(
        "name-private",
        "http://internal.example/",
        "split-horizon name",
        {"internal.example": ["10.1.2.3"]},
        PRIVATE,
    ),
    UrlCase(
        "name-mapped",
        "http://mapped.example/",
        "name resolving to IPv4-mapped metadata",
        {"mapped.example": ["::ffff:169.254.169.254"]},
        EMBEDDED,
    ),
    UrlCase(
        "name-scoped",
        "http://scoped.example/",
        "resolver answer with a zone id",
        {"scoped.example": ["fe80::1%eth0"]},
        "link-local",
    ),
    UrlCase(
        "name-cgnat",
        "http://cgnat.example/",
        "name in CGNAT",
        {"cgnat.example": ["100.100.100.100"]},
        "carrier-grade",
    ),
    UrlCase(
        "name-unspecified",
        "http://zero.example/",
        "name resolving to 0.0.0.0",
        {"zero.example": ["0.0.0.0"]},  # noqa: S104 - a fake DNS answer, not a bind
        "unspec",
    ),
    UrlCase(
        "name-no-address",
        "http://empty.example/",
        "resolver returns nothing",
        {"empty.example": []},
        "no address",
    ),
    UrlCase("name-unresolvable", "http://nxdomain.example/", "resolver has no answer", reason="cannot resolve"),
)

LEGITIMATE: tuple[UrlCase, ...] = (
    UrlCase("public-v4", "http://8.8.8.8/", "public IPv4 literal"),
    UrlCase("public-v4-https-port", "https://1.1.1.1:8443/a2a", "https, port and path"),
    UrlCase("public-v4-query", "http://93.184.216.34:8000/agent/path?x=1#frag", "query and fragment"),
    UrlCase("public-v4-upper-scheme", "HTTP://8.8.8.8/", "scheme is case-insensitive"),
    UrlCase("public-v4-decimal", "http://134744072/", "decimal spelling of a public address"),
    UrlCase("public-v4-surrounding-space", "  https://8.8.4.4/  ", "surrounding whitespace is trimmed"),
    UrlCase("public-v4-port-empty", "http://8.8.8.8:/", "empty port means the default"),
    UrlCase("edge-172-32", "http://172.32.0.1/", "just above 172.16/12"),
    UrlCase("edge-100-128", "http://100.128.0.1/", "just above CGNAT 100.64/10"),
    UrlCase("edge-169-253", "http://169.253.255.255/", "just below link-local 169.254/16"),
    UrlCase("edge-11", "http://11.0.0.1/", "just above 10/8"),
    UrlCase("public-v6", "http://[2606:4700:4700::1111]/", "public IPv6 literal"),
    UrlCase("public-v6-https-port", "https://[2001:4860:4860::8888]:443/a2a", "IPv6 with port and path"),
    UrlCase("public-v6-mapped", "http://[::ffff:8.8.8.8]/", "IPv4-mapped public address"),
    UrlCase("public-v6-nat64", "http://[64:ff9b::808:808]/", "NAT64 of a public address"),
    UrlCase("public-v6-6to4", "http://[2002:808:808::1]/", "6to4 of a public address"),
    UrlCase("name", "https://agent.example.com/a2a", "public name", {"agent.example.com": ["93.184.216.34"]}),
    UrlCase(
        "name-dual-stack",
        "https://agent.example.com:8443/rpc",
        "name with public IPv4 and IPv6",
        {"agent.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]},
    ),
    UrlCase(
        "name-mixed-case",
        "https://Agent.Example.COM/",
        "host is case-insensitive",
        {"agent.example.com": ["8.8.8.8"]},
    ),
    UrlCase("name-trailing-dot", "https://agent.example.com./", "FQDN form", {"agent.example.com": ["8.8.8.8"]}),
    UrlCase(
        "name-idn",
        "https://bücher.example/",
        "IDN resolved as punycode",
        {"xn--bcher-kva.example": ["8.8.8.8"]},
    ),
    UrlCase(
        "name-underscore",
        "http://my_agent.example/",
        "underscore in a label",
        {"my_agent.example": ["1.1.1.1"]},
    ),
    UrlCase(
        "name-hexlike",
        "http://cafe.face/",
        "letters that are hex digits are still a name",
        {"cafe.face": ["93.184.216.34"]},
    ),
)
