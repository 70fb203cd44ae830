"""Chat files (SPEC §5.7) end to end through the function: real PostgreSQL, and a real agent on
127.0.0.1 that serves /internal/chat/uploads/ingest and /internal/file/read the way the spec says
(bearer = inbound secret), records what it gets, and answers as the test tells it. The targets are
external workspaces with a URL, so this is also the external-workspace path."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from molecule_core.files.service import MAX_RELAY_BYTES, REPROVISION_HINT

from tests.agents import closed_port_url
from tests.conftest import ApiClient, create_workspace
from tests.platform_path_corpus import HOSTILE

SECRET = "inbound-s3cret"
BOUNDARY = "----molecule-test-boundary"
PNG = bytes(range(256)) * 4 + b"\x89PNG\r\n\x1a\n\x00\xff"  # every byte value: not text, not UTF-8


def multipart(name: str, content: bytes, mime: str = "image/png") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        f"Content-Type: {mime}\r\n\r\n".encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FileAgent:
    """The agent side of §5.7, scripted: `files` is its disk; `answer` overrides any reply."""

    url: str = ""
    secret: str = SECRET
    files: dict[str, bytes] = field(default_factory=dict)
    answer: tuple[int, bytes] | None = None
    chunked: bool = False  # send files without Content-Length: the size is known only by reading
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
def file_agent() -> Iterator[FileAgent]:
    agent = FileAgent()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> Seen:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            seen = Seen(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            agent.seen.append(seen)
            return seen

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            try:
                if agent.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(body), 64 * 1024):
                        chunk = body[start : start + 64 * 1024]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the platform stopped reading: an oversized answer

        def _json(self, status: int, body: Any) -> None:
            self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

        def _authorised(self, seen: Seen) -> bool:
            if seen.headers.get("authorization") != f"Bearer {agent.secret}":
                self._json(401, {"error": "unauthorized"})
                return False
            if agent.answer is not None:
                self._send(agent.answer[0], agent.answer[1], {"Content-Type": "application/json"})
                return False
            return True

        def do_POST(self) -> None:
            seen = self._record()
            if seen.path != "/internal/chat/uploads/ingest":
                self._json(404, {"error": "not found"})
                return
            if self._authorised(seen):
                self._json(200, {"files": [{"uri": "workspace:/x.png", "name": "x.png", "mimeType": "image/png"}]})

        def do_GET(self) -> None:
            seen = self._record()
            if seen.path != "/internal/file/read":
                self._json(404, {"error": "not found"})
                return
            if not self._authorised(seen):
                return
            path = seen.query.get("path", [""])[0]
            if path not in agent.files:
                self._json(404, {"error": "file not found"})
                return
            self._send(
                200,
                agent.files[path],
                {
                    "Content-Type": "image/png",
                    "Content-Disposition": f'attachment; filename="{path.rsplit("/", 1)[-1]}"',
                },
            )

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    agent.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        server.shutdown()
        server.server_close()


def _external_push(api: ApiClient, admin: str, url: str) -> str:
    created = create_workspace(api, admin, name="files", external=True, url=url)
    api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"}, token=admin)
    return str(created["id"])


def _set_secret(database: str, workspace_id: str, secret: str | None) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspaces SET platform_inbound_secret = %s WHERE id = %s", (secret, workspace_id))


def _secret(database: str, workspace_id: str) -> str | None:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT platform_inbound_secret FROM workspaces WHERE id = %s", (workspace_id,)).fetchone()
    return row[0] if row else None


@pytest.fixture
def target(api: ApiClient, dev: str, file_agent: FileAgent, database: str) -> str:
    """An external push workspace pointing at the file agent, with the agent's secret."""
    workspace_id = _external_push(api, dev, file_agent.url)
    _set_secret(database, workspace_id, SECRET)
    return workspace_id


def _upload(api: ApiClient, token: str, workspace_id: str, body: bytes, content_type: str = MULTIPART_TYPE) -> Any:
    return api.post(
        f"/workspaces/{workspace_id}/chat/uploads", body=body, headers={"content-type": content_type}, token=token
    )


def _download(api: ApiClient, token: str, workspace_id: str, path: str) -> Any:
    from urllib.parse import quote

    return api.get(f"/workspaces/{workspace_id}/chat/download?path={quote(path, safe='')}", token=token)


# --- upload -----------------------------------------------------------------------------------


def test_upload_forwards_the_exact_multipart_bytes_with_bearer_and_relays_the_answer(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str
) -> None:
    body = multipart("shot.png", PNG)
    result = _upload(api, dev, target, body)
    assert result.status == 200, result.text
    assert result.json()["files"][0]["name"] == "x.png"
    assert result.headers["content-type"] == "application/json"
    [seen] = file_agent.seen
    assert (seen.method, seen.path) == ("POST", "/internal/chat/uploads/ingest")
    assert seen.body == body  # byte for byte, binary included
    assert seen.headers["content-type"] == MULTIPART_TYPE
    assert seen.headers["authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (413, {"error": "file too large: shot.png"}),
        (400, {"error": "missing 'files' field"}),
        (404, {"error": "not found"}),
    ],
)
def test_upload_agent_error_passes_through_unchanged(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str, status: int, answer: dict[str, str]
) -> None:
    file_agent.answer = (status, json.dumps(answer).encode())
    result = _upload(api, dev, target, multipart("shot.png", PNG))
    assert result.status == status
    assert result.json() == answer


def test_an_upload_answer_that_is_not_utf8_is_relayed_byte_for_byte(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str
) -> None:
    file_agent.answer = (200, b'{"files":[{"name":"caf\xe9.png"}]}')  # Latin-1, not the JSON it claims
    result = _upload(api, dev, target, multipart("shot.png", PNG))
    assert result.status == 200 and result.body == b'{"files":[{"name":"caf\xe9.png"}]}'


def test_upload_with_a_secret_the_agent_does_not_know_passes_its_401_through(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str, database: str
) -> None:
    _set_secret(database, target, "stale-secret")
    result = _upload(api, dev, target, multipart("shot.png", PNG))
    assert result.status == 401
    assert result.json() == {"error": "unauthorized"}


def test_upload_that_is_not_multipart_is_400_and_not_forwarded(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str
) -> None:
    result = api.post(f"/workspaces/{target}/chat/uploads", json_body={"files": []}, token=dev)
    assert result.status == 400
    assert "multipart/form-data" in result.json()["error"]
    assert file_agent.seen == []


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data; boundary=\u20ac", "multipart/form-data; boundary=\u00fc"]
)
def test_upload_whose_content_type_is_not_printable_ascii_is_400_and_not_forwarded(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str, content_type: str
) -> None:
    result = api.post(
        f"/workspaces/{target}/chat/uploads",
        body=multipart("shot.png", PNG),
        token=dev,
        headers={"Content-Type": content_type},
    )
    assert result.status == 400, result.text
    assert file_agent.seen == []


def test_upload_over_the_relay_limit_is_413_before_forwarding(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str
) -> None:
    result = _upload(api, dev, target, multipart("big.bin", b"\xff" * MAX_RELAY_BYTES))
    assert result.status == 413
    assert "file too large for the platform to relay (limit 4.5 MiB)" in result.json()["error"]
    assert file_agent.seen == []


def test_upload_to_an_unreachable_agent_is_502(api: ApiClient, dev: str, database: str) -> None:
    workspace_id = _external_push(api, dev, closed_port_url())
    _set_secret(database, workspace_id, SECRET)
    result = _upload(api, dev, workspace_id, multipart("shot.png", PNG))
    assert result.status == 502
    assert result.json()["error"] == "agent unreachable"


def test_upload_needs_the_workspace_token_or_an_admin(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str
) -> None:
    result = api.post(
        f"/workspaces/{target}/chat/uploads",
        body=multipart("shot.png", PNG),
        headers={"content-type": MULTIPART_TYPE},
    )
    assert result.status == 401
    assert file_agent.seen == []


# --- download ---------------------------------------------------------------------------------


def test_download_relays_the_bytes_and_the_three_headers(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str
) -> None:
    file_agent.files["/workspace/.chat_uploads/shot 1.png"] = PNG
    result = _download(api, dev, target, "/workspace/.chat_uploads/shot 1.png")
    assert result.status == 200, result.text
    assert result.body == PNG
    assert result.headers["content-type"] == "image/png"
    assert result.headers["content-length"] == str(len(PNG))
    assert result.headers["content-disposition"] == 'attachment; filename="shot 1.png"'
    [seen] = file_agent.seen
    assert (seen.method, seen.path) == ("GET", "/internal/file/read")
    assert seen.query == {"path": ["/workspace/.chat_uploads/shot 1.png"]}
    assert seen.headers["authorization"] == f"Bearer {SECRET}"


def test_download_of_a_missing_file_stays_404(api: ApiClient, dev: str, file_agent: FileAgent, target: str) -> None:
    result = _download(api, dev, target, "/workspace/nope.txt")
    assert result.status == 404
    assert result.json() == {"error": "file not found"}


@pytest.mark.parametrize("status", [400, 413])
def test_download_agent_error_passes_through_unchanged(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str, status: int
) -> None:
    file_agent.answer = (status, json.dumps({"error": f"agent says {status}"}).encode())
    result = _download(api, dev, target, "/workspace/x.txt")
    assert result.status == status
    assert result.json() == {"error": f"agent says {status}"}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_download_over_the_relay_limit_is_413(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str, chunked: bool
) -> None:
    file_agent.chunked = chunked
    file_agent.files["/workspace/huge.bin"] = b"\x00" * (MAX_RELAY_BYTES + 1)
    result = _download(api, dev, target, "/workspace/huge.bin")
    assert result.status == 413
    assert "file too large for the platform to relay (limit 4.5 MiB)" in result.json()["error"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_download_exactly_at_the_relay_limit_is_relayed(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str, chunked: bool
) -> None:
    file_agent.chunked = chunked
    file_agent.files["/workspace/edge.bin"] = b"\xfe" * MAX_RELAY_BYTES
    result = _download(api, dev, target, "/workspace/edge.bin")
    assert result.status == 200
    assert result.body == b"\xfe" * MAX_RELAY_BYTES


@pytest.mark.parametrize(("path", "reason"), HOSTILE[1:], ids=[repr(p)[:40] for p, _ in HOSTILE[1:]])
def test_download_of_an_invalid_path_is_400_and_nothing_is_forwarded(
    api: ApiClient, dev: str, file_agent: FileAgent, target: str, path: str, reason: str
) -> None:
    result = _download(api, dev, target, path)
    assert result.status == 400
    assert reason in result.json()["error"]
    assert file_agent.seen == []


def test_download_without_a_path_is_400(api: ApiClient, dev: str, file_agent: FileAgent, target: str) -> None:
    result = api.get(f"/workspaces/{target}/chat/download", token=dev)
    assert result.status == 400
    assert result.json()["error"] == "path is required"
    assert file_agent.seen == []


def test_download_from_an_unreachable_agent_is_502(api: ApiClient, dev: str, database: str) -> None:
    workspace_id = _external_push(api, dev, closed_port_url())
    _set_secret(database, workspace_id, SECRET)
    result = _download(api, dev, workspace_id, "/workspace/x.txt")
    assert result.status == 502
    assert result.json()["error"] == "agent unreachable"


# --- resolve_forward_target: every branch, through both routes ---------------------------------


def _call(op: str, api: ApiClient, token: str, workspace_id: str) -> Any:
    if op == "upload":
        return _upload(api, token, workspace_id, multipart("shot.png", PNG))
    return _download(api, token, workspace_id, "/workspace/x.txt")


BOTH = pytest.mark.parametrize("op", ["upload", "download"])


@BOTH
def test_missing_secret_is_minted_and_the_caller_told_to_retry_in_30s(
    op: str, api: ApiClient, dev: str, file_agent: FileAgent, database: str
) -> None:
    workspace_id = _external_push(api, dev, file_agent.url)
    _set_secret(database, workspace_id, None)  # a row from before inbound secrets, or whose mint failed
    result = _call(op, api, dev, workspace_id)
    assert result.status == 503
    assert result.json()["retry_after_seconds"] == 30
    assert result.headers["retry-after"] == "30"
    minted = _secret(database, workspace_id)
    assert minted and len(minted) == 43
    assert file_agent.seen == []  # the agent does not know the secret yet
    # once the agent has learned it (its next register), the same call goes through
    file_agent.secret = minted
    file_agent.files["/workspace/x.txt"] = b"hello"
    assert _call(op, api, dev, workspace_id).status == 200


@BOTH
def test_failed_mint_is_503_with_the_reprovision_hint(
    op: str, api: ApiClient, dev: str, file_agent: FileAgent, database: str, request: pytest.FixtureRequest
) -> None:
    workspace_id = _external_push(api, dev, file_agent.url)
    _set_secret(database, workspace_id, None)  # a row without a secret...
    request.getfixturevalue("refuse_secret_writes")  # ...that cannot get one now
    result = _call(op, api, dev, workspace_id)
    assert result.status == 503
    assert result.json()["hint"] == REPROVISION_HINT
    assert "retry-after" not in result.headers
    assert _secret(database, workspace_id) is None
    assert file_agent.seen == []


def test_download_of_an_agent_path_from_a_workspace_without_url_is_503(api: ApiClient, dev: str, database: str) -> None:
    # (an upload for such a workspace is staged by the platform: tests/integration/test_staged_files.py)
    workspace_id = str(create_workspace(api, dev, name="poll", external=True)["id"])
    result = _call("download", api, dev, workspace_id)
    assert result.status == 503
    assert result.json()["error"].startswith("workspace has no URL")
    assert _secret(database, workspace_id) is None  # nothing to heal for: no agent to call


@BOTH
def test_unknown_workspace_is_404(op: str, api: ApiClient, dev: str) -> None:
    result = _call(op, api, dev, "00000000-0000-4000-8000-000000000001")
    assert result.status == 404


@BOTH
def test_removed_workspace_is_404(op: str, api: ApiClient, dev: str, file_agent: FileAgent, target: str) -> None:
    assert api.delete(f"/workspaces/{target}", token=dev).status in (200, 202, 204)
    result = _call(op, api, dev, target)
    assert result.status == 404
    assert file_agent.seen == []
