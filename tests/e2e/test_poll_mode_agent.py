"""SPEC §5.8 through the local stack: a poll-mode agent written with httpx only receives a message
in its inbox and its reply reaches the sender's activity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import LocalStackProcess

SCRIPT = Path(__file__).with_name("poll_agent_script.py")


def test_httpx_poll_agent_loop(local_stack: LocalStackProcess) -> None:
    base = local_stack.base_url
    laptop = httpx.post(f"{base}/workspaces", json={"name": "laptop", "external": True}).json()
    sender = httpx.post(f"{base}/workspaces", json={"name": "sender", "external": True}).json()
    agent = subprocess.Popen(
        [sys.executable, str(SCRIPT), base, laptop["id"], laptop["connection"]["auth_token"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # wait until the script is polling (it printed "probe 410"), then send it a message
        assert agent.stdout is not None
        lines = [agent.stdout.readline(), agent.stdout.readline()]
        assert lines == ["registered poll\n", "probe 410\n"], lines
        sent = httpx.post(
            f"{base}/workspaces/{laptop['id']}/a2a",
            headers={"Authorization": f"Bearer {sender['connection']['auth_token']}"},
            json={"method": "message/send", "params": {"message": {"content": "ping from sender"}}},
        )
        # Molecule's keys at the top level of a JSON-RPC answer (a submitted Task for standard clients)
        assert sent.json()["status"] == "queued" and sent.json()["delivery_mode"] == "poll"
        assert sent.json()["method"] == "message/send" and sent.json()["result"]["status"] == {"state": "submitted"}
        assert agent.wait(timeout=60) == 0, agent.stdout.read()
    finally:
        if agent.poll() is None:
            agent.kill()
    # the script exits only after its reply was accepted, so the reply is already recorded
    replies = httpx.get(
        f"{base}/workspaces/{sender['id']}/activity",
        params={"type": "a2a_receive"},
        headers={"Authorization": f"Bearer {sender['connection']['auth_token']}"},
    ).json()
    assert replies[0]["data"]["text"] == "echo: ping from sender"
    assert replies[0]["data"]["peer_id"] == laptop["id"]
    assert replies[0]["data"]["peer_name"] == "laptop"
