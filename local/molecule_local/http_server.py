"""The socket side of the local API Gateway: read the HTTP request, hand it to the Gateway, write
the response.

The body is framed the way RFC 9112 §6 says, and a request that is not is answered 400 with the
connection closed (like API Gateway) — never read forever, never dropped without an answer:
Content-Length must be one non-negative number and the body that long; `Transfer-Encoding` must
be exactly `chunked` (no Content-Length beside it: that is how requests are smuggled), with
well-formed chunk sizes (extensions allowed), each chunk followed by CRLF, a last chunk and the
trailers' blank line. Reads time out after `read_timeout` seconds of silence (a client that
declared more than it sends)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

from molecule_local.gateway import Gateway

MAX_LINE_BYTES = 8192
READ_TIMEOUT_SECONDS = 30.0
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


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
            result = gateway.handle(self.command, self.path, list(self.headers.items()), body, stream=True)
            if result.chunks is not None:
                self._write_stream(result.status, result.headers, result.chunks)
            else:
                self._write(result.status, result.headers, result.body)

        def _refuse(self, status: int, body: bytes) -> None:
            """Answer and close: after a framing error the rest of the stream cannot be parsed."""
            self._write(status, {"content-type": "application/json"}, body, close=True)

        def _write(self, status: int, headers: dict[str, str], body: bytes, *, close: bool = False) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")  # also sets close_connection
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _write_stream(self, status: int, headers: dict[str, str], chunks: Iterator[bytes]) -> None:
            """A streamed answer in chunked encoding, each chunk sent (and flushed) as it comes —
            what a function URL in response-streaming mode does."""
            try:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
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
