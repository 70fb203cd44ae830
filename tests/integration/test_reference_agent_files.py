"""The reference agent's chat-file endpoints over real HTTP: its ASGI app under uvicorn on 127.0.0.1,
with multipart streamed by a real client and the download streamed back (SPEC §5.7, §6)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from reference_agent.app import create_app
from reference_agent.config import FileSettings
from reference_agent.credentials import INBOUND_SECRET_FILE, CredentialStore
from reference_agent.files import CHAT_UPLOADS_DIR
from reference_agent.state import AgentState

from tests.agent_path_corpus import HOSTILE, HOSTILE_RAW_QUERIES
from tests.agents import serve_agent_app

SECRET = "inbound-secret-for-tests"
AUTH = {"Authorization": f"Bearer {SECRET}"}
LIMIT = 4 * 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    store = CredentialStore(tmp_path / "config")
    store.save_inbound_secret(SECRET)
    return store


@pytest.fixture
def agent_url(store: CredentialStore) -> Iterator[str]:
    state = AgentState(name="files-agent", credentials=store)
    with serve_agent_app(create_app(state, FileSettings(max_upload_bytes=LIMIT))) as url:
        yield url


def test_upload_and_download_round_trip_over_http(agent_url: str, store: CredentialStore, tmp_path: Path) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several chunks, past Starlette's in-memory spool
    name = "скриншот 1.png"
    with httpx.Client(base_url=agent_url, timeout=30) as client:
        uploaded = client.post(
            "/internal/chat/uploads/ingest",
            files=[("files", (name, payload, "image/png")), ("files", ("../x.txt", b"tiny"))],
            headers=AUTH,
        )
        assert uploaded.status_code == 200, uploaded.text
        first, second = uploaded.json()["files"]
        assert first == {
            "uri": f"{CHAT_UPLOADS_DIR}/{name}",
            "name": name,
            "mimeType": "image/png",
            "size": len(payload),
        }
        assert second["name"] == "x.txt"

        with client.stream("GET", "/internal/file/read", params={"path": first["uri"]}, headers=AUTH) as download:
            assert download.status_code == 200
            assert download.headers["content-length"] == str(len(payload))
            assert download.headers["content-type"] == "image/png"
            assert download.headers["content-disposition"] == (
                f"attachment; filename=\"{'_' * 8} 1.png\"; filename*=UTF-8''{quote(name, safe='')}"
            )
            assert download.read() == payload

        # Past the limit: 413 naming the file, nothing stored.
        before = sorted(p.name for p in (store.config_dir / "files" / CHAT_UPLOADS_DIR.lstrip("/")).iterdir())
        too_big = client.post(
            "/internal/chat/uploads/ingest",
            files=[("files", ("ok.txt", b"ok")), ("files", ("huge.bin", b"\0" * (LIMIT + 1)))],
            headers=AUTH,
        )
        assert too_big.status_code == 413
        assert too_big.json() == {"error": "file too large", "file": "huge.bin"}
        after = sorted(p.name for p in (store.config_dir / "files" / CHAT_UPLOADS_DIR.lstrip("/")).iterdir())
        assert after == before


def test_hostile_paths_and_symlinks_over_http(agent_url: str, store: CredentialStore, tmp_path: Path) -> None:
    root = store.config_dir / "files"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not leak")
    (root / "workspace").mkdir()
    (root / "workspace" / "link.txt").symlink_to(outside / "secret.txt")
    (root / "workspace" / "dir").symlink_to(outside, target_is_directory=True)

    with httpx.Client(base_url=agent_url, timeout=30) as client:
        for path, _ in HOSTILE:
            response = client.get("/internal/file/read", params={"path": path}, headers=AUTH)
            assert response.status_code == 400, (path, response.text)
        for query in HOSTILE_RAW_QUERIES:
            response = client.get(f"/internal/file/read?{query}", headers=AUTH)
            assert response.status_code == 400, (query, response.text)
        for path in ("/workspace/link.txt", "/workspace/dir/secret.txt"):
            response = client.get("/internal/file/read", params={"path": path}, headers=AUTH)
            assert response.status_code == 404
            assert b"do not leak" not in response.content


def test_no_stored_secret_fails_closed_over_http(agent_url: str, store: CredentialStore) -> None:
    (store.config_dir / INBOUND_SECRET_FILE).unlink()
    with httpx.Client(base_url=agent_url, timeout=30) as client:
        ingest = client.post("/internal/chat/uploads/ingest", files={"files": ("a.txt", b"x")}, headers=AUTH)
        read = client.get("/internal/file/read", params={"path": "/workspace/a.txt"}, headers=AUTH)
    assert ingest.status_code == 401 and read.status_code == 401
