"""The `connection` block returned when an external workspace is created without a URL: what an
operator pastes to connect an agent from a laptop (curl, Python, Claude Code channel plugin)."""

from __future__ import annotations

import json
from uuid import UUID

from molecule_core.workspaces.models import ConnectionInfo


def build_connection_info(workspace_id: UUID, name: str, platform_url: str, auth_token: str) -> ConnectionInfo:
    base = platform_url.rstrip("/")
    register_body = json.dumps(
        {
            "id": str(workspace_id),
            "url": "remote://no-inbound",
            "delivery_mode": "poll",
            "agent_card": {"name": name},
        },
        separators=(",", ":"),
    )
    curl = (
        f"curl -sS -X POST {base}/registry/register \\\n"
        f"  -H 'Authorization: Bearer {auth_token}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d '{register_body}'"
    )
    python = f'''import time
import httpx

PLATFORM_URL = "{base}"
WORKSPACE_ID = "{workspace_id}"
AUTH_TOKEN = "{auth_token}"  # shown once: keep it somewhere safe

headers = {{"Authorization": f"Bearer {{AUTH_TOKEN}}"}}
with httpx.Client(base_url=PLATFORM_URL, headers=headers, timeout=10) as client:
    client.post("/registry/register", json={{
        "id": WORKSPACE_ID,
        "url": "remote://no-inbound",  # no inbound URL: messages wait in the inbox (poll mode)
        "delivery_mode": "poll",
        "agent_card": {{"name": {json.dumps(name)}}},
    }}).raise_for_status()
    while True:
        client.post("/registry/heartbeat", json={{"workspace_id": WORKSPACE_ID}}).raise_for_status()
        time.sleep(30)
'''
    # The plugin is a Claude Code plugin (an MCP server run with bun), installed from its
    # marketplace as its README says; it reads comma-separated lists, so one workspace is a list of one.
    channel = f"""# Claude Code channel plugin (Molecule-AI/molecule-mcp-claude-channel; needs bun on PATH).
# 1. Inside Claude Code, install it:
#      /plugin marketplace add Molecule-AI/molecule-mcp-claude-channel
#      /plugin install molecule-channel@molecule-mcp-claude-channel
# 2. Put these lines in ~/.claude/channels/molecule/.env (comma-separated lists: add more workspaces
#    in the same order), then run /reload-plugins:
MOLECULE_PLATFORM_URL={base}
MOLECULE_WORKSPACE_IDS={workspace_id}
MOLECULE_WORKSPACE_TOKENS={auth_token}
"""
    return ConnectionInfo(
        workspace_id=workspace_id,
        platform_url=base,
        auth_token=auth_token,
        registry_endpoint=f"{base}/registry/register",
        heartbeat_endpoint=f"{base}/registry/heartbeat",
        curl_register_template=curl,
        python_snippet=python,
        claude_code_channel_snippet=channel,
    )
