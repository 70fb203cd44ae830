"""Issue 13's acceptance through the local stack (`make run` as a process, reference agents as
processes): an agent delegates through the platform to another agent and gets the result — a push
target answered by the A2A queue's drain, a poll target answering through the proxy — and a target
that is down when the delegation is made gets the task once it is back, and the delegation
completes once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REPO, AgentProcess, LocalStackProcess, free_port, wait_for


def _external(base: str, name: str) -> dict[str, Any]:
    created = httpx.post(f"{base}/workspaces", json={"name": name, "external": True}).json()
    return {**created, "token": created["connection"]["auth_token"]}


def _agent(base: str, workspace: dict[str, Any], tmp_path: Path, mode: str, *extra: str) -> AgentProcess:
    name = workspace["name"]
    return AgentProcess(
        "--platform-url", base, "--workspace-id", workspace["id"], f"--token={workspace['token']}",
        "--config-dir", str(tmp_path / name), "--mode", mode, "--heartbeat-interval", "1", "--poll-interval", "0.2",
        *extra, log=tmp_path / f"{name}.log",
    )  # fmt: skip


def _online(base: str, workspace: dict[str, Any]) -> bool:
    return httpx.get(f"{base}/workspaces/{workspace['id']}").json()["status"] == "online"


def _delegate_with_the_reference_agent(base: str, delegator: dict[str, Any], target_id: str, task: str, tmp_path: Path):
    """`python -m reference_agent delegate`, with the token the delegator's running agent keeps."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "WORKSPACE_", "AGENT_"))}
    return subprocess.run(
        [sys.executable, "-m", "reference_agent", "delegate", target_id, task, "--wait", "60",
         "--platform-url", base, "--workspace-id", delegator["id"], "--config-dir", str(tmp_path / delegator["name"])],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _events(base: str, workspace_id: str) -> list[str]:
    return [event["event_type"] for event in httpx.get(f"{base}/events/{workspace_id}").json()]


@pytest.mark.parametrize("mode", ["push", "poll"])
def test_an_agent_delegates_to_another_agent_and_gets_its_result(
    local_stack: LocalStackProcess, tmp_path: Path, mode: str
) -> None:
    """push: the A2A queue's drain delivers the task and reads the answer; poll: the task waits in
    the target's inbox and its agent answers through the proxy with the task's delegation_id."""
    base = local_stack.base_url
    delegator, target = _external(base, "delegator"), _external(base, f"{mode}-target")
    agents = [_agent(base, delegator, tmp_path, "push"), _agent(base, target, tmp_path, mode)]
    try:
        assert wait_for(lambda: _online(base, delegator) and _online(base, target), timeout=30)

        delegated = _delegate_with_the_reference_agent(base, delegator, target["id"], "summarise the logs", tmp_path)

        assert delegated.returncode == 0, delegated.stderr + agents[1].log.read_text()[-2000:]
        outcome = json.loads(delegated.stdout)
        assert (outcome["status"], outcome["result"]) == ("completed", "echo: summarise the logs")
        assert (outcome["source_id"], outcome["target_id"]) == (delegator["id"], target["id"])
        assert (outcome["queue_id"] is not None) == (mode == "push")  # the A2A queue, or the inbox
        listed = httpx.get(f"{base}/workspaces/{delegator['id']}/delegations").json()
        assert listed[0]["delegation_id"] == outcome["delegation_id"]
        assert listed[0]["response_preview"] == "echo: summarise the logs"
    finally:
        assert [agent.stop() for agent in agents] == [0, 0]


def test_a_target_down_when_delegated_gets_the_task_once_it_is_back(
    local_stack: LocalStackProcess, tmp_path: Path
) -> None:
    base = local_stack.base_url
    delegator, target = _external(base, "delegator"), _external(base, "flaky")
    port = free_port()
    first = _agent(base, target, tmp_path, "push", "--port", str(port))
    assert wait_for(lambda: _online(base, target), timeout=30)
    assert first.stop() == 0  # the agent is gone; its workspace still names its URL

    answer = httpx.post(
        f"{base}/workspaces/{delegator['id']}/delegate",
        json={"target_id": target["id"], "task": "when you are back", "idempotency_key": "k-back"},
        headers={"Authorization": f"Bearer {delegator['token']}"},
    )
    assert answer.status_code == 202, answer.text
    delegation_id = answer.json()["delegation_id"]
    path = f"{base}/workspaces/{delegator['id']}/delegations/{delegation_id}"

    def attempts() -> int:
        rows = httpx.get(f"{base}/workspaces/{target['id']}/a2a/queue").json()
        return sum(row["attempts"] for row in rows)

    assert wait_for(lambda: attempts() >= 1, timeout=30)  # the drain tried, and will try again
    assert httpx.get(path).json()["status"] == "dispatched"

    back = _agent(base, target, tmp_path, "push", "--port", str(port))
    try:
        assert wait_for(lambda: httpx.get(path).json()["status"] == "completed", timeout=120), back.log.read_text()
    finally:
        assert back.stop() == 0
    done = httpx.get(path).json()
    assert done["result"] == "echo: when you are back"
    received = httpx.get(f"{base}/workspaces/{target['id']}/activity?type=a2a_receive").json()
    assert [row["status"] for row in received] == ["ok"]  # delivered once
    assert _events(base, delegator["id"]).count("DELEGATION_COMPLETE") == 1
    again = httpx.post(
        f"{base}/workspaces/{delegator['id']}/delegate",
        json={"target_id": target["id"], "task": "when you are back", "idempotency_key": "k-back"},
        headers={"Authorization": f"Bearer {delegator['token']}"},
    )
    assert again.status_code == 200 and again.json()["status"] == "completed" and again.json()["idempotent_hit"]
