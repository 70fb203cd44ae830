"""The reference agent's chat-file endpoints (SPEC §5.7, §6): POST /internal/chat/uploads/ingest and
GET /internal/file/read, through its ASGI app in process — bearer rule, path matrix, symlink
refusal, per-file limit, name sanitisation, and the upload → download round trip."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from reference_agent.app import create_app
from reference_agent.config import FileSettings
from reference_agent.credentials import INBOUND_SECRET_FILE, CredentialStore
from reference_agent.files import (
    CHAT_UPLOADS_DIR,
    PathRejected,
    content_disposition,
    sanitize_filename,
    validate_path,
)
from reference_agent.state import AgentState

from tests.agent_path_corpus import HOSTILE, HOSTILE_RAW_QUERIES, LEGITIMATE

SECRET = "inbound-secret-for-tests"
AUTH = {"Authorization": f"Bearer {SECRET}"}
INGEST = "/internal/chat/uploads/ingest"
READ = "/internal/file/read"


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    store = CredentialStore(tmp_path / "config")
    store.save_inbound_secret(SECRET)
    return store


@pytest.fixture
def root(store: CredentialStore) -> Path:
    return store.config_dir / "files"  # the default files root


@pytest.fixture
def uploads(root: Path) -> Path:
    return root / CHAT_UPLOADS_DIR.lstrip("/")


def _client(state: AgentState, files: FileSettings | None = None) -> Iterator[httpx.Client]:
    # httpx's sync client cannot drive an ASGI app; a tiny bridge runs each request in asyncio.
    transport = httpx.ASGITransport(app=create_app(state, files))

    class Bridge(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            async def send() -> httpx.Response:
                request.read()
                response = await transport.handle_async_request(request)
                content = await response.aread()
                return httpx.Response(response.status_code, headers=response.headers, content=content)

            return asyncio.run(send())

    with httpx.Client(transport=Bridge(), base_url="http://agent.test") as client:
        yield client


@pytest.fixture
def client(store: CredentialStore) -> Iterator[httpx.Client]:
    yield from _client(AgentState(name="files-agent", credentials=store))


def small_limit_client(store: CredentialStore, limit: int) -> Iterator[httpx.Client]:
    return _client(AgentState(name="files-agent", credentials=store), FileSettings(max_upload_bytes=limit))


def put(root: Path, agent_path: str, content: bytes) -> Path:
    target = root / agent_path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target


def upload(client: httpx.Client, *files: tuple[str, bytes], **kwargs: object) -> httpx.Response:
    return client.post(INGEST, files=[("files", (name, content)) for name, content in files], headers=AUTH, **kwargs)


# --- bearer --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SECRET}"}, {"Authorization": "Bearer "}],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
def test_both_endpoints_need_the_inbound_secret(
    client: httpx.Client, root: Path, uploads: Path, headers: dict[str, str]
) -> None:
    put(root, "/workspace/notes.txt", b"secret notes")

    ingest = client.post(INGEST, files={"files": ("a.txt", b"x")}, headers=headers)
    read = client.get(READ, params={"path": "/workspace/notes.txt"}, headers=headers)

    assert ingest.status_code == 401 and "inbound secret" in ingest.json()["error"]
    assert read.status_code == 401 and read.content != b"secret notes"
    assert not uploads.exists()


def test_no_stored_secret_fails_closed(client: httpx.Client, store: CredentialStore, root: Path, uploads: Path) -> None:
    put(root, "/workspace/notes.txt", b"secret notes")
    (store.config_dir / INBOUND_SECRET_FILE).unlink()

    for headers in ({}, AUTH, {"Authorization": "Bearer "}):
        assert client.post(INGEST, files={"files": ("a.txt", b"x")}, headers=headers).status_code == 401
        assert client.get(READ, params={"path": "/workspace/notes.txt"}, headers=headers).status_code == 401
    assert not uploads.exists()


def test_a_rotated_secret_applies_at_once(client: httpx.Client, store: CredentialStore, root: Path) -> None:
    put(root, "/workspace/notes.txt", b"n")
    store.save_inbound_secret("rotated")

    assert client.get(READ, params={"path": "/workspace/notes.txt"}, headers=AUTH).status_code == 401
    rotated = {"Authorization": "Bearer rotated"}
    assert client.get(READ, params={"path": "/workspace/notes.txt"}, headers=rotated).status_code == 200


# --- path matrix -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "reason"), HOSTILE, ids=[repr(p[:48]) for p, _ in HOSTILE])
def test_validate_path_refuses_hostile_paths(path: str, reason: str) -> None:
    with pytest.raises(PathRejected, match=reason):
        validate_path(path)


def test_the_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 25 and len(LEGITIMATE) >= 5


@pytest.mark.parametrize(("path", "reason"), HOSTILE, ids=[repr(p[:48]) for p, _ in HOSTILE])
def test_read_refuses_hostile_paths_with_400(client: httpx.Client, root: Path, path: str, reason: str) -> None:
    # A file the traversal would reach if it were followed.
    put(root, "/etc/passwd", b"root:x:0:0")

    response = client.get(READ, params={"path": path}, headers=AUTH)

    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


@pytest.mark.parametrize("query", HOSTILE_RAW_QUERIES)
def test_read_refuses_hostile_raw_queries(client: httpx.Client, root: Path, query: str) -> None:
    put(root, "/etc/passwd", b"root:x:0:0")

    response = client.get(f"{READ}?{query}", headers=AUTH)

    assert response.status_code == 400, response.text


@pytest.mark.parametrize("path", LEGITIMATE, ids=[repr(p[:48]) for p in LEGITIMATE])
def test_read_accepts_legitimate_paths(client: httpx.Client, root: Path, path: str) -> None:
    content = f"contents of {path}".encode()
    put(root, path, content)

    assert validate_path(path)
    response = client.get(READ, params={"path": path}, headers=AUTH)

    assert response.status_code == 200, response.text
    assert response.content == content
    assert response.headers["content-length"] == str(len(content))


def test_root_itself_and_directories_are_400(client: httpx.Client, root: Path) -> None:
    put(root, "/workspace/sub/file.txt", b"x")
    for path in ("/workspace", "/workspace/sub"):
        response = client.get(READ, params={"path": path}, headers=AUTH)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid path: is a directory"}


def test_missing_files_are_404(client: httpx.Client, root: Path) -> None:
    put(root, "/workspace/file.txt", b"x")
    for path in ("/workspace/nope.txt", "/home/agent/x", "/workspace/file.txt/child", "/plugins"):
        response = client.get(READ, params={"path": path}, headers=AUTH)
        assert response.status_code == 404, path
        assert response.json() == {"error": "not found"}


def test_missing_path_parameter_is_400(client: httpx.Client) -> None:
    response = client.get(READ, headers=AUTH)
    assert response.status_code == 400
    assert "required" in response.json()["error"]


def test_a_fifo_is_refused_without_blocking(client: httpx.Client, root: Path) -> None:
    (root / "workspace").mkdir(parents=True)
    os.mkfifo(root / "workspace" / "pipe")

    response = client.get(READ, params={"path": "/workspace/pipe"}, headers=AUTH)

    assert response.status_code == 400
    assert "regular file" in response.json()["error"]


# --- symlinks (refused with 404, as if absent) -----------------------------------------------------


def test_a_symlinked_file_pointing_outside_is_refused(client: httpx.Client, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-secret.txt"
    outside.write_bytes(b"do not leak")
    (root / "workspace").mkdir(parents=True)
    (root / "workspace" / "link.txt").symlink_to(outside)

    response = client.get(READ, params={"path": "/workspace/link.txt"}, headers=AUTH)

    assert response.status_code == 404
    assert response.json() == {"error": "not found"}
    assert b"do not leak" not in response.content


def test_a_symlinked_parent_directory_pointing_outside_is_refused(
    client: httpx.Client, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"do not leak")
    (root / "workspace").mkdir(parents=True)
    (root / "workspace" / "dir").symlink_to(outside, target_is_directory=True)

    response = client.get(READ, params={"path": "/workspace/dir/secret.txt"}, headers=AUTH)

    assert response.status_code == 404
    assert b"do not leak" not in response.content


def test_a_symlinked_root_is_refused(client: httpx.Client, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-home"
    outside.mkdir()
    (outside / "x.txt").write_bytes(b"do not leak")
    root.mkdir(parents=True)
    (root / "home").symlink_to(outside, target_is_directory=True)

    assert client.get(READ, params={"path": "/home/x.txt"}, headers=AUTH).status_code == 404


def test_even_a_symlink_inside_the_root_is_refused(client: httpx.Client, root: Path) -> None:
    put(root, "/workspace/real.txt", b"real")
    (root / "workspace" / "alias.txt").symlink_to(root / "workspace" / "real.txt")

    assert client.get(READ, params={"path": "/workspace/alias.txt"}, headers=AUTH).status_code == 404
    assert client.get(READ, params={"path": "/workspace/real.txt"}, headers=AUTH).content == b"real"


def test_the_agents_own_secret_is_not_reachable(client: httpx.Client, store: CredentialStore) -> None:
    for path in ("/configs/.platform_inbound_secret", "/.platform_inbound_secret", "/configs/../.auth_token"):
        response = client.get(READ, params={"path": path}, headers=AUTH)
        assert response.status_code in (400, 404)
        assert SECRET.encode() not in response.content


def test_a_symlinked_uploads_dir_is_not_written_through(
    client: httpx.Client, root: Path, uploads: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    uploads.parent.mkdir(parents=True)
    uploads.symlink_to(outside, target_is_directory=True)

    response = upload(client, ("a.txt", b"x"))

    assert response.status_code == 500
    assert list(outside.iterdir()) == []


# --- ingest ----------------------------------------------------------------------------------------


def test_upload_then_download_round_trips_byte_for_byte(client: httpx.Client, uploads: Path) -> None:
    binary = bytes(range(256)) * 1000 + b"\x00\r\n\xff"
    name = "résumé – ü 'v2'.bin"  # (httpx percent-encodes '"' in multipart names; see the escaping test)

    response = upload(client, (name, binary), ("notes.txt", b"hello"))

    assert response.status_code == 200, response.text
    files = response.json()["files"]
    assert files == [
        {
            "uri": f"{CHAT_UPLOADS_DIR}/{name}",
            "name": name,
            "mimeType": "application/octet-stream",
            "size": len(binary),
        },
        {"uri": f"{CHAT_UPLOADS_DIR}/notes.txt", "name": "notes.txt", "mimeType": "text/plain", "size": 5},
    ]
    assert (uploads / name).read_bytes() == binary

    download = client.get(READ, params={"path": files[0]["uri"]}, headers=AUTH)

    assert download.status_code == 200
    assert download.content == binary
    assert download.headers["content-length"] == str(len(binary))
    assert download.headers["content-type"] == "application/octet-stream"
    disposition = download.headers["content-disposition"]
    assert disposition == content_disposition(name)
    assert disposition.startswith("attachment; filename=\"resume _ u 'v2'.bin\"; ")
    assert disposition.endswith("filename*=UTF-8''" + quote(name, safe=""))

    text = client.get(READ, params={"path": files[1]["uri"]}, headers=AUTH)
    assert text.content == b"hello"
    assert text.headers["content-type"].startswith("text/plain")
    assert text.headers["content-disposition"] == "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"


def test_uploaded_files_are_private(client: httpx.Client, uploads: Path) -> None:
    upload(client, ("a.txt", b"x"))
    assert (uploads / "a.txt").stat().st_mode & 0o777 == 0o600
    assert uploads.stat().st_mode & 0o777 == 0o700


def test_a_request_without_files_is_400(client: httpx.Client, uploads: Path) -> None:
    cases = [
        client.post(INGEST, headers=AUTH),
        client.post(INGEST, data={"other": "x"}, files={"attachment": ("a.txt", b"x")}, headers=AUTH),
        client.post(INGEST, data={"files": "not a file"}, files={"other": ("a.txt", b"x")}, headers=AUTH),
        client.post(INGEST, json={"files": ["a"]}, headers=AUTH),
    ]
    for response in cases:
        assert response.status_code == 400
        assert response.json() == {"error": "no files"}
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_a_malformed_multipart_body_is_400(client: httpx.Client) -> None:
    response = client.post(
        INGEST, content=b"garbage", headers={**AUTH, "Content-Type": "multipart/form-data; boundary=zzz"}
    )
    assert response.status_code == 400
    assert "multipart" in response.json()["error"]


def test_a_file_over_the_limit_is_413_naming_it_and_nothing_is_stored(store: CredentialStore, uploads: Path) -> None:
    for client in small_limit_client(store, 1024):
        response = upload(client, ("small.txt", b"ok"), ("../big video.mp4", b"x" * 1025))

        assert response.status_code == 413
        assert response.json() == {"error": "file too large", "file": "big video.mp4"}
        assert not uploads.exists() or list(uploads.iterdir()) == []

        exactly = upload(client, ("edge.bin", b"x" * 1024))
        assert exactly.status_code == 200
        assert [p.name for p in uploads.iterdir()] == ["edge.bin"]


def test_the_default_limit_is_25_mib() -> None:
    assert FileSettings().max_upload_bytes == 25 * 1024 * 1024


def test_a_custom_files_root(store: CredentialStore, tmp_path: Path) -> None:
    custom = tmp_path / "agent-root"
    for client in _client(AgentState(name="a", credentials=store), FileSettings(root=custom)):
        assert upload(client, ("a.txt", b"custom")).status_code == 200
        assert (custom / "workspace/.molecule/chat-uploads/a.txt").read_bytes() == b"custom"
        read = client.get(READ, params={"path": f"{CHAT_UPLOADS_DIR}/a.txt"}, headers=AUTH)
        assert read.content == b"custom"


def test_hostile_upload_names_stay_inside_the_uploads_dir(client: httpx.Client, root: Path, uploads: Path) -> None:
    response = upload(
        client,
        ("../../../../etc/passwd", b"1"),
        ("..\\..\\windows\\system.ini", b"2"),
        (".bashrc", b"3"),
        ("..", b"4"),
        ("dir/", b"5"),
    )

    assert response.status_code == 200, response.text
    names = [f["name"] for f in response.json()["files"]]
    assert names == ["passwd", "system.ini", "bashrc", "upload", "upload-1"]
    assert sorted(p.name for p in uploads.iterdir()) == sorted(names)
    assert not (root / "etc").exists()
    for entry in response.json()["files"]:
        assert client.get(READ, params={"path": entry["uri"]}, headers=AUTH).status_code == 200


def test_colliding_names_get_a_suffix_and_nothing_is_overwritten(client: httpx.Client, uploads: Path) -> None:
    first = upload(client, ("report.pdf", b"one"), ("report.pdf", b"two"))
    second = upload(client, ("report.pdf", b"three"), ("README", b"r"), ("README", b"r2"))

    assert [f["name"] for f in first.json()["files"]] == ["report.pdf", "report-1.pdf"]
    assert [f["name"] for f in second.json()["files"]] == ["report-2.pdf", "README", "README-1"]
    assert (uploads / "report.pdf").read_bytes() == b"one"
    assert (uploads / "report-1.pdf").read_bytes() == b"two"
    assert (uploads / "report-2.pdf").read_bytes() == b"three"


def test_the_mime_type_comes_from_the_name_then_the_declared_type(client: httpx.Client) -> None:
    response = client.post(
        INGEST,
        files=[
            ("files", ("shot.png", b"\x89PNG", "application/octet-stream")),
            ("files", ("data", b"{}", "application/json")),
            ("files", ("blob", b"?", "not a mime type\r\nX: y")),
        ],
        headers=AUTH,
    )
    assert [f["mimeType"] for f in response.json()["files"]] == [
        "image/png",
        "application/json",
        "application/octet-stream",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("/absolute/path/x.txt", "x.txt"),
        ("C:\\Users\\me\\doc.docx", "doc.docx"),
        (".hidden", "hidden"),
        ("...dots.txt", "dots.txt"),
        (".", "upload"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("   ", "upload"),
        ("dir/", "upload"),
        ("a\x00b.txt", "ab.txt"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("\x1b[31mred.txt", "[31mred.txt"),
        ("\u202etxt.exe", "txt.exe"),  # right-to-left override removed
        ("e\u0301.txt", "\u00e9.txt"),  # NFC
        ("résumé – 2026.docx", "résumé – 2026.docx"),
        ("  spaced name.txt  ", "spaced name.txt"),
        ("100% done.txt", "100% done.txt"),
    ],
)
def test_sanitize_filename(raw: str | None, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_long_names_are_capped_keeping_the_extension() -> None:
    long_ascii = sanitize_filename("a" * 1000 + ".png")
    long_unicode = sanitize_filename("é" * 1000 + ".tar")
    no_extension = sanitize_filename("b" * 1000)

    for name in (long_ascii, long_unicode, no_extension):
        assert len(name.encode()) <= 200
    assert long_ascii.endswith(".png") and long_unicode.endswith(".tar")
    assert long_unicode.encode().decode() == long_unicode  # never cut inside a character


def test_content_disposition_escapes_both_forms() -> None:
    assert (
        content_disposition('a"b\\c.txt') == 'attachment; filename="a\\"b\\\\c.txt"; filename*=UTF-8\'\'a%22b%5Cc.txt'
    )
    assert content_disposition("日本.txt") == "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"
    assert content_disposition("a b;c.txt").endswith("filename*=UTF-8''a%20b%3Bc.txt")
