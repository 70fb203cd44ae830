"""The reference agent delegates (SPEC §5.10): `python -m reference_agent delegate TARGET TASK` asks
the platform, then follows the delegation to its result; a poll-mode agent's reply to a delegated
task carries the task's `delegation_id`, which is how the platform closes the delegation."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from molecule_core.delegations.models import DelegateAnswer, Delegation
from reference_agent import a2a
from reference_agent.cli import main
from reference_agent.platform import PlatformClient
from reference_agent.runtime import delegate_task

WORKSPACE, TARGET = uuid.uuid4(), uuid.uuid4()


def _delegation(status: str, result: str | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()), "type": "delegation", "delegation_id": "d-1", "source_id": str(WORKSPACE),
        "target_id": str(TARGET), "summary": "t", "status": status, "created_at": "2026-01-01T00:00:00Z",
        "task": "t", "result": result, "origin": "platform", "queue_id": None, "dispatched_at": None,
        "finished_at": None, "updated_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip


class FakePlatform:
    """Answers the delegate call, then the delegation's status as the platform would move it."""

    def __init__(self, *statuses: dict[str, Any]) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            return httpx.Response(202, json={"delegation_id": "d-1", "status": "delegated", "target_id": str(TARGET)})
        return httpx.Response(200, json=self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0])


def _run(fake: FakePlatform, wait: float) -> DelegateAnswer | Delegation:
    async def go() -> DelegateAnswer | Delegation:
        transport = httpx.MockTransport(fake)
        client = PlatformClient("http://platform.test", WORKSPACE, auth_token="tok", transport=transport)
        try:
            return await delegate_task(client, TARGET, "do the thing", wait_seconds=wait, poll_interval=0.01)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_delegate_sends_the_task_as_its_own_workspace_and_follows_it_to_the_result() -> None:
    fake = FakePlatform(_delegation("dispatched"), _delegation("completed", "echo: do the thing"))

    outcome = _run(fake, wait=5)

    assert isinstance(outcome, Delegation) and (outcome.status, outcome.result) == ("completed", "echo: do the thing")
    sent = fake.requests[0]
    assert sent.url.path == f"/workspaces/{WORKSPACE}/delegate" and sent.headers["authorization"] == "Bearer tok"
    assert json.loads(sent.content) == {"target_id": str(TARGET), "task": "do the thing"}
    assert {request.url.path for request in fake.requests[1:]} == {f"/workspaces/{WORKSPACE}/delegations/d-1"}


def test_delegate_without_waiting_answers_what_the_platform_said() -> None:
    fake = FakePlatform(_delegation("dispatched"))

    outcome = _run(fake, wait=0)

    assert outcome == DelegateAnswer(delegation_id="d-1", status="delegated", target_id=TARGET)
    assert len(fake.requests) == 1


def test_delegate_to_something_that_is_not_a_workspace_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["delegate", "not-a-uuid", "task", "--workspace-id", str(WORKSPACE), "--platform-url", "http://x.test"])

    assert exited.value.code == 2
    assert "target_id" in capsys.readouterr().err


def test_delegate_to_an_unreachable_platform_fails_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["delegate", str(TARGET), "task", "--workspace-id", str(WORKSPACE), "--platform-url", "http://127.0.0.1:9"]

    assert main([*argv, "--token=tok"]) == 1
    assert "delegate failed" in capsys.readouterr().err


def test_a_reply_to_a_delegated_task_carries_its_delegation_id() -> None:
    task = {"role": "user", "parts": [a2a.echo_message("x")["parts"][0]], "metadata": {"delegation_id": "d-9"}}

    reply = a2a.echo_request("x", "ctx", a2a.delegation_metadata(task))
    plain = a2a.echo_request("x", "ctx", a2a.delegation_metadata({"role": "user", "parts": []}))

    assert reply["params"]["message"]["metadata"] == {"delegation_id": "d-9"}
    assert "metadata" not in plain["params"]["message"]
