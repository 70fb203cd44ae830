"""The socket side of the local API Gateway: read the HTTP request, hand it to the Gateway, write
the response.

The body is framed the way RFC 9112 §6 says, and a request that is not is answered 400 with the
connection closed (like API Gateway) — never read forever, never dropped without an answer:
Content-Length must be one non-negative number and the body that long; `Transfer-Encoding` must
be exactly `chunked` (no Content-Length beside it: that is how requests are smuggled), with
well-formed chunk sizes (extensions allowed), each chunk followed by CRLF, a last chunk and the
trailers' blank line. Reads time out after `read_timeout` seconds of silence (a client that
declared more than it sends).

The request head is read by `read_head`, not by `http.client.parse_headers` (the email parser:
~60 µs a request, a quarter of what a `GET /health` costs), and every buffered answer goes out in
one write. The head's rules are RFC 9112 §5's: `name: value` lines, no whitespace before the colon,
no obsolete line folding, at most 100 header lines of at most 64 KiB each (431 otherwise)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Protocol

from molecule_core.platform import deferred

from molecule_local.gateway import Gateway

MAX_LINE_BYTES = 8192
MAX_HEADER_LINE_BYTES = 65536
MAX_HEADERS = 100
READ_TIMEOUT_SECONDS = 30.0
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DROPPED = frozenset({"content-length", "connection", "transfer-encoding"})


class BadHead(Exception):
    """The request head breaks RFC 9112 §5; `status` is the answer (400, or 431 for size)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Headers:
    """A request's header lines in order, names as sent; lookups ignore case."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def items(self) -> list[tuple[str, str]]:
        return self._items

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        wanted = name.lower()
        found = [value for key, value in self._items if key.lower() == wanted]
        return found or default

    def get(self, name: str, default: str | None = None) -> str | None:
        found = self.get_all(name)
        return found[0] if found else default


class LineReader(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def read_head(rfile: LineReader) -> Headers:
    """The header lines up to the blank line that ends the head."""
    items: list[tuple[str, str]] = []
    while True:
        line = rfile.readline(MAX_HEADER_LINE_BYTES + 1)
        if len(line) > MAX_HEADER_LINE_BYTES:
            raise BadHead(431, "header line too long")
        if line in (b"\r\n", b"\n"):
            return Headers(items)
        if not line.endswith(b"\n"):
            raise BadHead(400, "request head ended early")
        if len(items) == MAX_HEADERS:
            raise BadHead(431, f"more than {MAX_HEADERS} headers")
        text = line.decode("iso-8859-1").rstrip("\r\n")
        name, colon, value = text.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            # no colon, a folded continuation line, or whitespace before the colon (RFC 9112 §5.1)
            raise BadHead(400, "malformed header line")
        items.append((name, value.strip(" \t")))


_dates: tuple[int, str] = (0, "")


def http_date(now: float) -> str:
    """The Date header's value, formatted once a second."""
    global _dates
    second = int(now)
    if _dates[0] != second:
        _dates = (second, formatdate(second, usegmt=True))
    return _dates[1]


class BadFraming(Exception):
    """The request's body framing is malformed; the connection cannot be read further."""


class BodyTooLarge(Exception):
    pass


def make_handler(
    gateway: Gateway, max_body_bytes: int, read_timeout: float = READ_TIMEOUT_SECONDS
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "molecule-local"
        # Headers and body go out in two writes; without TCP_NODELAY a kept-alive client waits
        # ~40 ms for the delayed ACK on every response.
        disable_nagle_algorithm = True
        timeout = read_timeout  # socketserver applies it to every read on the connection

        def parse_request(self) -> bool:
            """The request line as the standard library reads it, the head by `read_head`."""
            self.command = ""
            self.request_version = version = self.default_request_version
            self.close_connection = True
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            words = self.requestline.split()
            if len(words) != 3:
                self.request_version = "HTTP/1.1"  # answered with a status line, not as HTTP/0.9
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad request line")
                return False
            self.command, self.path, version = words
            self.request_version = version
            if version not in ("HTTP/1.0", "HTTP/1.1"):
                if re.fullmatch(r"HTTP/\d+(\.\d+)?", version):
                    self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({version})")
                else:
                    self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if self.path.startswith("//"):
                self.path = "/" + self.path.lstrip("/")  # not a scheme-relative URL (gh-87389)
            try:
                self.headers = read_head(self.rfile)  # type: ignore[assignment]  # the lookups used here
            except BadHead as bad:
                self.send_error(bad.status, str(bad))
                return False
            connection = {token.strip().lower() for token in (self.headers.get("Connection") or "").split(",")}
            self.close_connection = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
            if (self.headers.get("Expect") or "").lower() == "100-continue":
                return self.handle_expect_100()
            return True

        def _read_exactly(self, size: int, what: str) -> bytes:
            data = self.rfile.read(size)
            if len(data) < size:
                raise BadFraming(f"{what} ended early")
            return data

        def _read_line(self, what: str) -> bytes:
            line = self.rfile.readline(MAX_LINE_BYTES + 1)
            if not line.endswith(b"\n") or len(line) > MAX_LINE_BYTES:
                raise BadFraming(f"malformed {what}")
            return line

        def _read_chunked(self) -> bytes:
            chunks, total = [], 0
            while True:
                size_field = self._read_line("chunk size line").split(b";", 1)[0].strip()
                if not _CHUNK_SIZE.fullmatch(size_field):
                    raise BadFraming("invalid chunk size")
                size = int(size_field, 16)
                if size == 0:
                    break
                total += size
                if total > max_body_bytes:
                    raise BodyTooLarge
                chunks.append(self._read_exactly(size, "chunk"))
                if self._read_line("chunk end") not in (b"\r\n", b"\n"):
                    raise BadFraming("chunk not followed by CRLF")
            while self._read_line("trailer") not in (b"\r\n", b"\n"):
                pass  # trailers carry nothing the gateway forwards
            return b"".join(chunks)

        def _read_body(self) -> bytes:
            codings = [c.strip().lower() for v in self.headers.get_all("Transfer-Encoding", []) for c in v.split(",")]
            lengths = {v.strip() for v in self.headers.get_all("Content-Length", []) for v in v.split(",")}
            if codings:
                if lengths:
                    raise BadFraming("both Transfer-Encoding and Content-Length")
                if codings != ["chunked"]:
                    raise BadFraming("unsupported Transfer-Encoding")
                return self._read_chunked()
            if not lengths:
                return b""
            if len(lengths) != 1 or not next(iter(lengths)).isdigit():
                raise BadFraming("invalid Content-Length")
            length = int(next(iter(lengths)))
            if length > max_body_bytes:
                raise BodyTooLarge
            return self._read_exactly(length, "body") if length else b""

        def _serve(self) -> None:
            try:
                body = self._read_body()
            except BodyTooLarge:
                self._refuse(413, b'{"message":"Request Entity Too Large"}')
                return
            except (BadFraming, TimeoutError):
                self._refuse(400, b'{"message":"Bad Request"}')
                return
            # Work the answer need not wait for (platform/deferred.py) runs once it is written,
            # before this connection's next request is read.
            with deferred.after_answer():
                result = gateway.handle(self.command, self.path, list(self.headers.items()), body, stream=True)
                if result.chunks is not None:
                    self._write_stream(result.status, result.headers, result.chunks)
                else:
                    self._write(result.status, result.headers, result.body)

        def _refuse(self, status: int, body: bytes) -> None:
            """Answer and close: after a framing error the rest of the stream cannot be parsed."""
            self._write(status, {"content-type": "application/json"}, body, close=True)

        def _write(self, status: int, headers: dict[str, str], body: bytes, *, close: bool = False) -> None:
            """The status line, the headers and the body in one write."""
            lines = [
                f"{self.protocol_version} {status} {_reason(status)}",
                f"Server: {self.server_version}",
                f"Date: {http_date(time.time())}",
                *(f"{name}: {value}" for name, value in headers.items() if name.lower() not in _DROPPED),
                f"Content-Length: {len(body)}",
            ]
            if close or self.close_connection:
                lines.append("Connection: close")
                self.close_connection = True
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
            self.wfile.write(head if self.command == "HEAD" else head + body)

        def _write_stream(self, status: int, headers: dict[str, str], chunks: Iterator[bytes]) -> None:
            """A streamed answer in chunked encoding, each chunk sent (and flushed) as it comes —
            what a function URL in response-streaming mode does."""
            try:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in _DROPPED:
                        self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in chunks:
                    if chunk:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the caller left; the stream ends here
            finally:
                close = getattr(chunks, "close", None)
                if callable(close):
                    close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: object) -> None:
            return  # requests are logged by the functions themselves

    return Handler


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
