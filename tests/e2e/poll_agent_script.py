"""The poll-mode agent loop of SPEC §5.8, acted out with nothing but httpx — what the Python SDK,
the Claude Code channel plugin and `molecule connect` do: register without an inbound URL, probe
the cursor with the all-zero UUID (410 is the expected answer), read the inbox oldest first, and
reply to each sender through the proxy naming itself with X-Source-Workspace-Id.

usage: python poll_agent_script.py BASE_URL WORKSPACE_ID TOKEN [MESSAGES_TO_ANSWER]"""

from __future__ import annotations

import sys
import time
import uuid

import httpx

ZERO = "00000000-0000-0000-0000-000000000000"


def main(base: str, workspace_id: str, token: str, wanted: int = 1) -> int:
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    registered = client.post(
        "/registry/register", json={"id": workspace_id, "url": "remote://no-inbound", "agent_card": {"name": "script"}}
    )
    registered.raise_for_status()
    assert registered.json()["delivery_mode"] == "poll", registered.text
    print("registered", registered.json()["delivery_mode"], flush=True)

    probe = client.get(f"/workspaces/{workspace_id}/activity", params={"since_id": ZERO})
    assert probe.status_code == 410, probe.text
    print("probe 410", flush=True)

    newest = client.get(f"/workspaces/{workspace_id}/activity", params={"limit": 1}).json()
    cursor = newest[0]["id"] if newest else None
    answered = 0
    deadline = time.monotonic() + 60
    while answered < wanted and time.monotonic() < deadline:
        params = {"since_id": cursor, "type": "a2a_receive"} if cursor else {"since_secs": 3600, "type": "a2a_receive"}
        page = client.get(f"/workspaces/{workspace_id}/activity", params=params)
        if page.status_code == 410:  # cursor pruned: start again from the newest row
            cursor = None
            continue
        page.raise_for_status()
        for row in page.json():
            cursor = row["id"]
            sender = row["data"]["peer_id"]
            if row["method"] != "message/send" or not sender:
                continue
            reply = client.post(
                f"/workspaces/{sender}/a2a",
                headers={"X-Source-Workspace-Id": workspace_id},
                json={
                    "jsonrpc": "2.0",
                    "id": str(uuid.uuid4()),
                    "method": "message/send",
                    "params": {
                        "message": {
                            "role": "agent",
                            "parts": [{"kind": "text", "text": "echo: " + row["data"]["text"]}],
                        }
                    },
                },
            )
            reply.raise_for_status()
            answered += 1
            print("replied", reply.status_code, flush=True)
        client.post("/registry/heartbeat", json={"workspace_id": workspace_id}).raise_for_status()
        time.sleep(0.2)  # the agent's own poll interval
    return 0 if answered >= wanted else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1))
