"""`agents.keepalive`, the client of every push delivery (`agents.service.post_json`): connections
kept per agent origin and reused only while quiet and fresh, the pinned resolution over TLS too,
and each failure read as what it means for the message. Real servers on 127.0.0.1."""

from __future__ import annotations

import datetime
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from molecule_core.agents import keepalive
from molecule_core.agents.service import AgentBusy, AgentTimeout, AgentUnreachable, post_json

from bench.support import free_port
from tests.conftest import set_env

BODY = b'{"jsonrpc":"2.0","id":"1","method":"message/send"}'
HEADERS = {"content-type": "application/json"}

# One connection's exchange: (the request bytes, what to do) -> keep serving this connection?
Script = Callable[[bytes, socket.socket], bool]


class RawServer:
    """A TCP server on 127.0.0.1 that reads each request head+body and runs `script` on it; it
    records each request and the client port it came from (a new port: a new connection)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[tuple[int, bytes]] = []
        self.closed = threading.Event()  # set when the server closed a connection itself
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/a2a"

    def _accept(self) -> None:
        while True:
            try:
                conn, (_, port) = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, port), daemon=True).start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        with conn:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, rest = buffered.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                buffered = rest[length:]
                self.requests.append((port, head + b"\r\n\r\n" + rest[:length]))
                if not self.script(head, conn):
                    conn.close()
                    self.closed.set()
                    return

    def stop(self) -> None:
        self.listener.close()


def answer(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
        + body
    )


def keep_serving(head: bytes, conn: socket.socket) -> bool:
    conn.sendall(answer())
    return True


@pytest.fixture(autouse=True)
def development(platform_env: pytest.MonkeyPatch) -> Iterator[None]:
    set_env(platform_env, MOLECULE_ENV="development")  # loopback agents are allowed
    keepalive.close_idle()
    yield
    keepalive.close_idle()


@contextmanager
def serving(script: Script) -> Iterator[RawServer]:
    server = RawServer(script)
    try:
        yield server
    finally:
        server.stop()


def test_calls_to_one_agent_reuse_one_connection(platform_env: pytest.MonkeyPatch) -> None:
    with serving(keep_serving) as server:
        answers = [post_json(server.url, BODY, HEADERS, budget_seconds=5) for _ in range(3)]

    assert [a.status for a in answers] == [200, 200, 200]
    assert answers[0].body == b'{"ok":true}' and answers[0].headers["content-type"] == "application/json"
    assert len({port for port, _ in server.requests}) == 1
    first = server.requests[0][1]
    assert first.startswith(b"POST /a2a HTTP/1.1\r\n") and first.endswith(BODY)
    assert b"\r\nHost: 127.0.0.1:" in first


def test_a_connection_the_agent_closed_while_idle_is_not_written_to(platform_env: pytest.MonkeyPatch) -> None:
    def answer_then_close(head: bytes, conn: socket.socket) -> bool:
        conn.sendall(answer())  # keep-alive by the protocol, closed right after anyway
        return False

    with serving(answer_then_close) as server:
        assert post_json(server.url, BODY, HEADERS, budget_seconds=5).status == 200
        assert server.closed.wait(5)

        second = post_json(server.url, BODY, HEADERS, budget_seconds=5)  # not AgentBusy

    assert second.status == 200
    assert len({port for port, _ in server.requests}) == 2


def test_a_connection_idle_past_the_expiry_is_not_reused(platform_env: pytest.MonkeyPatch) -> None:
    platform_env.setattr(keepalive, "IDLE_EXPIRY_SECONDS", 0.0)
    with serving(keep_serving) as server:
        for _ in range(2):
            assert post_json(server.url, BODY, HEADERS, budget_seconds=5).status == 200

    assert len({port for port, _ in server.requests}) == 2


def test_an_answer_that_says_close_is_not_kept(platform_env: pytest.MonkeyPatch) -> None:
    def close_by_header(head: bytes, conn: socket.socket) -> bool:
        conn.sendall(answer(extra="Connection: close\r\n"))
        return False

    with serving(close_by_header) as server:
        for _ in range(2):
            assert post_json(server.url, BODY, HEADERS, budget_seconds=5).status == 200

    assert len({port for port, _ in server.requests}) == 2


def test_repeated_answer_headers_are_joined_and_names_lower_cased(platform_env: pytest.MonkeyPatch) -> None:
    def two_links(head: bytes, conn: socket.socket) -> bool:
        conn.sendall(answer(extra="Link: <a>\r\nLINK: <b>\r\n"))
        return True

    with serving(two_links) as server:
        result = post_json(server.url, BODY, HEADERS, budget_seconds=5)

    assert result.headers["link"] == "<a>, <b>"


def test_a_chunked_answer_is_read_whole(platform_env: pytest.MonkeyPatch) -> None:
    def chunked(head: bytes, conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        return True

    with serving(chunked) as server:
        assert post_json(server.url, BODY, HEADERS, budget_seconds=5).body == b"abcde"


def test_the_answer_head_is_read_without_the_email_parser(platform_env: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("http.client.parse_headers called")

    platform_env.setattr(http.client, "parse_headers", refuse)
    with serving(keep_serving) as server:
        result = post_json(server.url, BODY, HEADERS, budget_seconds=5)

    assert (result.status, result.body, result.headers["content-type"]) == (200, b'{"ok":true}', "application/json")


def test_an_interim_answer_and_a_line_that_is_no_header_are_skipped_and_a_folded_line_continues_its_header(
    platform_env: pytest.MonkeyPatch,
) -> None:
    def interim_then_folded(head: bytes, conn: socket.socket) -> bool:
        conn.sendall(
            b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
            + answer(extra="X-Long: a\r\n  b\r\nno colon here\r\nX-After: c\r\n")
        )
        return True

    with serving(interim_then_folded) as server:
        result = post_json(server.url, BODY, HEADERS, budget_seconds=5)

    assert (result.status, result.body) == (200, b'{"ok":true}')
    assert (result.headers["x-long"], result.headers["x-after"]) == ("a b", "c") and "x-interim" not in result.headers


def test_an_answer_without_a_length_is_read_to_the_close_and_its_connection_not_kept(
    platform_env: pytest.MonkeyPatch,
) -> None:
    def until_close(head: bytes, conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        return False

    with serving(until_close) as server:
        bodies = [post_json(server.url, BODY, HEADERS, budget_seconds=5).body for _ in range(2)]

    assert bodies == [b"all of it"] * 2
    assert len({port for port, _ in server.requests}) == 2


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 101 + b"Content-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * 70000 + b"\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/2 200\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["101 headers", "a 70 KB line", "not HTTP/1"],
)
def test_a_broken_answer_head_is_busy(platform_env: pytest.MonkeyPatch, head: bytes) -> None:
    def broken(request: bytes, conn: socket.socket) -> bool:
        conn.sendall(head)
        return False

    with serving(broken) as server, pytest.raises(AgentBusy):
        post_json(server.url, BODY, HEADERS, budget_seconds=5)


def test_a_refused_connection_is_unreachable(platform_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(AgentUnreachable):
        post_json(f"http://127.0.0.1:{free_port()}/", BODY, HEADERS, budget_seconds=5)


def test_an_agent_that_hangs_up_without_answering_is_busy(platform_env: pytest.MonkeyPatch) -> None:
    with serving(lambda head, conn: False) as server, pytest.raises(AgentBusy):
        post_json(server.url, BODY, HEADERS, budget_seconds=5)


def test_an_agent_that_does_not_answer_within_the_budget_times_out(platform_env: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def silent(head: bytes, conn: socket.socket) -> bool:
        release.wait(10)
        return False

    with serving(silent) as server:
        started = time.monotonic()
        with pytest.raises(AgentTimeout):
            post_json(server.url, BODY, HEADERS, budget_seconds=0.3)
        release.set()

    assert time.monotonic() - started < 5


def test_an_agent_url_that_is_not_http_is_unreachable(platform_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(AgentUnreachable):
        post_json("ftp://127.0.0.1/", BODY, HEADERS, budget_seconds=5)


# --- TLS: the name for SNI and the certificate, the checked address for the connection ----------


def self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls_checks_the_certificate_against_the_name_while_connecting_to_the_checked_address(
    platform_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = "agent.keepalive.test"
    cert, key = self_signed(tmp_path, name)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    seen_names: list[Any] = []
    server_context.sni_callback = lambda sock, server_name, context: seen_names.append(server_name)

    def tls(head: bytes, conn: socket.socket) -> bool:
        conn.sendall(answer())
        return True

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_tls() -> None:
        conn, _ = listener.accept()
        with server_context.wrap_socket(conn, server_side=True) as wrapped:
            data = b""
            while not data.endswith(BODY):
                data += wrapped.recv(65536)
            tls(data, wrapped)
            wrapped.recv(1)  # until the client closes

    threading.Thread(target=accept_tls, daemon=True).start()
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]
        return real(host, *args, **kwargs)

    platform_env.setattr(socket, "getaddrinfo", getaddrinfo)
    trusting = ssl.create_default_context(cafile=str(cert))
    platform_env.setattr(keepalive, "tls_context", lambda: trusting)

    result = post_json(f"https://{name}:{port}/", BODY, HEADERS, budget_seconds=5)
    listener.close()

    assert result.status == 200
    assert seen_names == [name]
    assert lookups == [name]  # resolved once, by the URL-safety rule; never by the socket itself


def test_tls_with_a_certificate_for_another_name_is_unreachable(
    platform_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, "someone-else.test")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_tls() -> None:
        conn, _ = listener.accept()
        try:
            with server_context.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass  # the client refused the certificate

    threading.Thread(target=accept_tls, daemon=True).start()
    trusting = ssl.create_default_context(cafile=str(cert))
    platform_env.setattr(keepalive, "tls_context", lambda: trusting)

    with pytest.raises(AgentUnreachable, match="TLS"):
        post_json(f"https://127.0.0.1:{port}/", BODY, HEADERS, budget_seconds=5)
    listener.close()
