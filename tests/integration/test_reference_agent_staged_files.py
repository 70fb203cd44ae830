"""The reference agent's file client against the real platform (the functions behind the local HTTP
server, real PostgreSQL, moto S3): a small file goes up as a chat upload, a large one by presigned
PUT, both come back byte for byte (the large one through the redirect to S3), and a notify can
carry them."""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from molecule_core.files.models import FileEntry
from molecule_local.s3 import LocalS3
from molecule_local.template import default_template
from reference_agent.platform import CHAT_UPLOAD_MAX_BYTES, PlatformClient, PlatformError
from reference_agent.runtime import send_file

from tests.conftest import ADMIN
from tests.integration import test_reference_agent_platform as agent_platform

platform_url = agent_platform.platform_url  # the functions behind a local HTTP server (a fixture)


@pytest.fixture
def bucket(platform_url: str) -> Iterator[LocalS3]:
    s3 = LocalS3(default_template(), port=0, name_prefix=f"t{uuid.uuid4().hex[:8]}-")
    s3.start()
    yield s3
    s3.stop()


@pytest.fixture
def laptop(platform_url: str, bucket: LocalS3) -> tuple[uuid.UUID, str]:
    created = httpx.post(
        f"{platform_url}/workspaces",
        json={"name": "laptop", "external": True},
        headers={"Authorization": f"Bearer {ADMIN}"},
    ).json()
    return uuid.UUID(created["id"]), created["connection"]["auth_token"]


def round_trip(platform_url: str, workspace_id: uuid.UUID, token: str, path: Path) -> tuple[FileEntry, bytes]:
    async def go() -> tuple[FileEntry, bytes]:
        client = PlatformClient(platform_url, workspace_id, auth_token=token)
        try:
            entry = await client.upload_file(path)
            sink = io.BytesIO()
            size = await client.download_file(entry.uri, sink)
            assert size == entry.size
            return entry, sink.getvalue()
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("size", [1024, CHAT_UPLOAD_MAX_BYTES + 1], ids=["chat-upload", "presigned"])
def test_a_file_goes_up_and_comes_back_byte_for_byte(
    size: int, platform_url: str, laptop: tuple[uuid.UUID, str], tmp_path: Path
) -> None:
    path = tmp_path / "report.bin"
    path.write_bytes(os.urandom(size))

    entry, fetched = round_trip(platform_url, *laptop, path)

    assert entry.uri.startswith("platform:/files/") and entry.uri.endswith("/report.bin")
    assert (entry.name, entry.size, entry.mimeType) == ("report.bin", size, "application/octet-stream")
    assert fetched == path.read_bytes()


def test_send_file_stages_it_and_notifies_the_user_with_it_attached(
    platform_url: str, laptop: tuple[uuid.UUID, str], tmp_path: Path
) -> None:
    workspace_id, token = laptop
    path = tmp_path / "notes.txt"
    path.write_text("for you")

    entry = asyncio.run(send_file(platform_url, workspace_id, token, path, "see attached"))

    rows = httpx.get(
        f"{platform_url}/workspaces/{workspace_id}/activity", headers={"Authorization": f"Bearer {token}"}
    ).json()
    (note,) = [row for row in rows if row["method"] == "notify"]
    assert note["response_body"] == {
        "result": "see attached",
        "parts": [{"kind": "file", "file": entry.model_dump()}],
    }


def test_a_file_another_workspace_cannot_read_is_a_refusal_not_a_crash(
    platform_url: str, laptop: tuple[uuid.UUID, str], tmp_path: Path
) -> None:
    workspace_id, token = laptop

    async def go() -> None:
        client = PlatformClient(platform_url, workspace_id, auth_token=token)
        try:
            await client.download_file(f"platform:/files/{uuid.uuid4()}/x.bin", io.BytesIO())
        finally:
            await client.aclose()

    with pytest.raises(PlatformError) as refused:
        asyncio.run(go())
    assert refused.value.status_code == 404
