"""Issue 16's acceptance through the local stack as a process, with the reference agent in poll mode
(no inbound URL: the platform cannot call it) as a real process:

- the agent sends its user a 1 MiB file (`send-file`: a staged chat upload, then a notify that
  carries it) and the user downloads it byte for byte;
- a 20 MiB file goes up by presigned PUT and down by presigned GET through the local S3, byte for
  byte, both ways: the user's file to the agent (which fetches it from its inbox onto its disk) and
  the agent's file to the user;
- a workspace the access rule keeps apart gets 404 for both, through its own routes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REPO, AgentProcess, LocalStackProcess, wait_for
from tests.file_helpers import MIB, sha256_of, write_random


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(MIB):
            yield chunk


def create(base: str, name: str, parent_id: str | None = None) -> dict[str, Any]:
    body = {"name": name, "external": True, **({"parent_id": parent_id} if parent_id else {})}
    created = httpx.post(f"{base}/workspaces", json=body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def notes(base: str, workspace_id: str) -> list[dict[str, Any]]:
    rows = httpx.get(f"{base}/workspaces/{workspace_id}/activity").json()
    return [row for row in rows if row["method"] == "notify"]


def send_file(base: str, workspace_id: str, config_dir: Path, path: Path, message: str) -> dict[str, Any]:
    """The agent-side command, as its own process; the token is the running agent's stored one."""
    sent = subprocess.run(
        [sys.executable, "-m", "reference_agent", "send-file", str(path), "--message", message,
         "--platform-url", base, "--workspace-id", workspace_id, "--config-dir", str(config_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "WORKSPACE_", "AGENT_"))},
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    entry: dict[str, Any] = json.loads(sent.stdout)
    return entry


@pytest.fixture
def family(local_stack: LocalStackProcess) -> dict[str, dict[str, Any]]:
    """The agent's team (root-a ▸ laptop) and another team (root-b ▸ stranger): cousins."""
    base = local_stack.base_url
    root_a, root_b = create(base, "root-a"), create(base, "root-b")
    return {
        "laptop": create(base, "laptop", root_a["id"]),
        "stranger": create(base, "stranger", root_b["id"]),
    }


def test_a_poll_agent_and_its_user_exchange_files_through_the_platform_stage(
    local_stack: LocalStackProcess, family: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    base = local_stack.base_url
    laptop, stranger = family["laptop"], family["stranger"]
    stranger_auth = {"Authorization": f"Bearer {stranger['connection']['auth_token']}"}
    config_dir = tmp_path / "agent"
    agent = AgentProcess(
        "--platform-url", base, "--workspace-id", laptop["id"], f"--token={laptop['connection']['auth_token']}",
        "--config-dir", str(config_dir), "--mode", "poll", "--poll-interval", "0.2", "--heartbeat-interval", "2",
        log=tmp_path / "agent.log",
    )  # fmt: skip
    try:
        assert wait_for(lambda: httpx.get(f"{base}/workspaces/{laptop['id']}").json()["status"] == "online", 30)

        # 1 MiB, agent → user: a staged chat upload and a notify that carries it
        report = write_random(tmp_path / "report.bin", MIB)
        entry = send_file(base, laptop["id"], config_dir, report, "the report you asked for")
        assert entry["uri"].startswith("platform:/files/") and entry["size"] == MIB
        (note,) = notes(base, laptop["id"])
        assert note["response_body"]["parts"] == [{"kind": "file", "file": entry}]
        downloaded = httpx.get(f"{base}/workspaces/{laptop['id']}/chat/download", params={"path": entry["uri"]})
        assert downloaded.status_code == 200
        assert hashlib.sha256(downloaded.content).hexdigest() == sha256_of(report)

        # 20 MiB, user → agent: presigned PUT to the local S3, then a message that carries it
        dataset = write_random(tmp_path / "dataset.bin", 20 * MIB)
        granted = httpx.post(
            f"{base}/workspaces/{laptop['id']}/files/upload-url",
            json={"name": "dataset.bin", "size": 20 * MIB, "mimeType": "application/octet-stream"},
        )
        assert granted.status_code == 201, granted.text
        grant = granted.json()
        put = httpx.put(grant["upload_url"], content=file_chunks(dataset), headers=grant["upload_headers"], timeout=120)
        assert put.status_code == 200, put.text
        file_part = {"kind": "file", "file": {"uri": grant["uri"], "name": "dataset.bin"}}
        message = {"role": "user", "parts": [{"kind": "text", "text": "please analyse"}, file_part]}
        sent = httpx.post(
            f"{base}/workspaces/{laptop['id']}/a2a", json={"method": "message/send", "params": {"message": message}}
        )
        assert sent.json()["status"] == "queued"
        # the agent fetched it (platform 302 → presigned GET) onto its own disk, and said so
        assert wait_for(lambda: len(notes(base, laptop["id"])) == 2, 60), (tmp_path / "agent.log").read_text()[-3000:]
        reply = next(n for n in notes(base, laptop["id"]) if n["response_body"]["result"].startswith("echo:"))
        on_disk = config_dir / "files" / "workspace" / ".molecule" / "chat-uploads" / "dataset.bin"
        assert "/workspace/.molecule/chat-uploads/dataset.bin (20971520 bytes)" in reply["response_body"]["result"]
        assert sha256_of(on_disk) == sha256_of(dataset)

        # 20 MiB, agent → user: send-file takes the presigned PUT; the user follows the 302
        results = write_random(tmp_path / "results.bin", 20 * MIB)
        big = send_file(base, laptop["id"], config_dir, results, "results")
        file_id = big["uri"].removeprefix("platform:/files/").split("/")[0]
        redirect = httpx.get(f"{base}/workspaces/{laptop['id']}/files/{file_id}")
        assert redirect.status_code == 302
        assert redirect.headers["location"].startswith("http://127.0.0.1:")  # the local S3, reachable here
        fetched = tmp_path / "fetched.bin"
        with httpx.stream("GET", redirect.headers["location"], timeout=120) as response, fetched.open("wb") as sink:
            assert response.status_code == 200
            for chunk in response.iter_bytes(MIB):
                sink.write(chunk)
        assert sha256_of(fetched) == sha256_of(results)

        # another team's workspace: 404 through its own routes, for every one of these files
        for uri in (entry["uri"], grant["uri"], big["uri"]):
            file_id = uri.removeprefix("platform:/files/").split("/")[0]
            by_id = httpx.get(f"{base}/workspaces/{stranger['id']}/files/{file_id}", headers=stranger_auth)
            by_uri = httpx.get(
                f"{base}/workspaces/{stranger['id']}/chat/download", params={"path": uri}, headers=stranger_auth
            )
            assert (by_id.status_code, by_id.json()) == (404, {"error": "file not found"})
            assert (by_uri.status_code, by_uri.json()) == (404, {"error": "file not found"})
    finally:
        assert agent.stop() == 0
