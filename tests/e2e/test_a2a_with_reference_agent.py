"""Issue 5's acceptance through the local stack: a user's message to a push-mode reference agent
comes back as its echo; a message to a poll-mode reference agent lands in its inbox and the agent's
reply reaches the sender's activity."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import AgentProcess, LocalStackProcess, wait_for


def _agent(base: str, created: dict, tmp_path: Path, mode: str, name: str) -> AgentProcess:
    return AgentProcess(
        "--platform-url", base, "--workspace-id", created["id"], f"--token={created['connection']['auth_token']}",
        "--config-dir", str(tmp_path / name), "--mode", mode, "--heartbeat-interval", "1", "--poll-interval", "0.2",
        log=tmp_path / f"{name}.log",
    )  # fmt: skip


def _state(base: str, workspace_id: str) -> dict:
    return httpx.get(f"{base}/workspaces/{workspace_id}").json()


def test_user_message_to_push_agent_returns_its_echo(local_stack: LocalStackProcess, tmp_path: Path) -> None:
    base = local_stack.base_url
    created = httpx.post(f"{base}/workspaces", json={"name": "pusher", "external": True}).json()
    agent = _agent(base, created, tmp_path, "push", "pusher")
    try:
        assert wait_for(lambda: _state(base, created["id"])["status"] == "online", timeout=30)
        assert _state(base, created["id"])["delivery_mode"] == "push"
        answer = httpx.post(
            f"{base}/workspaces/{created['id']}/a2a",
            json={"jsonrpc": "2.0", "id": "u1", "method": "message/send",
                  "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "hello agent"}]}}},
            timeout=30,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == "u1"
        assert answer.json()["result"]["parts"][0]["text"] == "echo: hello agent"
    finally:
        assert agent.stop() == 0

    def receipts() -> list[dict]:
        return httpx.get(f"{base}/workspaces/{created['id']}/activity", params={"type": "a2a_receive"}).json()

    assert wait_for(lambda: bool(receipts()), timeout=10)  # the receipt is written once the answer is out
    receipt = receipts()[0]
    assert (receipt["status"], receipt["data"]["source"], receipt["data"]["text"]) == (
        "ok",
        "canvas_user",
        "hello agent",
    )


def test_poll_agent_inbox_and_reply_to_the_sender(local_stack: LocalStackProcess, tmp_path: Path) -> None:
    base = local_stack.base_url
    laptop = httpx.post(f"{base}/workspaces", json={"name": "laptop", "external": True}).json()
    sender = httpx.post(f"{base}/workspaces", json={"name": "sender", "external": True}).json()
    agent = _agent(base, laptop, tmp_path, "poll", "laptop")
    try:
        assert wait_for(lambda: _state(base, laptop["id"])["status"] == "online", timeout=30)
        queued = httpx.post(
            f"{base}/workspaces/{laptop['id']}/a2a",
            headers={"Authorization": f"Bearer {sender['connection']['auth_token']}"},
            json={"method": "message/send", "params": {"message": {"content": "are you there?"}}},
        )
        # Molecule's keys at the top level of a JSON-RPC answer (a submitted Task for standard clients)
        assert queued.json()["status"] == "queued" and queued.json()["delivery_mode"] == "poll"
        assert queued.json()["method"] == "message/send" and queued.json()["result"]["status"] == {"state": "submitted"}

        def replied() -> list[dict]:
            return httpx.get(
                f"{base}/workspaces/{sender['id']}/activity",
                params={"type": "a2a_receive"},
                headers={"Authorization": f"Bearer {sender['connection']['auth_token']}"},
            ).json()

        assert wait_for(lambda: bool(replied()), timeout=30), agent.log.read_text()[-2000:]
        reply = replied()[0]
        assert reply["data"]["text"] == "echo: are you there?"
        assert reply["data"]["peer_id"] == laptop["id"]
    finally:
        assert agent.stop() == 0
