"""Nothing is lost by stopping `make run` (issue 12 item 6): the local stack's SQS lives in memory,
so a stack killed with messages still queued — kill -9, no chance to clean up — publishes every
active a2a_queue row again when it starts, and each accepted message reaches its agent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.agents import scripted_agent
from tests.e2e.conftest import LocalStackProcess, stack_env, start_local_stack, wait_for

pytestmark = pytest.mark.e2e

MESSAGES = 20


def send(n: int) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": f"req-{n}",
        "method": "message/send",
        "params": {"message": {"role": "user", "messageId": f"m-{n:03d}", "parts": [{"kind": "text", "text": "hi"}]}},
    }


def test_messages_queued_when_the_stack_is_killed_are_delivered_after_it_starts_again(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with scripted_agent() as agent:
        # Given: a stack whose target agent refuses for now (503: messages wait, backing off)
        agent.mode, agent.status = "status", 503
        first = start_local_stack(database_url, tmp_path)
        try:
            client = httpx.Client(base_url=first.base_url, timeout=10)
            target = client.post("/workspaces", json={"name": "target", "external": True, "url": agent.url}).json()
            assert client.patch(f"/workspaces/{target['id']}", json={"delivery_mode": "push"}).status_code == 200
            accepted = [
                client.post(f"/workspaces/{target['id']}/a2a", json=send(n), headers={"Prefer": "respond-async"})
                for n in range(MESSAGES)
            ]
            assert [r.status_code for r in accepted] == [202] * MESSAGES
            assert wait_for(lambda: len(agent.received) >= 1, 30)  # the drain is at work
        finally:
            # When: the stack is killed (no shutdown at all), and the agent recovers
            first.process.kill()
            first.stop()
        refused = len(agent.received)
        agent.mode = "echo"

        second = LocalStackProcess(
            stack_env(DATABASE_URL=database_url, PROCESS_AGENTS_DIR=str(tmp_path / "agents")), tmp_path / "again.log"
        )
        try:
            # Then: every accepted message is delivered by the restarted stack
            def answered() -> Counter[str]:
                return Counter(r.json()["params"]["message"]["messageId"] for r in agent.received[refused:])

            assert wait_for(lambda: len(answered()) == MESSAGES, 90), f"{len(answered())} of {MESSAGES} delivered"
        finally:
            second.stop()
    delivered = answered()
    duplicated = sum(count - 1 for count in delivered.values())
    with capsys.disabled():
        print(f"\nrestart scenario: accepted {MESSAGES}, delivered {len(delivered)}, duplicated {duplicated}")
    assert sorted(delivered) == [f"m-{n:03d}" for n in range(MESSAGES)]
