"""Issue 7's acceptance through the local stack with a real reference agent: an upload reaches the
agent's disk byte for byte, the download returns the same bytes with the right headers, and the
agent refuses a wrong or missing inbound secret."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import AgentProcess, LocalStackProcess, wait_for


def test_upload_reaches_the_agents_disk_and_downloads_back_byte_for_byte(
    local_stack: LocalStackProcess, tmp_path: Path
) -> None:
    base = local_stack.base_url
    created = httpx.post(f"{base}/workspaces", json={"name": "files", "external": True}).json()
    config_dir = tmp_path / "agent"
    agent = AgentProcess(
        "--platform-url", base, "--workspace-id", created["id"], f"--token={created['connection']['auth_token']}",
        "--config-dir", str(config_dir), "--mode", "push", "--heartbeat-interval", "2",
        log=tmp_path / "agent.log",
    )  # fmt: skip
    try:
        assert wait_for(lambda: httpx.get(f"{base}/workspaces/{created['id']}").json()["status"] == "online", 30)
        content = bytes(range(256)) * 64 + "résumé ✓".encode()
        uploaded = httpx.post(
            f"{base}/workspaces/{created['id']}/chat/uploads",
            files={"files": ("Résumé 2026.pdf", content, "application/pdf")},
        )
        assert uploaded.status_code == 200, uploaded.text
        (entry,) = uploaded.json()["files"]
        assert entry["size"] == len(content) and entry["uri"].startswith("/workspace/.molecule/chat-uploads/")
        # the agent stored the exact bytes on its own disk
        on_disk = config_dir / "files" / entry["uri"].lstrip("/")
        assert on_disk.read_bytes() == content

        downloaded = httpx.get(f"{base}/workspaces/{created['id']}/chat/download", params={"path": entry["uri"]})
        assert downloaded.status_code == 200
        assert downloaded.content == content
        assert downloaded.headers["content-type"] == "application/pdf"
        assert downloaded.headers["content-length"] == str(len(content))
        disposition = downloaded.headers["content-disposition"]
        assert 'filename="' in disposition and "filename*=UTF-8''R%C3%A9sum%C3%A9%202026.pdf" in disposition

        missing = httpx.get(
            f"{base}/workspaces/{created['id']}/chat/download", params={"path": "/workspace/nothing-here.txt"}
        )
        assert missing.status_code == 404  # the agent's 404 passes through
        assert (
            httpx.get(f"{base}/workspaces/{created['id']}/chat/download", params={"path": "/etc/passwd"}).status_code
            == 400
        )

        # the agent itself refuses anyone without the platform's inbound secret
        agent_url = httpx.get(f"{base}/workspaces/{created['id']}").json()["url"].rstrip("/")
        for headers in ({}, {"Authorization": "Bearer not-the-secret"}):
            direct = httpx.get(f"{agent_url}/internal/file/read", params={"path": entry["uri"]}, headers=headers)
            assert direct.status_code == 401
    finally:
        assert agent.stop() == 0
