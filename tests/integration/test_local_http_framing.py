"""The local API server's HTTP framing (issue 12 item 12): a request whose Content-Length or chunked
encoding is malformed gets a 400 and the connection closed, instead of a hang or a dropped
connection; a well-framed body (plain or chunked, with extensions and trailers) still works.
Raw sockets on 127.0.0.1, a short read timeout on the server so a wait is seconds, not minutes."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from molecule_local.gateway import Gateway, RouteTable
from molecule_local.lambdas import FunctionRegistry
from molecule_local.stack import HttpService

CLIENT_TIMEOUT = 10.0  # a test that waits this long has found a hang


@pytest.fixture
def server(database: str, functions: FunctionRegistry, routes: RouteTable) -> Iterator[tuple[str, int]]:
    service = HttpService(Gateway(routes, functions), "127.0.0.1", 0, read_timeout=1.0)
    service.start()
    try:
        yield service.server.server_address[:2]
    finally:
        service.stop()


def exchange(address: tuple[str, int], raw: bytes, *, half_close: bool = False) -> bytes:
    """Send `raw`, then read until the server closes the connection (or the test times out)."""
    with socket.create_connection(address, timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def request(headers: str, body: bytes = b"") -> bytes:
    return f"POST /registry/check-access HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode() + body


def status_of(response: bytes) -> int:
    assert response, "the server closed the connection without answering"
    return int(response.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("label", "raw", "half_close"),
    [
        ("non-numeric Content-Length", request("Content-Length: ten\r\n", b"{}"), False),
        ("negative Content-Length", request("Content-Length: -5\r\n", b"{}"), False),
        ("two different Content-Lengths", request("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}x"), False),
        (
            "Content-Length and chunked",
            request("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"),
            False,
        ),
        ("body shorter than its Content-Length, then EOF", request("Content-Length: 50\r\n", b"{}"), True),
        ("body shorter than its Content-Length, then silence", request("Content-Length: 50\r\n", b"{}"), False),
        ("invalid chunk size", request("Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"), False),
        ("chunk without its CRLF", request("Transfer-Encoding: chunked\r\n", b"2\r\n{}XX0\r\n\r\n"), False),
        ("truncated chunk, then EOF", request("Transfer-Encoding: chunked\r\n", b"10\r\n{}"), True),
        ("missing last chunk, then silence", request("Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n"), False),
        ("unsupported transfer coding", request("Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), False),
    ],
)
def test_malformed_framing_is_400_and_the_connection_closed(
    server: tuple[str, int], label: str, raw: bytes, half_close: bool
) -> None:
    response = exchange(server, raw, half_close=half_close)

    assert status_of(response) == 400, label
    assert b"connection: close" in response.lower()
    assert response.endswith(b'{"message":"Bad Request"}')


def test_a_chunked_body_with_extensions_and_trailers_is_read_whole(server: tuple[str, int]) -> None:
    payload = f'{{"caller_id":"{uuid.uuid4()}","target_id":"{uuid.uuid4()}"}}'.encode()
    first, rest = payload[:10], payload[10:]
    body = b"%x;name=value\r\n%s\r\n%X\r\n%s\r\n0\r\nX-Trailer: yes\r\n\r\n" % (len(first), first, len(rest), rest)
    raw = request("Transfer-Encoding: chunked\r\nConnection: close\r\nContent-Type: application/json\r\n", body)

    response = exchange(server, raw)

    # the whole body reached the function (a fresh install fails open outside production)
    assert status_of(response) == 200
    assert response.endswith(b'{"allowed":false}')


def test_a_well_framed_request_after_another_on_the_same_connection_is_answered(server: tuple[str, int]) -> None:
    first = "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    second = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    response = exchange(server, (first + second).encode())

    assert response.count(b'{"status":"ok"}') == 2


def get_health(headers: str, version: str = "HTTP/1.1") -> bytes:
    return f"GET /health {version}\r\nHost: x\r\n{headers}\r\n".encode()


@pytest.mark.parametrize(
    ("label", "raw", "status"),
    [
        ("whitespace before the colon", get_health("Accept : */*\r\n"), 400),
        ("an obsolete folded line", get_health("Accept: text/plain,\r\n text/html\r\n"), 400),
        ("a line without a colon", get_health("Accept\r\n"), 400),
        ("a header line over 64 KiB", get_health(f"X-Big: {'a' * 70_000}\r\n"), 431),
        ("more than 100 headers", get_health("".join(f"X-{n}: {n}\r\n" for n in range(101))), 431),
        ("an HTTP version the server does not speak", get_health("", "HTTP/2.0"), 505),
        ("no HTTP version", b"GET /health\r\n\r\n", 400),
    ],
)
def test_a_malformed_request_head_is_refused_and_the_connection_closed(
    server: tuple[str, int], label: str, raw: bytes, status: int
) -> None:
    response = exchange(server, raw)

    assert status_of(response) == status, label
    assert b"connection: close" in response.lower()


def test_an_answer_has_date_and_length_and_the_connection_stays_open(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(get_health("Accept: */*\r\n"))
        received = b""
        while not received.endswith(b'{"status":"ok"}'):
            chunk = sock.recv(65536)
            assert chunk, "the server closed a kept-alive connection"
            received += chunk
        sock.sendall(get_health("Connection: close\r\n"))
        second = b""
        while chunk := sock.recv(65536):
            second += chunk

    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    fields = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}
    assert fields["content-length"] == str(len(body))
    assert fields["date"].endswith(" GMT")
    assert "connection" not in fields
    assert status_of(second) == 200  # over the same connection
    assert b"connection: close" in second.lower()
