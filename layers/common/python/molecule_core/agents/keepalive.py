"""The buffered POST to an agent (`agents.service.post_json`: the A2A proxy's and the drain's
delivery) on the standard library's `http.client`, over connections kept alive per agent origin.

Why not httpx, which the rest of `agents` uses: on this path httpx costs ~0.6 ms a call more than
`http.client` (POST of a message/send to the same agent, p50 1.33 against 0.72 ms, measured side by
side), a quarter to a third of what the proxy added to a message; and the proxy no longer imports
httpx at init. Streams and file forwarding (rarer, and relayed piece by piece) stay on httpx (`transport`).

The rules are `agents.service`'s, kept here for this client:
- Pinned resolution: a new connection resolves the host once through the URL-safety rule
  (`checked_addresses`, shared with httpx's backend in `transport`) and connects to a checked address;
  the Host header, TLS SNI and certificate check use the name. No proxies, no cookies, no redirects.
- Timeouts: connect within 10 s (never more than the budget), the request written within the
  same bound, each read of the answer within the budget.
- Failures read as what they mean for the message: never connected → AgentUnreachable; refused
  address → AgentAddressRefused; connected and then reset or closed without an answer (also a
  broken or incomplete answer) → AgentBusy; no answer within the budget → AgentTimeout.

A kept connection is reused only while it is quiet and has been idle less than
`IDLE_EXPIRY_SECONDS`: a connection the agent closed while idle reads as readable (EOF) and is
dropped before use, not written to.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from molecule_core.agents.models import AgentResponse
from molecule_core.agents.service import AgentAddressRefused, AgentBusy, AgentTimeout, AgentUnreachable
from molecule_core.platform import snapstart
from molecule_core.platform.errors import InvalidInput
from molecule_core.registry import service as registry

if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv6Address

CONNECT_TIMEOUT_SECONDS = 10.0
# Below uvicorn's keep-alive timeout (5 s; the a2a-sdk's servers run on it): a kept connection is
# dropped before the agent closes it, so a send rarely meets a connection closing under it (that
# send would be read as AgentBusy and the message queued). httpx keeps 5 s.
IDLE_EXPIRY_SECONDS = 4.0
MAX_IDLE_PER_ORIGIN = 20  # httpx's max_keepalive_connections, here per origin

Origin = tuple[str, str, int]  # scheme, host, port


def checked_addresses(host: str) -> list[IPv4Address | IPv6Address]:
    """Where a new connection to `host` may go: resolved once, every address checked by the
    URL-safety rule (SPEC §5.4 step 6). Shared with httpx's backend (`transport`)."""
    try:
        return registry.resolve_agent_host(host)
    except registry.UnsafeAgentAddress as exc:
        raise AgentAddressRefused(exc.message) from None
    except InvalidInput as exc:
        raise AgentUnreachable(exc.message) from None


def _pinned_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to a checked address of `host` (in the resolver's order)."""
    failure: OSError | None = None
    for address in checked_addresses(host):
        try:
            sock = socket.create_connection((str(address), port), timeout=timeout)
        except OSError as exc:  # refused, unreachable, timed out: try the next address
            failure = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise AgentUnreachable(str(failure) or type(failure).__name__)


# An answer's head: at most this many header lines (http.client's limits), each at most this long.
MAX_ANSWER_HEADERS = 100
MAX_HEADER_LINE = 65536


class _Response(http.client.HTTPResponse):
    """`http.client`'s response, whose head is read here: its header lines become one dict (names
    lower-cased, repeated ones joined with ", ", as httpx reads them), not an `email` message: the
    email parser was ~80 µs of the ~250 µs of CPU a call took (`time.thread_time`; 150–190 µs
    without it). The body is still read by `http.client` (by length, chunked, or to the close)."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        version, status, reason = self._read_status()
        while status == http.client.CONTINUE:  # an interim answer: its head is skipped
            self._read_head()
            version, status, reason = self._read_status()
        if not version.startswith("HTTP/1."):
            raise http.client.UnknownProtocol(version)
        self.code = self.status = status
        self.reason = reason.strip()
        self.version = 10 if version == "HTTP/1.0" else 11
        self.headers = self.msg = self._read_head()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        length = self.headers.get("content-length", "")
        self.length = int(length) if not self.chunked and length.isdigit() else None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200:
            self.length = 0
        if self.length is None and not self.chunked:
            self.will_close = True  # the body ends when the agent closes the connection

    def _read_head(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        name = ""
        for _ in range(MAX_ANSWER_HEADERS + 1):
            line = self.fp.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                raise http.client.LineTooLong("header line")
            if line in (b"\r\n", b"\n", b""):
                return headers
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and name:  # an obsolete folded line continues the last header
                headers[name] = f"{headers[name]} {text.strip()}"
                continue
            field, colon, value = text.partition(":")
            if not colon:
                continue  # not a header: skipped (the agent took the message; its answer stands)
            name, value = field.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        raise http.client.HTTPException(f"more than {MAX_ANSWER_HEADERS} headers")


class _Connection(http.client.HTTPConnection):
    response_class = _Response

    def connect(self) -> None:
        self.sock = _pinned_socket(self.host, self.port, self.timeout)  # type: ignore[arg-type]


class _TlsConnection(http.client.HTTPSConnection):
    response_class = _Response

    def connect(self) -> None:
        sock = _pinned_socket(self.host, self.port, self.timeout)  # type: ignore[arg-type]
        try:
            self.sock = tls_context().wrap_socket(sock, server_hostname=self.host)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise AgentUnreachable(f"TLS handshake failed: {exc}") from exc


_tls_context: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """Certificates checked against certifi's CA bundle, as httpx checks them."""
    global _tls_context
    if _tls_context is None:
        import certifi

        _tls_context = ssl.create_default_context(cafile=certifi.where())
    return _tls_context


class _Idle:
    """Kept connections per origin, each with the moment it went idle; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}

    def take(self, origin: Origin) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                kept = self._connections.get(origin)
                if not kept:
                    return None
                conn, since = kept.pop()
            if time.monotonic() - since < IDLE_EXPIRY_SECONDS and _is_quiet(conn):
                return conn
            conn.close()

    def give_back(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            kept = self._connections.setdefault(origin, [])
            if len(kept) < MAX_IDLE_PER_ORIGIN:
                kept.append((conn, time.monotonic()))
                return
        conn.close()

    def close_all(self) -> None:
        with self._lock:
            connections = [conn for kept in self._connections.values() for conn, _ in kept]
            self._connections.clear()
        for conn in connections:
            conn.close()


def _is_quiet(conn: http.client.HTTPConnection) -> bool:
    """An idle connection has nothing to read: readable means the agent closed it (or sent
    something nobody asked for) — either way it cannot carry the next request."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


_idle = _Idle()


def _origin(url: str) -> tuple[Origin, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AgentUnreachable(f"invalid agent url: {exc}") from exc
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        raise AgentUnreachable(f"unsupported agent url {url[:200]!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, host, port or (443 if scheme == "https" else 80)), target


def _new_connection(origin: Origin, connect_seconds: float) -> http.client.HTTPConnection:
    scheme, host, port = origin
    kind = _TlsConnection if scheme == "https" else _Connection
    conn = kind(host, port, timeout=connect_seconds)
    conn.connect()
    return conn


def post(url: str, body: bytes, headers: Mapping[str, str], *, budget_seconds: float) -> AgentResponse:
    """POST `body` to the agent and read its whole answer: status, headers (lower-cased names;
    repeated ones joined with ", ", as httpx reads them) and bytes, unchanged."""
    origin, target = _origin(url)
    connect_seconds = min(CONNECT_TIMEOUT_SECONDS, budget_seconds)
    conn = _idle.take(origin) or _new_connection(origin, connect_seconds)
    try:
        conn.sock.settimeout(connect_seconds)  # writing the request
        conn.request("POST", target, body=body, headers=dict(headers))
        conn.sock.settimeout(budget_seconds)  # each read of the answer
        response = conn.getresponse()
        content = response.read()
    except TimeoutError as exc:
        conn.close()
        raise AgentTimeout(str(exc) or "timed out") from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()  # reset, closed, or an answer that is not HTTP: it took the request and hung up
        raise AgentBusy(str(exc) or type(exc).__name__) from exc
    answer_headers: dict[str, str] = response.headers  # type: ignore[assignment]  # _Response's dict
    if response.will_close:
        conn.close()
    else:
        _idle.give_back(origin, conn)
    return AgentResponse(status=response.status, headers=answer_headers, body=content)


@snapstart.on_snapshot
def close_idle() -> None:
    """Close every kept connection (tests; a SnapStart snapshot must not hold sockets)."""
    _idle.close_all()
