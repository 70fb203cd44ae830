"""The socket side of the local API Gateway: read the HTTP request, hand it to the Gateway, write
the response."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

from molecule_local.gateway import Gateway


def make_handler(gateway: Gateway, max_body_bytes: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "molecule-local"
        # Headers and body go out in two writes; without TCP_NODELAY a kept-alive client waits
        # ~40 ms for the delayed ACK on every response.
        disable_nagle_algorithm = True

        def _read_body(self) -> bytes | None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                total = 0
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    total += size
                    if total > max_body_bytes:
                        return None
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            if length > max_body_bytes:
                return None
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            body = self._read_body()
            if body is None:
                self._write(413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
                self.close_connection = True
                return
            result = gateway.handle(self.command, self.path, list(self.headers.items()), body, stream=True)
            if result.chunks is not None:
                self._write_stream(result.status, result.headers, result.chunks)
            else:
                self._write(result.status, result.headers, result.body)

        def _write(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
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
